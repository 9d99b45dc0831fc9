"""Bad input at the edge: forged, malformed and retried webhooks, and strangers' SMS."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.simulator.caller import FlaskTransport, Simulator
from tests.conftest import TEST_TOKEN, count
from tests.factories import CALLER, report_by_phone
from ticketing.models.cases import Ticket
from ticketing.models.sms import SmsMessage, SmsStatus
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional

BASE = {"CallSid": "CA" + "a" * 32, "From": CALLER, "To": "+8637112345", "AccountSid": "AC1"}


def test_unsigned_and_forged_webhooks_get_403_and_store_nothing(
    app: Flask, services: Services
) -> None:
    client = app.test_client()
    unsigned = client.post("/twilio/voice/incoming", data=BASE)
    forged = client.post(
        "/twilio/voice/incoming", data=BASE, headers={"X-Twilio-Signature": "bm90IGEgc2ln"}
    )
    sms = client.post(
        "/twilio/sms/incoming",
        data={"MessageSid": "SM1", "From": CALLER, "To": "+1", "Body": "A 1"},
        headers={"X-Twilio-Signature": "bm90IGEgc2ln"},
    )
    assert (unsigned.status_code, forged.status_code, sms.status_code) == (403, 403, 403)
    assert "X-Twilio-Signature" in forged.get_json()["error"]
    with services.uow() as uow:
        assert count(uow.session, "calls") == 0
        assert count(uow.session, "webhook_replies") == 0
        assert count(uow.session, "sms_messages") == 0


def test_signature_over_another_url_is_refused(app: Flask) -> None:
    """Signed for a different host than PUBLIC_BASE_URL: a replay from elsewhere."""
    other = Simulator(FlaskTransport(app), "https://evil.example.com", TEST_TOKEN)
    answer = other.send("POST", "/twilio/voice/incoming", BASE)
    assert answer.status == 403


def test_missing_field_gets_400_with_the_reason(simulator: Simulator) -> None:
    answer = simulator.send("POST", "/twilio/voice/incoming", {"CallSid": "CA1"})
    assert answer.status == 400
    assert "missing field From" in answer.body
    answer = simulator.send("POST", "/twilio/sms/status", {"MessageSid": "SM1"})
    assert (answer.status, "missing field MessageStatus" in answer.body) == (400, True)


def test_retried_webhooks_answer_the_same_and_create_one_case(
    simulator: Simulator, services: Services
) -> None:
    first = simulator.post("/twilio/voice/incoming", BASE).body
    assert simulator.post("/twilio/voice/incoming", BASE).body == first
    for step, digits in [(2, "2"), (3, "1"), (4, "1"), (5, "1"), (6, "1101")]:
        simulator.post(f"/twilio/voice/step/{step}", {**BASE, "Digits": digits})
    recording = {**BASE, "RecordingUrl": "file:///r.wav", "RecordingSid": "RE1"}
    created = simulator.post("/twilio/voice/step/7", recording).body
    again = simulator.post("/twilio/voice/step/7", recording).body
    assert again == created
    with services.uow() as uow:
        assert count(uow.session, "tickets") == 1
        # assignment + caller receipt, once each
        assert count(uow.session, "sms_messages") == 2


def test_steps_out_of_order_and_unknown_calls_are_refused(simulator: Simulator) -> None:
    answer = simulator.send("POST", "/twilio/voice/step/3", BASE)
    assert (answer.status, "no call" in answer.body) == (404, True)
    simulator.post("/twilio/voice/incoming", BASE)
    answer = simulator.send("POST", "/twilio/voice/step/5", BASE)
    assert answer.status == 400
    assert "out of order" in answer.body


def test_sms_from_a_stranger_is_refused_politely_and_logged(
    simulator: Simulator, services: Services
) -> None:
    number, _ = report_by_phone(simulator)
    reply = simulator.sms("+8613700000000", f"A {number}")
    assert "not registered" in reply or "未登记" in reply
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.status is TicketStatus.ASSIGNED
        inbound = uow.session.scalars(
            select(SmsMessage).where(SmsMessage.status == SmsStatus.RECEIVED)
        ).one()
        assert inbound.purpose == "command:not_registered"


def test_another_members_case_is_refused_with_an_event(
    simulator: Simulator, services: Services
) -> None:
    number, _ = report_by_phone(simulator)
    reply = simulator.sms("+8613903710002", f"D {number} done")  # grid 1102's member
    assert number in reply
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.status is TicketStatus.ASSIGNED
        assert ticket.events[-1].kind == "refused_command"


def test_unknown_text_help_and_wrong_state_change_nothing(
    simulator: Simulator, services: Services
) -> None:
    number, member = report_by_phone(simulator)
    assert "Reply ?" in simulator.sms(member, "hello there")
    assert "Reply A <case>" in simulator.sms(member, "?")
    assert "cannot do that now" in simulator.sms(member, f"D {number} skipped accepting")
    assert "No case 999" in simulator.sms(member, "A 999")
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.status is TicketStatus.ASSIGNED


def test_return_sends_the_case_back_to_triage(simulator: Simulator, services: Services) -> None:
    number, member = report_by_phone(simulator)
    assert "returned" in simulator.sms(member, f"R {number} this is grid 1102")
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.status is TicketStatus.RETURNED
        assert ticket.needs_triage
        assert ticket.assignee_id is None
        assert ticket.events[-1].note == "this is grid 1102"


def test_a_retried_sms_is_applied_once(simulator: Simulator, services: Services) -> None:
    number, member = report_by_phone(simulator)
    params = {"MessageSid": "SM" + "b" * 32, "From": member, "To": "+8637112345"}
    first = simulator.post("/twilio/sms/incoming", {**params, "Body": f"A {number}"}).body
    again = simulator.post("/twilio/sms/incoming", {**params, "Body": f"A {number}"}).body
    assert first == again
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert [e.kind for e in ticket.events].count("accepted") == 1


def test_recording_callback_before_and_after_the_case(
    simulator: Simulator, services: Services
) -> None:
    simulator.post("/twilio/voice/incoming", BASE)
    for step, digits in [(2, "2"), (3, "1"), (4, "1"), (5, "1"), (6, "1101")]:
        simulator.post(f"/twilio/voice/step/{step}", {**BASE, "Digits": digits})
    status = {**BASE, "RecordingSid": "RE9", "RecordingUrl": "https://x/RE9"}
    # Twilio may report the finished recording before the <Record> action arrives.
    simulator.post("/twilio/voice/recording-status", {**status, "RecordingStatus": "completed"})
    simulator.post("/twilio/voice/step/7", BASE)  # the action came without the recording
    simulator.post("/twilio/voice/recording-status", {**status, "RecordingStatus": "completed"})
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket)).one()
        assert (ticket.recording_sid, ticket.recording_url) == ("RE9", "https://x/RE9")
        assert [e.kind for e in ticket.events].count("recording") == 1
