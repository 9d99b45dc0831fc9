"""The fuzz test's figures, printed after the run (pytest -q captures a test's prints)."""

from __future__ import annotations

import pytest

SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("fuzzing the web entry points")
        for line in SUMMARY:
            terminalreporter.write_line(line)
