"""`hotline models`: list, fetch, verify and locate the offline speech models."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hotline.speech import fetch as model_fetch
from hotline.speech import manifest as sm

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar


@dataclass(frozen=True)
class _Where:
    directory: Path
    manifest_path: Path

    def manifest(self) -> sm.Manifest:
        try:
            return sm.load_manifest(self.manifest_path)
        except sm.SpeechModelError as exc:
            raise click.ClickException(str(exc)) from exc

    def spec(self, name: str) -> sm.ModelSpec:
        try:
            return self.manifest().get(name)
        except sm.SpeechModelError as exc:
            raise click.ClickException(str(exc)) from exc


class _ProgressBar:
    """A click progress bar over the bytes of a download (a line when the size is unknown)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.received = 0
        self.total: int | None = None
        self._stack = ExitStack()
        self._bar: ProgressBar[int] | None = None

    def start(self, total: int | None) -> None:
        self.total = total
        if total:
            self._bar = self._stack.enter_context(
                click.progressbar(length=total, label=self.label, show_pos=False, show_eta=True)
            )

    def advance(self, count: int) -> None:
        self.received += count
        if self._bar is not None:
            self._bar.update(count)

    def finish(self) -> None:
        self._stack.close()
        if self.total is None and self.received:
            click.echo(f"{self.label}: {_megabytes(self.received)} received")


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


@click.group()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=sm.MODELS_DIR_ENV,
    default=sm.DEFAULT_MODELS_DIR,
    show_default="speech_models/downloads",
    help=f"Where downloaded models live (or set {sm.MODELS_DIR_ENV}).",
)
@click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=sm.MANIFEST_PATH,
    show_default="speech_models/manifest.yaml",
    help="The manifest of known models.",
)
@click.pass_context
def models(ctx: click.Context, directory: Path, manifest_path: Path) -> None:
    """Offline speech models (Vosk, PocketSphinx): list, fetch, verify, locate."""
    ctx.obj = _Where(directory, manifest_path)


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
@click.pass_obj
def models_list(where: _Where, as_json: bool) -> None:
    """Every model in the manifest (and unlisted vosk-model-* packages) and where it is."""
    manifest = where.manifest()
    rows = [(spec, sm.find_installed(spec, where.directory)) for spec in manifest.models]
    rows += [(found.spec, found) for found in sm.discover_packaged(manifest)]
    for spec, found in rows:
        if as_json:
            click.echo(json.dumps(_as_json(spec, found), ensure_ascii=False))
        else:
            click.echo(
                f"{spec.name:<28} {spec.language:<6} {spec.engine:<13}"
                f"{spec.sample_rate // 1000:>2} kHz  {spec.size or '-':>5}  "
                + _status(spec, found, where)
            )


def _status(spec: sm.ModelSpec, found: sm.InstalledModel | None, where: _Where) -> str:
    if found is None:
        return "not installed: " + sm.missing_message(spec, where.directory).split(": ", 1)[1]
    origin = "package" if found.origin == "package" else "installed"
    return f"{origin}: {found.path}"


def _as_json(spec: sm.ModelSpec, found: sm.InstalledModel | None) -> dict[str, object]:
    return {
        "name": spec.name,
        "language": spec.language,
        "engine": spec.engine,
        "sample_rate": spec.sample_rate,
        "url": spec.url,
        "sha256": spec.sha256,
        "size": spec.size,
        "size_bytes": spec.size_bytes,
        "installed": found is not None,
        "origin": found.origin if found else None,
        "path": str(found.path) if found else None,
    }


@models.command("fetch")
@click.argument("name")
@click.option("--sha256", help="Expected sha256 of the archive (overrides the manifest's).")
@click.option("--url", help="Download from here instead (a mirror, or a file:// copy).")
@click.option("--force", is_flag=True, help="Replace an installed copy.")
@click.pass_obj
def models_fetch(
    where: _Where, name: str, sha256: str | None, url: str | None, force: bool
) -> None:
    """Download NAME, check its checksum, unpack it and install it."""
    spec = where.spec(name)
    if not force and (found := sm.find_installed(spec, where.directory)) is not None:
        click.echo(f"{name} is already installed ({found.origin}): {found.path}")
        return
    click.echo(f"fetching {name} from {url or spec.url or '-'}")
    try:
        result = model_fetch.fetch_model(
            spec, where.directory, url=url, sha256=sha256, force=force, progress=_ProgressBar(name)
        )
    except sm.SpeechModelError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"sha256 {result.sha256} ({_megabytes(result.size_bytes)})")
    if result.expected_sha256 is None:
        click.echo(
            "no checksum was recorded for this model, so none was compared: once you trust "
            f"this copy, record `sha256: {result.sha256}` in {where.manifest_path}"
        )
    else:
        source = "--sha256" if sha256 else "the manifest"
        click.echo(f"checksum verified: it matches {source}")
    click.echo(f"installed {name} in {result.path}")


@models.command("verify")
@click.argument("names", nargs=-1)
@click.pass_obj
def models_verify(where: _Where, names: tuple[str, ...]) -> None:
    """Re-check installed models (all, or NAMES): files present, archive checksum kept."""
    installed = sm.installed_models(where.manifest(), where.directory)
    if names:
        installed = _named(where, installed, names)
    if not installed:
        click.echo("no speech model is installed: see `hotline models list`")
        return
    failed = 0
    for verification in map(model_fetch.verify_model, installed):
        model = verification.model
        click.echo(f"{'ok' if verification.ok else 'FAILED':<6} {model.spec.name}  {model.path}")
        click.echo(f"       {model_fetch.checksum_note(model)}")
        for problem in verification.problems:
            click.echo(f"       {problem}")
        failed += not verification.ok
    if failed:
        raise click.ClickException(f"{failed} model(s) failed verification")


def _named(
    where: _Where, installed: list[sm.InstalledModel], names: tuple[str, ...]
) -> list[sm.InstalledModel]:
    by_name = {model.spec.name: model for model in installed}
    for name in names:
        if name not in by_name:
            raise click.ClickException(sm.missing_message(where.spec(name), where.directory))
    return [by_name[name] for name in names]


@models.command("path")
@click.argument("name")
@click.pass_obj
def models_path(where: _Where, name: str) -> None:
    """Print the folder model NAME loads from (for scripts and engine configuration)."""
    try:
        click.echo(
            str(sm.resolve_model(name, manifest=where.manifest(), directory=where.directory))
        )
    except sm.SpeechModelError as exc:
        raise click.ClickException(str(exc)) from exc
