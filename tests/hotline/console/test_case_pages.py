"""The queue, the case page and the new-case form through the Flask client, logged in as
the demo accounts: every move writes its event, bad input re-shows the reason, the
caller's number is masked, cases outside the user's area are 404, and the queue's
filters and live-update endpoint answer what the database holds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hotline.bootstrap import Services
from hotline.console.case_views import ACTIONS
from hotline.voice import recordings
from tests.factories import CALLER, SH, register_case
from tests.hotline.console.conftest import Login, post
from ticketing.cases import console_moves
from ticketing.cases import services as cases
from ticketing.models.accounts import User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.places import Grid, Place
from ticketing.people.visibility import mask_phone
from ticketing.vocabulary.lifecycle import TicketStatus

pytestmark = pytest.mark.functional

MASKED = "+86138****5678"


def local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, 27), time(hour, minute), tzinfo=SH).astimezone(UTC)


def _case(
    services: Services,
    where: str | None = "1101",
    category: str = "street_light",
    at: datetime | None = None,
    source: str = "phone",
    caller: str | None = CALLER,
) -> str:
    """`register_case` at 09:00 by default (the pages' times are read against it), with a
    description; its number for the URLs."""
    return register_case(
        services,
        at or local(9),
        category=category,
        where=where,
        description="lamp out by the gate",
        caller=caller,
        source=source,
    ).number


def _ticket(services: Services, number: str) -> Ticket:
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        _ = ticket.events, ticket.grid, ticket.assignee
        return ticket


def _kinds(services: Services, number: str) -> list[str]:
    return [e.kind for e in _ticket(services, number).events]


def _move(services: Services, number: str, *steps: str) -> None:
    """Take a case along: "accept", "resolve" (as its assignee)."""
    with services.uow() as uow:
        ticket = uow.session.scalars(select(Ticket).where(Ticket.number == number)).one()
        for step in steps:
            assert ticket.assignee is not None
            if step == "accept":
                cases.accept(uow, ticket, ticket.assignee, "", local(10))
            else:
                cases.resolve(uow, ticket, ticket.assignee, "fixed", local(11))
        uow.commit()


def _text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


# ---------------------------------------------------------------- the queue


def test_every_move_has_its_form_and_every_form_its_move() -> None:
    # The same moves, in the order the page shows them.
    assert list(ACTIONS) == list(console_moves.MOVES)


def test_the_queue_lists_waiting_cases_and_filters_them(
    services: Services, client: FlaskClient, login: Login
) -> None:
    waiting = _case(services, where=None)
    assigned = _case(services, at=local(8))
    sms = _case(services, where=None, category="garbage", source="sms", at=local(9, 30))
    login(client, "agent")
    page = _text(client.get("/console/queue"))
    assert waiting in page
    assert sms in page
    assert assigned not in page
    assert page.index(waiting) < page.index(sms)  # oldest first
    assert 'data-deadline="' in page
    assert "data-stamp=" in page
    assert "<kbd>j</kbd>" in page  # the shortcut help line
    only = _text(client.get("/console/queue?category=garbage"))
    assert sms in only
    assert waiting not in only
    assert waiting not in _text(client.get("/console/queue?channel=sms"))
    assert assigned in _text(client.get("/console/queue?view=open"))
    assert assigned in _text(client.get("/console/queue?view=assigned"))
    assert waiting not in _text(client.get("/console/queue?view=assigned"))
    assert _text(client.get("/console/queue?view=open&area=S1")).count(assigned) >= 1
    assert assigned not in _text(client.get("/console/queue?view=open&area=S2"))
    bad = client.get("/console/queue?view=nonsense&area=XX&channel=fax&after=broken")
    assert bad.status_code == 200
    for reason in ("no view", "no area", "no channel", "damaged"):
        assert reason in _text(bad)
    fragment = _text(client.get("/console/queue?fragment=1"))
    assert "<html" not in fragment
    assert waiting in fragment


def test_the_changes_endpoint_says_when_the_table_is_stale(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _case(services, where=None)
    login(client, "agent")
    found = re.search(r'data-stamp="([^"]+)"', _text(client.get("/console/queue")))
    assert found
    stamp = found.group(1)
    answer = client.get(f"/console/queue/changes?since={stamp}").get_json()
    assert answer == {"changed": False, "stamp": stamp}
    assert post(client, f"/console/cases/{number}/note", {"note": "called"}).status_code == 302
    answer = client.get(f"/console/queue/changes?since={stamp}").get_json()
    assert answer["changed"] is True
    assert answer["stamp"] != stamp
    again = client.get(f"/console/queue/changes?since={answer['stamp']}").get_json()
    assert again["changed"] is False
    assert client.get("/console/queue/changes?since=junk").get_json()["changed"] is True


def test_each_role_sees_its_own_queue(
    services: Services, client: FlaskClient, login: Login
) -> None:
    mine = _case(services, where="1101")
    other = _case(services, where="3101")
    login(client, "grid_member")
    page = _text(client.get("/console/queue"))  # a member's queue opens on its open cases
    assert mine in page
    assert other not in page
    client.post("/logout", data={})
    supervisor = login(FlaskClient(client.application), "supervisor")
    page = _text(supervisor.get("/console/queue?view=open"))
    assert mine in page
    assert other not in page


def test_the_queue_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/console/queue")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# ---------------------------------------------------------------- the case page


def test_the_case_page_shows_the_case(
    services: Services, client: FlaskClient, login: Login
) -> None:
    first = _case(services)
    number = _case(services, at=local(9, 30))
    login(client, "agent")
    page = _text(client.get(f"/console/cases/{number}"))
    for part in (
        "broken street light",
        CALLER,
        'id="case-map"',
        '"outline": {',
        "data-deadline=",
        "Likely duplicates",
        first,  # flagged as a likely duplicate
        "possible duplicate",  # the timeline
        'action="/console/cases/' + number + '/merge"',
    ):
        assert part in page, part


def test_the_callers_number_is_masked_except_for_agents_and_admins(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _case(services)
    login(client, "supervisor")
    page = _text(client.get(f"/console/cases/{number}"))
    assert MASKED in page
    assert CALLER not in page
    admin = login(FlaskClient(client.application), "admin")
    assert CALLER in _text(admin.get(f"/console/cases/{number}"))
    assert mask_phone(CALLER, User(role=UserRole.GRID_MEMBER)) == MASKED
    assert mask_phone(CALLER, User(role=UserRole.AGENT)) == CALLER


def test_a_case_outside_the_users_area_is_not_found(
    services: Services, client: FlaskClient, login: Login
) -> None:
    other = _case(services, where="3101")
    own = _case(services, where="1101")
    login(client, "grid_member")
    assert client.get(f"/console/cases/{other}").status_code == 404
    assert post(client, f"/console/cases/{other}/note", {"note": "x"}).status_code == 404
    assert client.get(f"/console/cases/{other}/recording").status_code == 404
    assert _kinds(services, other)[-1] != "note"
    assert client.get(f"/console/cases/{own}").status_code == 200
    assert client.get("/console/cases/0000").status_code == 404
    # Seen, but a move of the agents: refused.
    assert post(client, f"/console/cases/{own}/cancel", {"reason": "x"}).status_code == 403
    assert _ticket(services, own).status is TicketStatus.ASSIGNED


def test_moves_need_the_csrf_token(services: Services, client: FlaskClient, login: Login) -> None:
    number = _case(services)
    login(client, "agent")
    assert client.post(f"/console/cases/{number}/note", data={"note": "x"}).status_code == 400
    assert "note" not in _kinds(services, number)


def _place_in(services: Services, grid: str) -> int:
    with services.uow() as uow:
        grid_id = uow.session.scalars(select(Grid.id).where(Grid.code == grid)).one()
        return uow.session.scalars(select(Place.id).where(Place.grid_id == grid_id)).first() or 0


MOVES = [
    # (move, form, how to prepare the case, the events it must add)
    ("note", {"note": "caller rang again"}, (), ["note"]),
    ("callback", {"reason": "which lamp?"}, (), ["callback_requested"]),
    ("priority", {"priority": "high", "reason": "school"}, (), ["priority_changed"]),
    ("category", {"category": "water_leak", "reason": "pipe"}, (), ["recategorised", "assigned"]),
    ("assign", {"department": "transport", "reason": "road"}, (), ["assigned"]),
    ("cancel", {"reason": "prank"}, (), ["cancelled"]),
    ("resolve", {"note": "member phoned"}, ("accept",), ["resolved"]),
    ("close", {"reason": "confirmed by phone"}, ("accept", "resolve"), ["closed"]),
    ("reopen", {"reason": "still dark"}, ("accept", "resolve"), ["reopened"]),
]


@pytest.mark.parametrize(("name", "form", "prepare", "added"), MOVES, ids=[m[0] for m in MOVES])
def test_each_move_is_one_call_and_writes_its_event(
    services: Services,
    client: FlaskClient,
    login: Login,
    name: str,
    form: dict[str, str],
    prepare: tuple[str, ...],
    added: list[str],
) -> None:
    number = _case(services)
    _move(services, number, *prepare)
    before = _kinds(services, number)
    login(client, "agent")
    response = post(client, f"/console/cases/{number}/{name}", form)
    assert response.status_code == 302, _text(response)[-800:]
    assert response.headers["Location"].startswith(f"/console/cases/{number}")
    assert _kinds(services, number) == before + added
    event = next(e for e in reversed(_ticket(services, number).events) if e.kind == added[0])
    assert event.actor.startswith("user:")
    page = _text(client.get(f"/console/cases/{number}"))
    assert "flash-success" in page


def test_moving_the_case_by_a_map_click_or_a_place(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _case(services)
    with services.uow() as uow:
        grid = uow.session.scalars(select(Grid).where(Grid.code == "2106")).one()
        point = {"lat": str(grid.centre_lat), "lon": str(grid.centre_lon), "reason": "gate B"}
    login(client, "agent")
    assert post(client, f"/console/cases/{number}/place", point).status_code == 302
    ticket = _ticket(services, number)
    assert ticket.grid is not None
    assert ticket.grid.code == "2106"
    assert [e.kind for e in ticket.events][-2:] == ["place_changed", "assigned"]
    place = _place_in(services, "2106")
    response = post(client, f"/console/cases/{number}/place", {"place_id": str(place)})
    assert response.status_code == 302
    assert _ticket(services, number).place_id == place
    assert _kinds(services, number)[-1] == "place_changed"  # same grid: no new assignment


def test_merge_into_another_case(services: Services, client: FlaskClient, login: Login) -> None:
    into = _case(services)
    duplicate = _case(services, at=local(9, 30))
    login(client, "agent")
    response = post(client, f"/console/cases/{duplicate}/merge", {"into": into})
    assert response.status_code == 302
    assert _kinds(services, duplicate)[-1] == "merged"
    assert _kinds(services, into)[-1] == "absorbed"
    assert _ticket(services, duplicate).status is TicketStatus.MERGED


@pytest.mark.parametrize(
    ("name", "form", "code", "reason"),
    [
        ("merge", {"into": "2611279999"}, 400, "there is no case"),
        ("merge", {"into": ""}, 400, "there is no case"),
        ("note", {"note": "  "}, 400, "the note is empty"),
        ("cancel", {"reason": ""}, 400, "needs a reason"),
        ("close", {"reason": "confirmed"}, 409, "only resolved cases close"),
        ("priority", {"priority": "extreme"}, 400, "no priority"),
        ("place", {"lat": "north", "lon": "1"}, 400, "not a point"),
        ("place", {"lat": "0", "lon": "0"}, 400, "outside every grid"),
        ("assign", {"staff": "nobody", "reason": "x"}, 400, "no active staff"),
        ("callback", {"phone": "call me", "reason": "x"}, 400, "not a phone number"),
    ],
)
def test_bad_input_reshows_the_page_with_the_reason(
    services: Services,
    client: FlaskClient,
    login: Login,
    name: str,
    form: dict[str, str],
    code: int,
    reason: str,
) -> None:
    number = _case(services)
    before = _kinds(services, number)
    login(client, "agent")
    response = post(client, f"/console/cases/{number}/{name}", form)
    assert response.status_code == code
    page = _text(response)
    assert reason in page
    assert f"Case {number}" in page
    assert 'role="alert"' in page
    assert _kinds(services, number) == before
    assert post(client, f"/console/cases/{number}/fly", {}).status_code == 404


def test_the_recording_plays_from_the_case_store(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _case(services)
    login(client, "agent")
    assert client.get(f"/console/cases/{number}/recording").status_code == 404
    assert "<audio" not in _text(client.get(f"/console/cases/{number}"))
    recordings.keep(number, b"RIFF\x24\x00\x00\x00WAVEfmt ", services.files)
    response = client.get(f"/console/cases/{number}/recording")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.data.startswith(b"RIFF")
    assert "<audio" in _text(client.get(f"/console/cases/{number}"))


def test_a_recording_a_worker_kept_plays_on_another_hosts_console(
    services: Services, other_host: Flask, login: Login, tmp_path: Path
) -> None:
    number = _case(services)
    audio = b"RIFF\x24\x00\x00\x00WAVEfmt kept by the worker"
    recordings.keep(number, audio, services.files)  # a worker on this host
    client = login(other_host.test_client(), "agent")
    response = client.get(f"/console/cases/{number}/recording")
    assert (response.status_code, response.data) == (200, audio)
    assert not (tmp_path / "other-host" / "recordings").exists()


# ---------------------------------------------------------------- a new case


def test_an_agent_types_in_a_case_found_by_place(
    services: Services, client: FlaskClient, login: Login
) -> None:
    login(client, "agent")
    assert client.get("/console/cases/new").status_code == 200
    found = client.get("/console/places?q=jingsan road 12").get_json()
    place = found["places"][0]
    assert place["name_en"] == "No. 12 Jingsan Road"
    assert place["grid"]
    response = post(
        client,
        "/console/cases/new",
        {
            "description": "a pothole by the school",
            "category": "street_light",
            "priority": "high",
            "caller_phone": "139 1234 5678",
            "language": "zh-CN",
            "source": "walk_in",
            "place_id": str(place["id"]),
        },
    )
    assert response.status_code == 302, _text(response)[-800:]
    number = response.headers["Location"].rsplit("/", 1)[1]
    ticket = _ticket(services, number)
    assert (ticket.source, ticket.priority.value, ticket.caller_phone) == (
        "walk_in",
        "high",
        "+8613912345678",
    )
    assert ticket.grid is not None
    assert ticket.grid.code == place["grid"]
    assert (ticket.place_id, ticket.lat) == (place["id"], place["lat"])
    created = ticket.events[0]
    assert created.kind == "created"
    assert created.data["by"].startswith("user:")
    assert created.data["priority"] == "high"
    assert "created" in _text(client.get(f"/console/cases/{number}"))


def test_a_new_case_by_a_map_click(services: Services, client: FlaskClient, login: Login) -> None:
    with services.uow() as uow:
        grid = uow.session.scalars(select(Grid).where(Grid.code == "2203")).one()
        lat, lon = grid.centre_lat, grid.centre_lon
    login(client, "agent")
    assert client.get(f"/console/places?lat={lat}&lon={lon}").get_json()["grid"] == "2203"
    response = post(
        client,
        "/console/cases/new",
        {
            "description": "garbage left",
            "category": "garbage",
            "language": "en-US",
            "source": "agent_call",
            "lat": str(lat),
            "lon": str(lon),
        },
    )
    assert response.status_code == 302
    ticket = _ticket(services, response.headers["Location"].rsplit("/", 1)[1])
    assert ticket.grid is not None
    assert ticket.grid.code == "2203"
    assert (ticket.lat, ticket.lon, ticket.caller_phone) == (lat, lon, None)


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"description": "", "category": "garbage"}, "describe the problem"),
        ({"description": "x", "category": ""}, "choose a category"),
        ({"description": "x", "category": "weather"}, "unknown category"),
        ({"description": "x", "category": "garbage", "caller_phone": "abc"}, "phone number"),
        ({"description": "x", "category": "garbage", "lat": "0", "lon": "0"}, "outside every"),
        ({"description": "x", "category": "garbage", "source": "fax"}, "live call or a walk-in"),
        ({"description": "x", "category": "garbage", "priority": "max"}, "no priority"),
    ],
)
def test_a_bad_new_case_reshows_the_form(
    services: Services, client: FlaskClient, login: Login, form: dict[str, str], reason: str
) -> None:
    login(client, "agent")
    with services.uow() as uow:
        before = len(uow.session.scalars(select(Ticket.id)).all())
    response = post(
        client, "/console/cases/new", {"language": "zh-CN", "source": "walk_in", **form}
    )
    assert response.status_code == 400
    page = _text(response)
    assert reason in page
    assert "Create the case" in page
    with services.uow() as uow:
        assert len(uow.session.scalars(select(Ticket.id)).all()) == before


def test_the_map_gets_the_grids_in_view(client: FlaskClient, login: Login) -> None:
    login(client, "agent")
    box = "south=34.7&west=113.6&north=34.9&east=113.8"
    answer = client.get(f"/console/places/grids?{box}").get_json()
    assert answer["too_many"] is False
    assert len(answer["grids"]) == 207  # the whole demo city
    assert answer["grids"][0]["polygon"]["type"] == "Polygon"
    tiny = client.get("/console/places/grids?south=0&west=0&north=0.1&east=0.1").get_json()
    assert tiny == {"too_many": False, "grids": []}
    assert client.get("/console/places/grids?south=x").status_code == 400
    assert client.get("/console/places?lat=north&lon=1").status_code == 400


def test_only_agents_and_admins_type_in_cases(client: FlaskClient, login: Login) -> None:
    login(client, "grid_member")
    assert client.get("/console/cases/new").status_code == 403
    assert client.get("/console/places?q=jingsan").status_code == 403


@pytest.mark.parametrize(
    ("role", "form", "allowed"),
    [
        # the water company's dispatcher: its own people and queue only
        ("dispatcher", {"staff": "GM0225"}, False),  # a grid member in community 33
        ("dispatcher", {"department": "transport"}, False),
        ("dispatcher", {"staff": "DP16"}, True),  # a colleague at the water company
        ("dispatcher", {"department": "water_utility"}, True),
        # the supervisor of street S1: people whose region is inside S1
        ("supervisor", {"staff": "GM0225"}, False),
        ("supervisor", {"staff": "GM0001"}, True),  # community 11, inside S1
        ("supervisor", {"department": "transport"}, True),  # departments serve the city
        ("agent", {"staff": "GM0225"}, True),
    ],
)
def test_dispatchers_and_supervisors_assign_only_inside_their_area(
    services: Services,
    client: FlaskClient,
    login: Login,
    role: str,
    form: dict[str, str],
    allowed: bool,
) -> None:
    # A water leak in grid 1101: the S1 supervisor and the water company's dispatcher see it.
    number = _case(services, category="water_leak")
    before = _kinds(services, number)
    login(client, role)
    response = post(client, f"/console/cases/{number}/assign", {**form, "reason": "test"})
    if allowed:
        assert response.status_code == 302, _text(response)[-800:]
        assert _kinds(services, number) == [*before, "assigned"]
        return
    assert response.status_code == 403
    page = _text(response)
    assert f"Case {number}" in page  # the case page again, the reason beside the form
    assert 'role="alert"' in page
    assert "can hand a case only to" in page
    assert _kinds(services, number) == before


def test_the_assign_form_offers_only_people_the_user_may_assign(
    services: Services, client: FlaskClient, login: Login
) -> None:
    number = _case(services, category="water_leak")
    login(client, "dispatcher")
    page = _text(client.get(f"/console/cases/{number}"))
    assert 'value="GM0001"' not in page  # grid 1101's member, not the water company's
    assert 'value="transport"' not in page
    assert 'value="water_utility"' in page
