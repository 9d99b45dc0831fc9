"""Who may read /metrics, and the bookkeeping of the multiprocess directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.metrics.exposition import (
    allowed,
    allowed_networks,
    forget_dead_live_gauges,
    prune,
)

pytestmark = pytest.mark.unit


def _dead_pid() -> int:
    """A process id no process can have: one past the kernel's largest."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    except OSError:
        return 2**22 + 1


def test_by_default_loopback_and_private_networks_may_read_and_nobody_else() -> None:
    networks = allowed_networks({})
    for inside in ("127.0.0.1", "::1", "10.2.3.4", "172.16.0.9", "192.168.1.20", "fd00::5"):
        assert allowed(inside, networks), inside
    assert allowed("::ffff:127.0.0.1", networks)  # IPv4 as a dual-stack socket reports it
    for outside in ("203.0.113.7", "8.8.8.8", "2001:db8::1", "172.32.0.1", "", None, "junk"):
        assert not allowed(outside, networks), outside


def test_the_allowed_networks_can_be_set_and_a_typo_is_an_error() -> None:
    networks = allowed_networks({"HOTLINE_METRICS_ALLOW": "203.0.113.0/24, 2001:db8::/32"})
    assert allowed("203.0.113.7", networks)
    assert allowed("2001:db8::1", networks)
    assert not allowed("127.0.0.1", networks)  # the list replaces the default
    with pytest.raises(ValueError, match="HOTLINE_METRICS_ALLOW"):
        allowed_networks({"HOTLINE_METRICS_ALLOW": "10.0.0.0/8,localhost"})


def _files(path: Path, pid: int) -> list[Path]:
    names = ["counter", "histogram", "gauge_livesum", "gauge_mostrecent"]
    made = [path / f"{name}_{pid}.db" for name in names]
    for file in made:
        file.write_bytes(b"")
    return made


def test_prune_deletes_the_files_of_stopped_processes_and_keeps_the_running_ones(
    tmp_path: Path,
) -> None:
    dead = _files(tmp_path, _dead_pid())
    alive = _files(tmp_path, os.getppid())  # pytest's parent: running, and not us
    own = _files(tmp_path, os.getpid())  # the pruning process records nothing itself
    assert prune(str(tmp_path)) == len(dead) + len(own)
    assert sorted(tmp_path.iterdir()) == sorted(alive)


def test_a_dead_processs_live_gauges_are_forgotten_its_counts_are_kept(tmp_path: Path) -> None:
    counter, histogram, live, most_recent = _files(tmp_path, _dead_pid())
    running = _files(tmp_path, os.getpid())
    forget_dead_live_gauges(str(tmp_path))
    assert not live.exists()
    assert all(file.exists() for file in (counter, histogram, most_recent))
    assert all(file.exists() for file in running)
