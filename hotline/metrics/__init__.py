"""Prometheus metrics: the series (`series`), what moves them (`record`), the scrape-time
gauges (`collector`), `/metrics` (`views`, `exposition`). The only package that imports
prometheus_client; it hears the core through the after-commit subscriber `count_event`
that `bootstrap` adds, and the edge calls the functions below.
"""

from hotline.metrics.record import (
    call_ended,
    count_event,
    recognised,
    record_tick,
    stream_refused,
    stream_started,
    streams_active,
)

__all__ = [
    "call_ended",
    "count_event",
    "recognised",
    "record_tick",
    "stream_refused",
    "stream_started",
    "streams_active",
]
