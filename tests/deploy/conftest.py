"""What the deployment test checked, printed at the end of every run (CI's log included),
not only when it fails."""

from __future__ import annotations

import pytest

SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("the deployed processes")
        for line in SUMMARY:
            terminalreporter.write_line(line)
