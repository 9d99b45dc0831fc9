"""The whole loop through the webhooks: a call becomes a case that a member closes by SMS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.jobs.queue import RqJobQueue
from hotline.simulator.caller import Simulator
from tests.conftest import AUDIO
from tests.factories import CALLER, EN_GAS_SMELL_IN_1101, EN_STREET_LIGHT_IN_1101, grid_member
from ticketing.models.cases import Ticket
from ticketing.models.people import Staff
from ticketing.models.sms import SmsDirection, SmsMessage, SmsStatus
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional


def _outbox(uow: UnitOfWork, to: str) -> list[SmsMessage]:
    return list(
        uow.session.scalars(
            select(SmsMessage)
            .where(SmsMessage.direction == SmsDirection.OUTBOUND, SmsMessage.to_number == to)
            .order_by(SmsMessage.id)
        )
    )


def test_a_call_becomes_a_case_that_the_member_closes_by_sms(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int]
) -> None:
    result = simulator.call(CALLER, EN_STREET_LIGHT_IN_1101, AUDIO / "street_light_en.wav")
    case = result.as_json()
    # On Redis the two SMS and the transcription wait for the worker; in-process they ran.
    assert run_jobs() == (3 if isinstance(services.jobs, RqJobQueue) else 0)
    with services.uow() as uow:
        phone = grid_member(uow.session).phone
        assert case["category"] == "street_light"
        assert case["grid"] == "1101"
        assert case["assignee_phone"] == phone
        assert case["status"] == "assigned"
        spoken = " ".join(case["case_number"])
        assert any(spoken in said for said in result.heard), "the number is read digit by digit"
        assignment = _outbox(uow, phone)
        assert [m.purpose for m in assignment] == ["assignment"]
        assert case["case_number"] in assignment[0].body
        assert assignment[0].status is SmsStatus.LOGGED  # no Twilio configured: the log
        receipt = _outbox(uow, CALLER)
        assert [m.purpose for m in receipt] == ["caller_receipt"]
        ticket = uow.session.scalars(
            select(Ticket).where(Ticket.number == case["case_number"])
        ).one()
        assert ticket.recording_sid is not None
        assert ticket.recording_status == "completed"

    number = case["case_number"]
    assert "accepted" in simulator.sms(phone, f"A {number}")
    assert "resolved" in simulator.sms(phone, f"D {number} bulb replaced")
    run_jobs()
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        assert ticket.status is TicketStatus.RESOLVED
        assert [e.kind for e in ticket.events] == [
            "created",
            "assigned",
            "recording",
            "transcribed",
            "accepted",
            "resolved",
        ]
        done = _outbox(uow, CALLER)[-1]
        assert done.purpose == "caller_done"
        assert "bulb replaced" in done.body


def test_chinese_caller_hears_chinese_and_member_gets_chinese_sms(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int]
) -> None:
    case = simulator.call(CALLER, ["1", "1", "2", "1", "1207#"]).as_json()
    run_jobs()
    assert case["category"] == "garbage"
    assert case["grid"] == "1207"
    assert "工单号是" in " ".join(case["heard"])
    with services.uow() as uow:
        sms = _outbox(uow, case["assignee_phone"])
        assert sms[0].body.startswith("【热线】新工单")


def test_unknown_grid_code_is_asked_again_then_goes_to_triage(simulator: Simulator) -> None:
    result = simulator.call(CALLER, ["2", "1", "1", "1", "9999#", "8888#"])
    case = result.as_json()
    assert "We could not find that place or code." in result.heard
    assert case["needs_triage"] is True
    assert case["assignee"] is None
    assert case["status"] == "new"


def test_zero_means_location_unknown_and_goes_to_triage(simulator: Simulator) -> None:
    case = simulator.call(CALLER, ["2", "1", "2", "2", "0#"]).as_json()
    assert case["category"] == "noise"
    assert case["needs_triage"] is True


def test_community_code_keeps_the_community_for_the_agent(simulator: Simulator) -> None:
    case = simulator.call(CALLER, ["2", "1", "1", "1", "12#"]).as_json()
    assert case["community"] == "12"
    assert case["grid"] is None
    assert case["needs_triage"] is True


def test_gas_smell_goes_to_the_fire_department_queue(
    simulator: Simulator, services: Services, run_jobs: Callable[[], int]
) -> None:
    case = simulator.call(CALLER, EN_GAS_SMELL_IN_1101).as_json()
    run_jobs()
    assert case["category"] == "gas_smell"
    assert case["department"] == "fire"
    assert case["assignee"] is None
    with services.uow() as uow:
        dispatchers = uow.session.scalars(
            select(Staff).join(Staff.department).where(Staff.role == "dispatcher")
        ).all()
        fire = [d.phone for d in dispatchers if d.department and d.department.code == "fire"]
        assert fire
        for phone in fire:
            assert [m.purpose for m in _outbox(uow, phone)] == ["assignment"]
    # A fire dispatcher accepts it by SMS and thereby becomes its assignee.
    reply = simulator.sms(fire[0], f"A {case['case_number']}")
    assert case["case_number"] in reply


def test_silence_at_the_language_menu_carries_on_in_chinese(simulator: Simulator) -> None:
    result = simulator.call(CALLER, ["wait", "wait", "wait", "1", "9", "0#"])
    case = result.as_json()
    assert case["category"] == "other"
    assert "感谢您的来电，再见。" in result.heard


def test_a_caller_who_hangs_up_early_still_leaves_a_case(
    simulator: Simulator, services: Services
) -> None:
    call_sid = "CA" + "1" * 32
    base = {"CallSid": call_sid, "From": CALLER, "To": "+8637112345", "AccountSid": "AC1"}
    simulator.post("/twilio/voice/incoming", base)
    simulator.post("/twilio/voice/step/2", {**base, "Digits": "2"})
    simulator.post("/twilio/voice/step/3", {**base, "Digits": "1"})
    simulator.post("/twilio/voice/step/4", {**base, "Digits": "1"})
    simulator.post("/twilio/voice/step/5", {**base, "Digits": "1"})
    simulator.post("/twilio/voice/status", {**base, "CallStatus": "completed"})
    data = simulator.get_json(f"/api/calls/{call_sid}")
    assert data is not None
    assert data["case"]["category"] == "street_light"
    assert data["case"]["needs_triage"] is True
