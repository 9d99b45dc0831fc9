"""`hotline metrics prune`, the start-up step of each unit in multiprocess mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from hotline.cli.main import main

pytestmark = pytest.mark.functional


def test_prune_removes_stopped_processes_files_and_keeps_running_ones(tmp_path: Path) -> None:
    stopped = tmp_path / "counter_4194400.db"  # past the kernel's largest pid: not running
    running = tmp_path / f"counter_{os.getppid()}.db"
    for file in (stopped, running):
        file.write_bytes(b"")
    result = CliRunner().invoke(
        main, ["metrics", "prune"], env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert "removed 1 file(s)" in result.output
    assert not stopped.exists()
    assert running.exists()


def test_prune_without_the_directory_says_so() -> None:
    result = CliRunner().invoke(main, ["metrics", "prune"], env={"PROMETHEUS_MULTIPROC_DIR": ""})
    assert result.exit_code == 1
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in result.output


def test_a_wrong_log_format_stops_any_command_clearly() -> None:
    result = CliRunner().invoke(main, ["metrics", "prune"], env={"HOTLINE_LOG_FORMAT": "xml"})
    assert result.exit_code == 1
    assert "HOTLINE_LOG_FORMAT must be text or json" in result.output
