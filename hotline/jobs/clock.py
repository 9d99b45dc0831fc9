"""The minute clock: one tick a minute runs the SLA sweep and the outbox drain.

With Redis, every worker runs a ticker but a short Redis lock lets only one of them
enqueue each minute's tick, so adding workers adds no duplicate sweeps (and the sweep
itself is safe to run twice). Without Redis, the web process ticks on a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from hotline.jobs.queue import RqJobQueue
from hotline.jobs.tasks import TICK_JOB

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

TICK_LOCK = "hotline:tick"


def tick_once(services: Services, every: float = 60.0) -> bool:
    """Start this minute's tick unless another process already has; True if we did."""
    if isinstance(services.jobs, RqJobQueue):
        lock_seconds = max(1, int(every) - 5)
        if not services.jobs.redis.set(TICK_LOCK, "1", nx=True, ex=lock_seconds):
            return False
    services.jobs.enqueue("default", TICK_JOB)
    return True


def start_ticker(run: Callable[[], object], every: float = 60.0) -> threading.Event:
    """Call `run` every `every` seconds on a daemon thread; set the event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                run()
            except Exception:
                log.exception("the minute tick failed; trying again next minute")

    threading.Thread(target=loop, name="hotline-ticker", daemon=True).start()
    return stop
