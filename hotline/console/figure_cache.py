"""Slow figures kept off the request path: serve what was computed, refresh behind it.

The month's assessment scans every case of the month (150-250 ms at 100,000 cases on
PostgreSQL), while leaders may read figures a minute old. So a dashboard request takes
the figures from here: fresh ones as they are; ones older than `ttl` as they are too,
while one background refresh computes the next (stale-while-revalidate). Only a scope
never seen, or not seen for `max_age`, waits for its figures, and then they are computed
in a worker thread while the request reads its other, live figures, so the two overlap.

One computation per key at a time: viewers of the same scope arriving together share it.
A failed refresh is logged and the old figures stay; a failed first computation reaches
its request. Without background work (SQLite, whose transactions take the write lock
and would wait on each other) everything is computed in the caller's thread as before.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Kept(Generic[T]):
    value: T
    computed_at: float  # time.monotonic() when the computation started


class FigureCache(Generic[T]):
    """A bounded map of key -> figures, with at most one computation per key running."""

    def __init__(
        self,
        background: bool,
        max_age: float = 900.0,
        entries: int = 256,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kept: dict[Hashable, Kept[T]] = {}
        self._running: dict[Hashable, Future[Kept[T]]] = {}
        self._lock = threading.Lock()
        self._max_age = max_age
        self._entries = entries
        self._clock = clock
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="figures")
            if background
            else None
        )

    def get(self, key: Hashable, compute: Callable[[], T], ttl: float) -> Callable[[], Kept[T]]:
        """Start getting the figures for `key`; the returned callable gives them, waiting
        only if nothing usable was kept. `compute` must open its own unit of work: it may
        run in a worker thread, or (without background work) when the callable is called,
        which the caller does after closing its own. `ttl` 0 keeps nothing."""
        if ttl <= 0:
            return self._later(compute)
        with self._lock:
            kept = self._kept.get(key)
            age = self._clock() - kept.computed_at if kept is not None else math.inf
            if kept is not None and age < ttl:
                return lambda: kept
            if self._pool is not None:
                running = self._running.get(key)
                if running is None:
                    running = self._pool.submit(self._compute, key, compute)
                    self._running[key] = running
                if kept is not None and age < self._max_age:
                    return lambda: kept  # stale but recent: the refresh runs behind it
                return running.result
        return lambda: self._compute(key, compute)

    def _compute(self, key: Hashable, compute: Callable[[], T]) -> Kept[T]:
        started = self._clock()
        try:
            kept = Kept(compute(), started)
        except Exception:
            with self._lock:
                self._running.pop(key, None)
                stale = key in self._kept
            if stale:  # nobody waits for this refresh: say so here (a waiter gets the error)
                log.exception("computing figures for %r failed; the last ones are kept", key)
            raise
        with self._lock:
            self._running.pop(key, None)
            if len(self._kept) >= self._entries and key not in self._kept:
                self._kept.clear()
            self._kept[key] = kept
        return kept

    def _later(self, compute: Callable[[], T]) -> Callable[[], Kept[T]]:
        started = self._clock()
        if self._pool is None:
            return lambda: Kept(compute(), started)
        future = self._pool.submit(compute)
        return lambda: Kept(future.result(), started)

    def settle(self, timeout: float) -> None:
        """Wait until no computation runs (the refreshes started so far have ended)."""
        with self._lock:
            running = list(self._running.values())
        futures.wait(running, timeout=timeout)

    def shutdown(self) -> None:
        """Wait for running computations; used when an app is torn down (tests)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
