"""Fetching and verifying offline speech models: download, checksum, unpack, re-check.

Kept apart from the manifest and look-up (`hotline.speech.manifest`) because only
`hotline models fetch|verify` download or re-check anything, while every speech engine
looks models up. A fetch installs nothing unless the whole archive arrived, matches its
checksum, unpacks safely and holds the engine's required files; it leaves a receipt beside
the model so `verify` can tell later whether the files are still as fetched.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol

from hotline.speech.manifest import (
    RECEIPT_NAME,
    AlreadyInstalled,
    BadArchive,
    ChecksumMismatch,
    DownloadFailed,
    InstalledModel,
    ModelSpec,
    Receipt,
    SpeechModelError,
    checked_sha256,
    missing_files,
)

_CHUNK = 1 << 16


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
    expected = checked_sha256(sha256, "--sha256") if sha256 else spec.sha256
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
