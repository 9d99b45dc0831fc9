"""The files calls and people leave (recordings, photos), in one directory every host mounts.

A photo uploaded through one host must open on the next, and a recording a worker fetched
must play on every host's console, so nothing of the kind is written to a host's own disk:
it goes to `HOTLINE_FILES_DIR` through a `FileStore` (embedded, the var/ folder itself, so
an installation's existing `attachments/` and `recordings/` stay where they were).

A key is a relative path of plain segments under one of `AREAS`
("attachments/2611280001/<sha256>.png", "recordings/cases/2611280001.wav"), checked on
every call: a key read from a row or a URL can never name a file elsewhere, not even the
secret key or the database that share the embedded var/ folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

AREAS = frozenset({"attachments", "recordings"})
_SEGMENT = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,99}\Z")
_MAX_DEPTH = 4


class BadKey(ValueError):
    """A key that is not one the store makes (an unknown area, `..`, a stray character)."""


def check_key(key: str) -> str:
    """The key, if it is one the store takes; BadKey otherwise."""
    parts = key.split("/")
    if not 2 <= len(parts) <= _MAX_DEPTH or parts[0] not in AREAS:
        raise BadKey(f"not a file store key: {key!r}")
    if not all(_SEGMENT.match(part) and ".." not in part for part in parts):
        raise BadKey(f"not a file store key: {key!r}")
    return key


class FileStore:
    """A directory of files by key. Writes are whole or nothing (written aside, then
    renamed), so a reader on any host never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """Where the key's file is on this host's mount (for `send_file`, which needs a
        path for ranges and lengths)."""
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def read(self, key: str) -> bytes:
        """The file's bytes; FileNotFoundError (an OSError) when it is not there."""
        return self.path(key).read_bytes()

    def put(self, key: str, data: bytes) -> None:
        """Write the file, replacing any earlier one of the key."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        """Remove the file if it is there, and the folders that leaves empty (never the
        area itself)."""
        path = self.path(key)
        path.unlink(missing_ok=True)
        area = self.root / key.split("/", 1)[0]
        folder = path.parent
        while folder != area:
            with contextlib.suppress(OSError):  # not empty: other files are kept there
                folder.rmdir()
            folder = folder.parent

    def key_of(self, path: Path) -> str | None:
        """The key of a file under the store's directory, or None for any other path
        (the simulator names its recordings by file URL, as Twilio names them by URL)."""
        try:
            relative = path.resolve().relative_to(self.root.resolve())
        except ValueError:
            return None
        try:
            return check_key(relative.as_posix())
        except BadKey:
            return None
