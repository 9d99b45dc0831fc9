"""Turning the series into Prometheus' text format: this process's registry, or in
multiprocess mode every process's files; and who may read them.

Multiprocess mode (PROMETHEUS_MULTIPROC_DIR set in the environment before a process
starts): each process (gunicorn's workers, `hotline worker`, `hotline media-server` on the
host) writes its series to memory-mapped files in that directory, and a scrape of any
worker adds them up with prometheus_client's MultiProcessCollector. Files of processes that
are gone stay (their counts must not vanish), except a live gauge's (active streams),
which is dropped at each scrape once its process no longer runs.
"""

from __future__ import annotations

import glob
import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ALLOW_ENV = "HOTLINE_METRICS_ALLOW"
# Loopback and the private ranges: the Prometheus server sits inside the city's network.
DEFAULT_ALLOW = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def multiprocess_dir(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return env.get(MULTIPROC_ENV) or None


class _Together(Collector):
    """Several collectors as one, so a scrape never registers anything in a registry
    that outlives it (the default registry is process-wide)."""

    def __init__(self, parts: Iterable[Collector]) -> None:
        self._parts = tuple(parts)

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            yield from part.collect()


def scrape(*extra: Collector) -> bytes:
    """Every series in the text format: this process's (the default registry), or in
    multiprocess mode all of the host's processes'; then the `extra` collectors."""
    path = multiprocess_dir()
    if path:
        forget_dead_live_gauges(path)
        # A fresh registry each time: the files are the state, and registering the
        # collector in the default registry would export every series twice.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(_Together([registry, *extra]))
    return generate_latest(_Together([REGISTRY, *extra]))


def _pids(path: str, pattern: str) -> set[int]:
    found = set()
    for name in glob.glob(os.path.join(path, pattern)):
        tail = Path(name).stem.rsplit("_", 1)[-1]
        if tail.isdigit():
            found.add(int(tail))
    return found


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, but it runs
    return True


def forget_dead_live_gauges(path: str) -> None:
    """Drop the live gauges of processes that died without gunicorn's child_exit hook
    (a crashed media server would otherwise count its streams as open for ever)."""
    for pid in _pids(path, "gauge_live*_*.db"):
        if not _running(pid):
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]  # untyped upstream


def prune(path: str) -> int:
    """Delete the files of processes no longer running; returns how many. For start-up
    (gunicorn's on_starting, or a systemd ExecStartPre of each unit): the files of live
    processes are kept, so one unit restarting does not wipe another's counts. The
    calling process's own files go too: it is a start-up step and records nothing."""
    removed = 0
    for pid in _pids(path, "*.db"):
        if pid != os.getpid() and _running(pid):
            continue
        for name in glob.glob(os.path.join(path, f"*_{pid}.db")):
            os.remove(name)
            removed += 1
    return removed


def allowed_networks(env: Mapping[str, str] | None = None) -> tuple[Network, ...]:
    """HOTLINE_METRICS_ALLOW (comma-separated CIDRs; default loopback and private
    networks), checked at start-up so a typo is an error, not an open or shut door."""
    env = os.environ if env is None else env
    raw = env.get(ALLOW_ENV) or DEFAULT_ALLOW
    networks = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{ALLOW_ENV} must list networks like 10.0.0.0/8, not {part.strip()!r}"
            ) from None
    return tuple(networks)


def allowed(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether a client address falls in one of the networks (IPv4 mapped into IPv6 too)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)
