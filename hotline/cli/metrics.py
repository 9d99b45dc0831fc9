"""`hotline metrics prune`: clear the multiprocess metrics directory at start-up."""

from __future__ import annotations

import click

from hotline.metrics.exposition import MULTIPROC_ENV, multiprocess_dir, prune


@click.group()
def metrics() -> None:
    """The Prometheus metrics' files (multiprocess mode)."""


@metrics.command("prune")
def metrics_prune() -> None:
    """Delete the files of processes that no longer run from PROMETHEUS_MULTIPROC_DIR
    (a systemd ExecStartPre of each unit); those of running processes are kept."""
    path = multiprocess_dir()
    if not path:
        raise click.ClickException(f"{MULTIPROC_ENV} is not set: there is nothing to prune")
    click.echo(f"removed {prune(path)} file(s) of stopped processes from {path}")
