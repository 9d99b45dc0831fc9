"""What moves the series: the subscriber that hears the core's committed domain events,
and the few calls the edge makes where only it knows what happened (a call ended, a
stream opened, a recogniser answered, a tick ran)."""

from __future__ import annotations

import time

from hotline.metrics import series
from ticketing.unit_of_work import CaseEvent, DomainEvent, SmsQueued, SmsStatusChanged
from ticketing.vocabulary.events import EventKind

# Twilio's final CallStatus values; anything else is counted as "other", so a label never
# takes a value we did not expect.
CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_OUTCOMES = frozenset({"case", "case_on_hangup", "transferred", "no_case"})


def count_event(happened: DomainEvent) -> None:
    """The subscriber `bootstrap` adds: committed cases, case events, escalations, SMS."""
    if isinstance(happened, CaseEvent):
        series.CASE_EVENTS.labels(happened.kind.value).inc()
        if happened.kind is EventKind.CREATED:
            series.CASES_CREATED.labels(happened.channel, happened.category).inc()
        elif happened.kind is EventKind.ESCALATED:
            clock = str(happened.data.get("clock", "unknown"))
            level = str(happened.data.get("level", "unknown"))
            series.ESCALATIONS.labels(clock, level).inc()
    elif isinstance(happened, SmsQueued):
        series.SMS.labels("queued").inc()
    elif isinstance(happened, SmsStatusChanged):
        series.SMS.labels(happened.status.value).inc()


def call_ended(status: str, outcome: str) -> None:
    """A call's final status arrived (counted once a call, after its commit)."""
    if outcome not in CALL_OUTCOMES:
        raise ValueError(f"unknown call outcome {outcome!r}")
    series.CALLS.labels(status if status in CALL_STATUSES else "other", outcome).inc()


def observe_request(endpoint: str, status_code: int, seconds: float) -> None:
    series.REQUEST_SECONDS.labels(endpoint, f"{status_code // 100}xx").observe(seconds)


def stream_started() -> None:
    """A media stream began (its start message carried a good token)."""
    series.MEDIA_STREAMS.inc()


def stream_refused(reason: str) -> None:
    series.MEDIA_STREAMS_REFUSED.labels(reason).inc()


def streams_active(change: int) -> None:
    """A connection to the media server opened (+1) or closed (-1)."""
    series.MEDIA_STREAMS_ACTIVE.inc(change)


def recognised(source: str, language: str, seconds: float) -> None:
    """A recogniser answered: `stream` (the media server), `recording` (transcription)."""
    series.RECOGNITION_SECONDS.labels(source, language).observe(seconds)


def record_tick(lag_seconds: float, duration_seconds: float, fired: int) -> None:
    """A scheduler tick finished: how late it started, how long it took, how many
    escalation rungs it fired. The scheduler calls this once a tick."""
    series.SWEEP_TICKS.inc()
    series.SWEEP_LAG.set(max(0.0, lag_seconds))
    series.SWEEP_TICK_SECONDS.observe(duration_seconds)
    if fired:
        series.SWEEP_FIRED.inc(fired)
    series.SWEEP_LAST_TICK.set(time.time())
