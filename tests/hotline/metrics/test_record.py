"""What moves each series, called directly: the subscriber on domain events, and the
functions the edge and the scheduler call."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from hotline import metrics
from tests.factories import NOW
from ticketing.models.sms import SmsStatus
from ticketing.unit_of_work import CaseEvent, SmsQueued, SmsStatusChanged
from ticketing.vocabulary.events import Actor, EventKind

pytestmark = pytest.mark.unit


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _moves(name: str, change: Callable[[], object], **labels: str) -> float:
    before = _value(name, **labels)
    change()
    return _value(name, **labels) - before


def _event(kind: EventKind, **data: str) -> CaseEvent:
    return CaseEvent(
        kind=kind,
        actor=Actor.system(),
        case_id=1,
        case_number="2611270001",
        channel="sms",
        category="water_leak",
        at=NOW,
        data=dict(data),
    )


def test_a_created_case_counts_by_channel_and_category_and_as_an_event() -> None:
    created = _event(EventKind.CREATED)
    labels = {"channel": "sms", "category": "water_leak"}
    assert (
        _moves("hotline_cases_created_total", lambda: metrics.count_event(created), **labels) == 1
    )
    assert (
        _moves("hotline_case_events_total", lambda: metrics.count_event(created), kind="created")
        == 1
    )
    accepted = _event(EventKind.ACCEPTED)
    assert (
        _moves("hotline_cases_created_total", lambda: metrics.count_event(accepted), **labels) == 0
    )


def test_an_escalation_counts_by_its_clock_and_level() -> None:
    rung = _event(EventKind.ESCALATED, clock="resolve", level="street")
    assert (
        _moves(
            "hotline_escalations_total",
            lambda: metrics.count_event(rung),
            clock="resolve",
            level="street",
        )
        == 1
    )


def test_sms_count_by_the_status_they_enter() -> None:
    assert (
        _moves("hotline_sms_total", lambda: metrics.count_event(SmsQueued(7)), status="queued") == 1
    )
    delivered = SmsStatusChanged(7, SmsStatus.DELIVERED)
    assert (
        _moves("hotline_sms_total", lambda: metrics.count_event(delivered), status="delivered") == 1
    )


def test_a_call_counts_once_by_status_and_outcome_and_an_unknown_status_is_other() -> None:
    def ended() -> None:
        metrics.call_ended("no-answer", "no_case")

    assert _moves("hotline_calls_total", ended, status="no-answer", outcome="no_case") == 1

    def odd() -> None:
        metrics.call_ended("+8613812345678", "case")  # never a label value we did not expect

    assert _moves("hotline_calls_total", odd, status="other", outcome="case") == 1
    with pytest.raises(ValueError, match="outcome"):
        metrics.call_ended("completed", "lost")


def test_record_tick_sets_the_lag_and_counts_the_tick_its_time_and_what_it_fired() -> None:
    ticks = _value("hotline_sweep_ticks_total")
    fired = _value("hotline_sweep_fired_total")
    timed = _value("hotline_sweep_tick_duration_seconds_count")
    metrics.record_tick(lag_seconds=2.5, duration_seconds=0.4, fired=3)
    assert _value("hotline_sweep_ticks_total") == ticks + 1
    assert _value("hotline_sweep_fired_total") == fired + 3
    assert _value("hotline_sweep_tick_duration_seconds_count") == timed + 1
    assert _value("hotline_sweep_lag_seconds") == 2.5
    assert _value("hotline_sweep_last_tick_timestamp_seconds") > NOW.timestamp()
    metrics.record_tick(lag_seconds=-0.2, duration_seconds=0.1, fired=0)  # early: no lag
    assert _value("hotline_sweep_lag_seconds") == 0.0
    assert _value("hotline_sweep_fired_total") == fired + 3


def test_streams_count_when_they_start_and_the_gauge_follows_open_connections() -> None:
    assert _moves("hotline_media_streams_total", metrics.stream_started) == 1
    assert _moves("hotline_media_streams_active", lambda: metrics.streams_active(1)) == 1
    assert _moves("hotline_media_streams_active", lambda: metrics.streams_active(-1)) == -1
    assert (
        _moves(
            "hotline_media_streams_refused_total",
            lambda: metrics.stream_refused("full"),
            reason="full",
        )
        == 1
    )


def test_recognition_latency_is_a_histogram_by_source_and_language() -> None:
    def heard() -> None:
        metrics.recognised("stream", "en-US", 0.3)

    labels = {"source": "stream", "language": "en-US"}
    assert _moves("hotline_recognition_seconds_count", heard, **labels) == 1
    assert _moves("hotline_recognition_seconds_bucket", heard, le="0.5", **labels) == 1
    assert _moves("hotline_recognition_seconds_bucket", heard, le="0.25", **labels) == 0
