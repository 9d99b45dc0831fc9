"""`hotline flows`: check the call flows, and draw one."""

from __future__ import annotations

from pathlib import Path

import click

from hotline.settings import Settings
from hotline.voice.actions import FLOW_VOCABULARY
from hotline.voice.flows import FlowError, load_flow, mermaid


@click.group()
def flows() -> None:
    """The IVR's call flows (YAML files in HOTLINE_FLOWS_DIR)."""


def _directory(directory: Path | None) -> Path:
    return directory or Settings.from_env().flows_dir


@flows.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def check(directory: Path | None) -> None:
    """Validate every flow file; errors name the file and line."""
    failed = False
    for path in sorted(_directory(directory).glob("*.yaml")):
        try:
            flow = load_flow(path, FLOW_VOCABULARY)
        except FlowError as exc:
            failed = True
            click.echo(f"error: {exc}", err=True)
        else:
            click.echo(f"ok: {path.name} (flow {flow.name!r}, {len(flow.nodes)} nodes)")
    if failed:
        raise SystemExit(1)


@flows.command("graph")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path))
def graph(name: str, directory: Path | None) -> None:
    """Print a flow as a Mermaid diagram."""
    for path in sorted(_directory(directory).glob("*.yaml")):
        try:
            flow = load_flow(path, FLOW_VOCABULARY)
        except FlowError as exc:
            raise click.ClickException(str(exc)) from exc
        if flow.name == name:
            click.echo(mermaid(flow), nl=False)
            return
    raise click.ClickException(f"no flow named {name!r}")
