"""Job entry points. Module-level, take ids, re-read what they need, safe to run twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from hotline.exceptions import SmsRejected
from hotline.jobs import context
from hotline.jobs.queue import job_name
from ticketing.cases import closure
from ticketing.notices import outbox
from ticketing.sla import sweep as sla_sweep

log = logging.getLogger(__name__)


def send_sms(message_id: int) -> None:
    """Send one outbox message; raise on a provider error so rq records and retries it."""
    services = context.current()
    with services.uow() as uow:
        outgoing = outbox.claim_for_sending(uow, message_id, services.clock())
    if outgoing is None:
        log.info("SMS %s was already sent; nothing to do", message_id)
        return
    try:
        result = services.sms.send(outgoing.to, outgoing.body, outgoing.id)
    except SmsRejected as exc:
        # Retrying cannot help (invalid number, opted out): record it and stop here.
        with services.uow() as uow:
            outbox.mark_send_failed(uow, message_id, str(exc), services.clock(), permanent=True)
        log.warning("SMS %s rejected: %s", message_id, exc)
        return
    except Exception as exc:
        with services.uow() as uow:
            outbox.mark_send_failed(
                uow, message_id, f"{type(exc).__name__}: {exc}", services.clock(), permanent=False
            )
        raise  # rq retries with back-off and keeps the failure in its registry
    with services.uow() as uow:
        outbox.mark_sent(uow, message_id, result.provider_sid, result.status, services.clock())


SEND_SMS_JOB = job_name(send_sms)


def drain_outbox(older_than_seconds: int = 60) -> int:
    """Re-enqueue messages still waiting (their enqueue failed, Redis lost them, or their
    worker died mid-send); returns how many."""
    services = context.current()
    with services.uow() as uow:
        ids = outbox.messages_to_retry(uow, services.clock(), timedelta(seconds=older_than_seconds))
    for message_id in ids:
        services.jobs.enqueue("sms", SEND_SMS_JOB, message_id)
    return len(ids)


def sweep_sla(batch: int = 1000) -> int:
    """Fire every escalation that is due; returns how many rungs fired."""
    services = context.current()
    total = 0
    while True:
        with services.uow() as uow:
            taken, fired = sla_sweep.sweep_batch(uow, services.clock(), limit=batch)
        total += fired
        if taken < batch:  # the last batch was not full: nothing more is due
            return total


def auto_close_cases(batch: int = 500) -> int:
    """Close resolved cases their caller has not rated within HOTLINE_AUTO_CLOSE_DAYS
    days; returns how many."""
    services = context.current()
    days = services.settings.auto_close_days
    total = 0
    while True:
        with services.uow() as uow:
            closed = closure.auto_close(uow, services.clock(), timedelta(days=days), limit=batch)
        total += closed
        if closed < batch:
            return total


@dataclass(frozen=True)
class Tick:
    """What one tick did, for the scheduler's log and `hotline sweep`."""

    fired: int
    re_enqueued: int
    auto_closed: int

    def __str__(self) -> str:
        return (
            f"fired {self.fired} escalation(s), re-enqueued {self.re_enqueued} SMS, "
            f"auto-closed {self.auto_closed} case(s)"
        )


def tick() -> Tick:
    """The once-a-minute work: escalations, SMS left in the outbox, then resolved cases
    nobody rated (last, so a bad setting for it cannot hold up the first two)."""
    fired = sweep_sla()
    re_enqueued = drain_outbox()
    return Tick(fired, re_enqueued, auto_close_cases())
