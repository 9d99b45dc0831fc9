"""Photos people attach to cases: checked by their bytes, kept in the file store by content.

A photo is the store's `attachments/<case number>/<sha256>.<ext>` (`hotline.storage.files`,
the directory every host mounts); the row in `case_attachments` keeps the path relative to
the attachments area, so the store can move with the installation. The type is read from
the first bytes (JPEG, PNG, WebP), never from the name or the browser's word: a script
renamed `x.png` is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hotline.storage.files import FileStore

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PHOTOS = 3
_NUMBER = re.compile(r"[0-9A-Za-z-]{1,40}\Z")
_STORED = re.compile(r"[0-9A-Za-z-]{1,40}/[0-9a-f]{64}\.(jpg|png|webp)\Z")


class RejectedPhoto(ValueError):
    """A file that is not a photo we keep, with the reason to show the uploader."""


@dataclass(frozen=True)
class PhotoKind:
    extension: str
    content_type: str


JPEG = PhotoKind("jpg", "image/jpeg")
PNG = PhotoKind("png", "image/png")
WEBP = PhotoKind("webp", "image/webp")


def sniff(data: bytes) -> PhotoKind | None:
    """The photo format the bytes begin with, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def check_photo(name: str, data: bytes) -> PhotoKind:
    """The kind of an uploaded photo; raise RejectedPhoto saying why it is refused."""
    label = f"the file {name}" if name else "the file"
    if not data:
        raise RejectedPhoto(f"{label} is empty")
    if len(data) > MAX_PHOTO_BYTES:
        raise RejectedPhoto(f"{label} is over {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    kind = sniff(data)
    if kind is None:
        raise RejectedPhoto(f"{label} is not a JPEG, PNG or WebP photo")
    return kind


AREA = "attachments"


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    relative: str  # the path under the attachments area, as case_attachments keeps it
    created: bool  # False when the same bytes were already stored (by another note)


def store_photo(files: FileStore, case_number: str, data: bytes, kind: PhotoKind) -> StoredPhoto:
    """Write the bytes (once: same bytes, same file) and say where, and if this call
    wrote them."""
    if not _NUMBER.match(case_number):
        raise ValueError(f"not a case number: {case_number!r}")
    digest = hashlib.sha256(data).hexdigest()
    relative = f"{case_number}/{digest}.{kind.extension}"
    key = f"{AREA}/{relative}"
    if files.exists(key):
        return StoredPhoto(digest, relative, created=False)
    files.put(key, data)
    return StoredPhoto(digest, relative, created=True)


def discard(files: FileStore, stored: Sequence[StoredPhoto]) -> None:
    """Remove the files these calls of `store_photo` wrote (a note that was then refused),
    and the case's folder if that leaves it empty. Files that were there before are kept:
    another note's row points at them."""
    for photo in stored:
        if photo.created and _STORED.match(photo.relative):
            files.delete(f"{AREA}/{photo.relative}")


def stored_file(files: FileStore, relative: str) -> Path | None:
    """The file of a stored path, or None if the path is not one `store_photo` makes
    (so a changed row can never point outside the attachments area) or it is gone."""
    if not _STORED.match(relative):
        return None
    key = f"{AREA}/{relative}"
    return files.path(key) if files.exists(key) else None
