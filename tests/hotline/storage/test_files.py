"""The file store: keys that can name nothing outside it, whole writes, tidy deletes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.storage.files import BadKey, FileStore

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "key",
    [
        "secret_key",  # the embedded store is var/ itself: only its areas are reachable
        "hotline.sqlite3",
        "attachments",
        "elsewhere/x.png",
        "attachments/../secret_key",
        "attachments/C1/..",
        "attachments//x.png",
        "attachments/.hidden",
        "/etc/passwd",
        "attachments/C1/a b.png",
        "recordings/a/b/c/d.wav",
    ],
)
def test_a_key_outside_the_stores_areas_is_refused(tmp_path: Path, key: str) -> None:
    files = FileStore(tmp_path)
    with pytest.raises(BadKey):
        files.path(key)
    with pytest.raises(BadKey):
        files.put(key, b"x")


def test_put_read_exists_and_delete_with_its_empty_folders(tmp_path: Path) -> None:
    files = FileStore(tmp_path)
    key = "attachments/2611280001/" + "a" * 64 + ".png"
    assert not files.exists(key)
    files.put(key, b"first")
    files.put(key, b"second")  # replaces, whole
    assert files.read(key) == b"second"
    assert files.path(key) == tmp_path / key
    assert [p.name for p in (tmp_path / "attachments" / "2611280001").iterdir()] == [key[-68:]]
    files.delete(key)
    files.delete(key)  # twice is fine
    assert not (tmp_path / "attachments" / "2611280001").exists()
    assert (tmp_path / "attachments").is_dir()


def test_a_path_has_a_key_only_inside_the_store(tmp_path: Path) -> None:
    files = FileStore(tmp_path / "store")
    assert files.key_of(tmp_path / "store" / "recordings" / "RE1.wav") == "recordings/RE1.wav"
    assert files.key_of(tmp_path / "store" / "recordings" / ".." / "secret_key") is None
    assert files.key_of(tmp_path / "elsewhere.wav") is None
