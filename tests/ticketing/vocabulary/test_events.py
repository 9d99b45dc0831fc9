from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketing.vocabulary.events import Actor, ActorKind, EventKind

pytestmark = pytest.mark.unit

# Every kind the code wrote as a string literal before EventKind, and where: the stored
# values must not change, or old histories would stop reading as they did.
WRITTEN_BEFORE = {
    "created": "cases.intake.register_case",
    "triage": "cases.intake.dispatch",
    "assigned": "cases.intake.assign",
    "possible_duplicate": "cases.intake._flag_possible_duplicate",
    "recording": "cases.intake.attach_recording",
    "transcribed": "cases.services.attach_transcript",
    "transcription_failed": "cases.services.note_transcription_failure",
    "accepted": "cases.services.accept",
    "returned": "cases.services.send_back",
    "rerouted": "cases.services.reroute",
    "recategorised": "cases.services.recategorise",
    "priority_changed": "cases.agent_moves.change_priority",
    "place_changed": "cases.agent_moves.change_place",
    "note": "cases.agent_moves.add_note, cases.phone_page.add_note, inbox.services",
    "callback_requested": "cases.agent_moves.request_callback",
    "refused_command": "inbox.services",
    "paused": "cases.services.pause",
    "resumed": "cases.services.resume",
    "escalated": "sla.sweep_rows.SweepRows.fire",
    "resolved": "cases.services.resolve",
    "closed": "cases.closure.close, cases.agent_moves.close_case",
    "reopened": "cases.closure.reopen",
    "cancelled": "cases.services.cancel",
    "merged": "cases.services.merge",
    "absorbed": "cases.services.merge",
}


def test_event_kinds_are_the_strings_written_before() -> None:
    assert {k.value for k in EventKind} == set(WRITTEN_BEFORE)
    assert all(EventKind(value) == value for value in WRITTEN_BEFORE)


# The constructor, the stored form it gives, and the ids a reader takes back from it.
FORMS = [
    (Actor.staff(12), "staff:12"),
    (Actor.user(5), "user:5"),
    (Actor.caller("+8613800138000"), "caller:+8613800138000"),
    (Actor.caller(None), "caller:unknown"),
    (Actor.system(), "system"),
    (Actor.system("demo"), "system:demo"),
    (Actor.cli("root"), "cli:root"),
    (Actor.cli(None), "cli:unknown"),
]


@pytest.mark.parametrize(("actor", "stored"), FORMS, ids=[s for _, s in FORMS])
def test_actor_round_trips(actor: Actor, stored: str) -> None:
    assert str(actor) == stored
    assert Actor.parse(stored) == actor


def test_every_written_actor_kind_has_a_form() -> None:
    assert {a.kind for a, _ in FORMS} == set(ActorKind) - {ActorKind.OTHER}


def test_actor_references() -> None:
    assert Actor.parse("staff:12").staff_id == 12
    assert Actor.parse("staff:12").user_id is None
    assert Actor.parse("user:5").user_id == 5
    assert Actor.parse("caller:+8613800138000").phone == "+8613800138000"
    assert Actor.parse("caller:unknown").phone is None
    assert Actor.parse("staff:12").phone is None


def test_a_staff_actor_without_an_id_keeps_its_text() -> None:
    # The SLA bench writes "staff:dispatcher" for a department's case.
    actor = Actor.parse("staff:dispatcher")
    assert actor == Actor(ActorKind.STAFF, "dispatcher")
    assert actor.staff_id is None
    assert str(actor) == "staff:dispatcher"


@pytest.mark.parametrize("stored", ["", "robot:7", "staff:", "system:", ":", "other:x", "Staff:1"])
def test_an_unknown_stored_actor_reads_as_stored(stored: str) -> None:
    actor = Actor.parse(stored)
    assert actor.kind is ActorKind.OTHER
    assert str(actor) == stored
    assert (actor.staff_id, actor.user_id, actor.phone) == (None, None, None)


@given(st.text())
def test_any_stored_actor_parses_back_to_the_same_text(stored: str) -> None:
    assert str(Actor.parse(stored)) == stored


@given(st.sampled_from(sorted(set(ActorKind) - {ActorKind.OTHER})), st.text())
def test_every_actor_the_code_can_build_reads_back_as_itself(kind: ActorKind, ref: str) -> None:
    actor = Actor(kind, ref)
    assert Actor.parse(str(actor)) == actor
