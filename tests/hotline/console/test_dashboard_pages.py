"""The dashboard page and its CSV exports, per role and scoped to the viewer's area."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hotline.bootstrap import Services
from tests.conftest import FixedClock
from tests.factories import grid_member, new_case
from ticketing.cases import intake
from ticketing.models.accounts import UserRole
from ticketing.people import accounts
from ticketing.reporting.tables import TABLES
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.functional

SH = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
FIGURE = re.compile(r'id="fig-(\w+)">(\d+)<')
DATA = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)

USERS = {
    "agent1": (UserRole.AGENT, accounts.Area()),
    "admin1": (UserRole.ADMIN, accounts.Area()),
    "super-s1": (UserRole.SUPERVISOR, accounts.Area(region_code="S1")),
    "super-s2": (UserRole.SUPERVISOR, accounts.Area(region_code="S2")),
    "super-11": (UserRole.SUPERVISOR, accounts.Area(region_code="11")),
    "disp-urban": (UserRole.DISPATCHER, accounts.Area(department_code="urban_management")),
    "disp-water": (UserRole.DISPATCHER, accounts.Area(department_code="water_utility")),
}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour, minute), tzinfo=SH).astimezone(UTC)


@pytest.fixture
def people(services: Services, clock: FixedClock) -> dict[str, str]:
    """One account per viewer, and a grid member's account."""
    with services.uow() as uow:
        for username, (role, area) in USERS.items():
            accounts.add_user(
                uow,
                username=username,
                password=PASSWORD,
                role=role,
                area=area,
                actor=Actor.cli("test"),
                now=clock(),
            )
    return {name: role.value for name, (role, _) in USERS.items()}


@pytest.fixture
def cases_today(services: Services, clock: FixedClock) -> list[str]:
    """Two cases in street S1 (one a water leak, the water company's) and one in S2."""
    made = []
    with services.uow() as uow:
        for category, place, at in (
            ("street_light", "1101", local(27, 9)),
            ("water_leak", "1102", local(27, 9, 15)),
            ("garbage", "2101", local(27, 9, 30)),
        ):
            new = new_case(category=category, where=place)
            summary, _ = intake.open_case_uncommitted(uow, new, at, SH)
            made.append(summary.number)
        uow.commit()
    return made


