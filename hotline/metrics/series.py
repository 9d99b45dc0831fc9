"""Every series the hotline exports, in one table: name, help, labels, buckets, and how a
gauge adds up across processes in multiprocess mode.

Labels stay few and bounded (statuses, categories, route names, ladder levels): never a
phone number, a CallSid or a case number, which would be personal data and one series
each. prometheus_client adds `_total` to a counter's name when it exposes it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Twilio waits 15 s for a webhook; a step that waits for the media server takes ~1.5 s.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 15.0)
# A streamed answer is published ~0.1-1 s after the caller stops; a recording takes longer.
RECOGNITION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0)
TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

CALLS = Counter(
    "hotline_calls",
    "Calls that ended, by Twilio's final CallStatus and what the call came to",
    ["status", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "hotline_http_request_duration_seconds",
    "Time to answer an HTTP request (webhooks, console, API), by Flask endpoint and status class",
    ["endpoint", "status"],
    buckets=REQUEST_BUCKETS,
)
CASES_CREATED = Counter(
    "hotline_cases_created",
    "Cases registered, by channel (the case's source) and category code",
    ["channel", "category"],
)
CASE_EVENTS = Counter(
    "hotline_case_events", "Events recorded in cases' histories, by kind", ["kind"]
)
ESCALATIONS = Counter(
    "hotline_escalations",
    "Escalation rungs fired, by deadline clock (accept, resolve) and ladder level",
    ["clock", "level"],
)
SMS = Counter(
    "hotline_sms",
    "Outgoing SMS entering each delivery status (queued also counts a message put back "
    "in the queue after a failed attempt)",
    ["status"],
)
MEDIA_STREAMS = Counter("hotline_media_streams", "Media streams started (a call's audio)")
MEDIA_STREAMS_REFUSED = Counter(
    "hotline_media_streams_refused",
    "Media streams refused, by reason (full, shutting_down, signature, token)",
    ["reason"],
)
MEDIA_STREAMS_ACTIVE = Gauge(
    "hotline_media_streams_active",
    "Media streams open now",
    multiprocess_mode="livesum",
)
RECOGNITION_SECONDS = Histogram(
    "hotline_recognition_seconds",
    "Speech recognition latency: a streamed answer from the end of speech to its result "
    "(source stream), a recorded description's whole transcription (source recording)",
    ["source", "language"],
    buckets=RECOGNITION_BUCKETS,
)
SWEEP_TICKS = Counter("hotline_sweep_ticks", "Scheduler ticks run (SLA sweep, outbox drain, ...)")
SWEEP_FIRED = Counter("hotline_sweep_fired", "Escalation rungs the scheduler's ticks fired")
SWEEP_LAG = Gauge(
    "hotline_sweep_lag_seconds",
    "How late the latest tick started after it was due",
    multiprocess_mode="mostrecent",
)
SWEEP_TICK_SECONDS = Histogram(
    "hotline_sweep_tick_duration_seconds", "Time a scheduler tick took", buckets=TICK_BUCKETS
)
SWEEP_LAST_TICK = Gauge(
    "hotline_sweep_last_tick_timestamp_seconds",
    "Unix time the latest tick finished (alert when it falls behind)",
    multiprocess_mode="max",
)
