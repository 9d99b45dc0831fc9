"""Gauges read when Prometheus scrapes: the outbox's backlog and the job queues' depths.

They describe shared state (a table, Redis lists), not what one process did, so they are
read fresh at each scrape by whichever process answers it, instead of being kept in every
process and summed. A store that cannot be read leaves its gauges out of that scrape (and
says so in the log) rather than failing the whole scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue

from ticketing.notices import outbox

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)


class StateCollector(Collector):
    """The scrape-time gauges of one app's services."""

    def __init__(self, services: Services, queues: Mapping[str, Queue]) -> None:
        self._services = services
        self._queues_by_name = dict(queues)  # empty embedded: jobs run in-process

    def collect(self) -> Iterator[Metric]:
        yield from self._outbox()
        yield from self._queues()

    def _outbox(self) -> Iterator[Metric]:
        try:
            with self._services.uow() as uow:
                found = outbox.backlog(uow)
        except Exception:
            log.warning("metrics: the outbox backlog could not be read", exc_info=True)
            return
        backlog = GaugeMetricFamily(
            "hotline_outbox_backlog",
            "Outgoing SMS waiting in the outbox (queued) or being sent (sending)",
            labels=["status"],
        )
        backlog.add_metric(["queued"], found.queued)
        backlog.add_metric(["sending"], found.sending)
        yield backlog
        oldest = found.oldest_queued_at
        age = (self._services.clock() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "hotline_outbox_oldest_queued_seconds",
            "Age of the oldest queued SMS (0 when none waits)",
            value=max(0.0, age),
        )

    def _queues(self) -> Iterator[Metric]:
        if not self._queues_by_name:
            return
        depth = GaugeMetricFamily(
            "hotline_queue_depth", "Jobs waiting in each rq queue", labels=["queue"]
        )
        failed = GaugeMetricFamily(
            "hotline_queue_failed_jobs", "Jobs in each rq queue's failed registry", labels=["queue"]
        )
        try:
            for name, queue in self._queues_by_name.items():
                depth.add_metric([name], queue.count)
                # No cleanup: a scrape only reads.
                failed.add_metric([name], queue.failed_job_registry.get_job_count(cleanup=False))
        except Exception:
            log.warning("metrics: the job queues could not be read", exc_info=True)
            return
        yield depth
        yield failed