def log_in(client: FlaskClient, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    found = CSRF.search(page)
    assert found is not None
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": found[1]}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def dashboard(app: Flask, username: str) -> tuple[dict[str, int], dict[str, Any], str]:
    client = app.test_client()
    log_in(client, username)
    response = client.get("/console/dashboard")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    data = DATA.search(html)
    assert data is not None
    figures = {name: int(n) for name, n in FIGURE.findall(html)}
    return figures, json.loads(data[1]), html


def export(app: Flask, username: str, table: str) -> list[list[str]]:
    client = app.test_client()
    log_in(client, username)
    response = client.get(f"/console/dashboard/{table}.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.usefixtures("people", "cases_today")
@pytest.mark.parametrize(
    ("username", "open_cases", "categories"),
    [
        ("agent1", 3, {"broken street light": 1, "water leak": 1, "garbage not collected": 1}),
        ("admin1", 3, {"broken street light": 1, "water leak": 1, "garbage not collected": 1}),
        ("super-s1", 2, {"broken street light": 1, "water leak": 1}),
        ("super-s2", 1, {"garbage not collected": 1}),
        ("super-11", 2, {"broken street light": 1, "water leak": 1}),
        ("disp-water", 1, {"water leak": 1}),
        ("disp-urban", 0, {}),  # grid cases belong to no department
    ],
)
def test_each_viewer_counts_only_the_cases_it_may_see(
    app: Flask, username: str, open_cases: int, categories: dict[str, int]
) -> None:
    figures, data, _ = dashboard(app, username)
    assert figures == {"open": open_cases, "overdue": 0, "today": open_cases}
    assert sum(data["status"]["counts"]) == open_cases
    intake_chart = data["intake"]
    assert dict(zip(intake_chart["labels"], intake_chart["counts"], strict=True)) == categories


@pytest.mark.usefixtures("people", "cases_today")
def test_the_map_and_tables_follow_the_scope(app: Flask) -> None:
    _, data, html = dashboard(app, "super-s2")
    assert [g["code"] for g in data["grids"]] == ["2101"]
    assert data["grids"][0]["polygon"]["type"] == "Polygon"
    assert "Dashboard: Jingba Road Street (S2)" in html
    assert "Performance assessment by community" in html
    assert "Jingsan Community (21)" in html
    assert "Weilai Community" not in html  # street S1's community: not in S2's view
    assert 'data-tiles=""' in html  # no tile server unless one is configured
    _, sub, _ = dashboard(app, "super-11")
    assert {g["code"] for g in sub["grids"]} == {"1101", "1102"}


@pytest.mark.usefixtures("people", "cases_today")
def test_csv_exports_match_the_page(app: Flask) -> None:
    figures, data, html = dashboard(app, "super-s1")
    status = export(app, "super-s1", "status")
    assert status[0] == ["status", "open"]
    assert sum(int(n) for _, n in status[1:]) == figures["open"]
    assert [int(n) for _, n in status[1:]] == data["status"]["counts"]
    categories = export(app, "super-s1", "intake-categories")
    assert {label: int(n) for _, label, n in categories[1:]} == {
        "broken street light": 1,
        "water leak": 1,
    }
    grids = export(app, "super-s1", "grids")
    assert [(g[0], int(g[2])) for g in grids[1:]] == [(g["code"], g["open"]) for g in data["grids"]]
    assessment = export(app, "super-s1", "assessment")
    assert assessment[0][:2] == ["unit", "cases"]
    assert [row[:2] for row in assessment[1:]] == [["Weilai Community (11)", "2"]]
    assert '>Weilai Community (11)</td><td class="num">2</td>' in html
    trends = export(app, "super-s1", "trends")
    assert trends[0][-1] == "2026-W48"
    assert export(app, "super-s2", "status")[1:] == [
        ["new", "0"],
        ["returned", "0"],
        ["assigned", "1"],
        ["accepted", "0"],
    ]
    for table in TABLES:
        assert export(app, "super-s1", table)[0], table


@pytest.mark.usefixtures("people")
def test_overdue_cases_are_listed_and_exported(
    app: Flask, services: Services, clock: FixedClock
) -> None:
    with services.uow() as uow:
        new = new_case(caller=None)
        summary, ticket = intake.open_case_uncommitted(uow, new, local(20, 9), SH)  # never accepted
        uow.commit()
        accept_by = ticket.accept_by
    assert accept_by is not None
    figures, _, html = dashboard(app, "super-s1")
    assert figures["overdue"] == 1
    assert summary.number in html
    rows = export(app, "super-s1", "overdue")
    assert rows[1][0] == summary.number
    assert rows[1][4] == "accept"
    late = (clock() - accept_by).total_seconds() / 3600
    assert rows[1][6] == f"{late:.1f}"
    assert f'<td class="num">{late:.1f}</td>' in html
    assert export(app, "super-s2", "overdue") == [rows[0]]


@pytest.mark.usefixtures("people")
def test_who_may_open_the_dashboard(app: Flask, services: Services, clock: FixedClock) -> None:
    anonymous = app.test_client().get("/console/dashboard")
    assert anonymous.status_code == 302
    assert "/login?next=/console/dashboard" in anonymous.headers["Location"]
    assert app.test_client().get("/console/dashboard/status.csv").status_code == 302
    with services.uow() as uow:
        accounts.add_user(
            uow,
            username="member1",
            password=PASSWORD,
            role=UserRole.GRID_MEMBER,
            area=accounts.Area(employee_no=grid_member(uow.session).employee_no),
            actor=Actor.cli("test"),
            now=clock(),
        )
    member = app.test_client()
    log_in(member, "member1")
    refused = member.get("/console/dashboard")
    assert refused.status_code == 403
    assert "Traceback" not in refused.get_data(as_text=True)
    assert member.get("/console/dashboard/status.csv").status_code == 403
    agent = app.test_client()
    log_in(agent, "agent1")
    assert agent.get("/console/dashboard/nothing.csv").status_code == 404


@pytest.mark.usefixtures("people")
def test_a_configured_tile_server_is_handed_to_the_map(app: Flask) -> None:
    app.config["HOTLINE_MAP_TILES"] = "https://tiles.example.org/{z}/{x}/{y}.png"
    _, _, html = dashboard(app, "agent1")
    assert 'data-tiles="https://tiles.example.org/{z}/{x}/{y}.png"' in html
    app.config["HOTLINE_MAP_TILES"] = "javascript:alert(1)"
    _, _, html = dashboard(app, "agent1")
    assert 'data-tiles=""' in html


@pytest.mark.usefixtures("people", "cases_today")
def test_the_months_assessment_may_be_a_minute_old_but_counts_are_live(
    app: Flask, services: Services
) -> None:
    _, _, before = dashboard(app, "super-s2")
    assert 'Jingsan Community (21)</td><td class="num">1</td>' in before
    with services.uow() as uow:
        new = new_case(category="noise", where="2102", caller=None)
        intake.open_case_uncommitted(uow, new, local(27, 10), SH)
        uow.commit()
    figures, _, cached = dashboard(app, "super-s2")
    assert figures["open"] == 2
    assert 'Jingsan Community (21)</td><td class="num">1</td>' in cached
    assert export(app, "super-s2", "assessment")[1][:2] == ["Jingsan Community (21)", "1"]
    app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 0
    _, _, fresh = dashboard(app, "super-s2")
    assert 'Jingsan Community (21)</td><td class="num">2</td>' in fresh
