"""deploy/ and the README describe the same processes: what a city installs is what the
deployment test starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hotline.jobs.queue import QUEUE_NAMES

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def procfile() -> dict[str, str]:
    """The Procfile's processes by name (comments and blank lines skipped)."""
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def _plain(command: str) -> str:
    """A command without the venv path and with ${VAR:-default} as its default."""
    command = command.replace("/opt/hotline/.venv/bin/", "")
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", command)


def _exec_start(unit: str) -> str:
    text = (DEPLOY / "systemd" / unit).read_text()
    found = re.search(r"^ExecStart=(.+)$", text, re.MULTILINE)
    assert found, unit
    return _plain(found.group(1))


def test_every_queue_has_its_own_worker_and_sms_is_alone() -> None:
    workers = {
        name: command.split()[2:]
        for name, command in procfile().items()
        if command.startswith("hotline worker")
    }
    assert sorted(queue for queues in workers.values() for queue in queues) == sorted(QUEUE_NAMES)
    assert workers["sms"] == ["sms"]


def test_the_systemd_units_run_the_procfile_commands() -> None:
    processes = procfile()
    assert _exec_start("hotline-web.service") == _plain(processes["web"])
    assert _exec_start("hotline-media.service") == _plain(processes["media"])
    assert _exec_start("hotline-sms@.service") == _plain(processes["sms"])
    assert _exec_start("hotline-scheduler.service") == _plain(processes["scheduler"])
    template = _exec_start("hotline-worker@.service")
    for queue in ("speech", "default"):
        assert template.replace("%i", queue) == processes[queue]
    target = (DEPLOY / "systemd" / "hotline.target").read_text()
    for unit in ("web", "media", "sms@1", "worker@speech", "worker@default", "scheduler"):
        assert f"hotline-{unit}.service" in target


def test_the_readme_process_table_is_the_procfile() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Processes") : readme.index("Migrations:")]
    rows = dict(re.findall(r"^\| (\w+) \| `([^`]+)` \|", section, re.MULTILINE))
    assert {name: _plain(command) for name, command in procfile().items()} == rows
