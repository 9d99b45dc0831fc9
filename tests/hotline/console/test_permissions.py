"""Every console route against every role, allowed and refused, from a table written out here.

The table is the specification: it is not derived from the views' own role lists, so a view
that lets the wrong role in (or keeps the right one out) fails here. A route added to a
console blueprint without a row in the table fails `test_the_table_covers_every_route`.

Outcomes are classes of response, not exact codes, and each row says which one each role
gets, so a view that breaks (an error page, or refusing a good form) fails its row:
- OK: the view ran and did its job: 200, or a redirect elsewhere than the login page.
- SHOWN: the view ran and re-showed its form with the reason (400/403/409 on the view's own
  page, with a role="alert" message), the answer to the empty or out-of-area form the row
  sends; an error page (class "error-page") is never SHOWN.
- LOGIN: a redirect to /login (not logged in; or logging out).
- FORBIDDEN: 403, the role may not use this route.
- MISSING: 404, nothing this user may see (another grid's case, a case with no recording).
- BAD_LINK: the mobile link's own refusal (400: a form without the link's form token).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from hotline.bootstrap import Services
from hotline.console.base import CONSOLE_BLUEPRINTS
from tests.factories import register_case
from tests.hotline.console.conftest import Login, csrf_token
from ticketing.cases.links import make_token
from ticketing.models.accounts import User

pytestmark = pytest.mark.functional

OK, SHOWN, LOGIN = "ok", "shown", "login"
FORBIDDEN, MISSING, BAD_LINK = "forbidden", "missing", "bad-link"
ROLES = ("agent", "supervisor", "dispatcher", "grid_member", "admin", "anonymous")
# The console's blueprints; the mobile page is one too, though it has no session.
BLUEPRINTS = frozenset(
    {
        "console",
        "queue",
        "cases",
        "attachments",
        "new_case",
        "dashboard",
        "admin",
        "admin_schedule",
        "mobile",
    }
)
# Paths outside those blueprints that are still the console's (a new blueprint there is
# caught even if it is missing from BLUEPRINTS).
CONSOLE_PATHS = ("/console", "/m/", "/login", "/logout", "/account")


@dataclass(frozen=True)
class Row:
    endpoint: str
    method: str
    url: str  # {seen}: a case every role sees; {other}: another street's case; {link}: mobile
    expect: tuple[str, str, str, str, str, str]  # in the order of ROLES
    form: tuple[tuple[str, str], ...] = ()  # what a POST sends (besides the CSRF token)


def _all(outcome: str) -> tuple[str, str, str, str, str, str]:
    return (outcome,) * 6


# agent, supervisor, dispatcher, grid_member, admin, anonymous
EVERY_USER = (OK, OK, OK, OK, OK, LOGIN)
EVERY_USER_SHOWN = (SHOWN, SHOWN, SHOWN, SHOWN, SHOWN, LOGIN)
ADMIN_ONLY = (FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, LOGIN)
ADMIN_SHOWN = (FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, SHOWN, LOGIN)
NOT_GRID_MEMBER = (OK, OK, OK, FORBIDDEN, OK, LOGIN)
CREATORS = (OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, LOGIN)
CREATORS_SHOWN = (SHOWN, FORBIDDEN, FORBIDDEN, FORBIDDEN, SHOWN, LOGIN)
NOTE = (("note", "from the permission matrix"),)
# A move or a recording that does not exist, for everyone who may see the case.
NOTHING_THERE = (MISSING, MISSING, MISSING, MISSING, MISSING, LOGIN)
# Another street's case (street S2, streetlight): only agents and administrators see it.
ALL_SEEING = (OK, MISSING, MISSING, MISSING, OK, LOGIN)

TABLE: tuple[Row, ...] = (
    # login, account, static files
    Row("console.index", "GET", "/", (OK, OK, OK, OK, OK, LOGIN)),
    Row("console.login", "GET", "/login", _all(OK)),
    Row("console.login_post", "POST", "/login", _all(SHOWN)),  # "Enter your username..."
    Row("console.account", "GET", "/account", EVERY_USER),
    Row("console.account_post", "POST", "/account", EVERY_USER_SHOWN),
    Row("console.static", "GET", "/console/static/app.css", _all(OK)),
    # the queue
    Row("queue.queue", "GET", "/console/queue", EVERY_USER),
    Row("queue.changes", "GET", "/console/queue/changes", EVERY_USER),
    # case pages
    Row("cases.case_page", "GET", "/console/cases/{seen}", EVERY_USER),
    Row("cases.case_page", "GET", "/console/cases/{other}", ALL_SEEING),
    Row("cases.act", "POST", "/console/cases/{seen}/note", EVERY_USER, NOTE),
    Row("cases.act", "POST", "/console/cases/{seen}/note", EVERY_USER_SHOWN),  # empty note
    Row("cases.act", "POST", "/console/cases/{other}/note", ALL_SEEING, NOTE),
    Row(
        "cases.act",
        "POST",
        "/console/cases/{seen}/category",
        (SHOWN, SHOWN, FORBIDDEN, FORBIDDEN, SHOWN, LOGIN),
    ),
    Row(
        "cases.act",
        "POST",
        "/console/cases/{seen}/assign",
        (OK, OK, OK, FORBIDDEN, OK, LOGIN),
        (("department", "water_utility"), ("reason", "matrix")),
    ),
    Row(  # a grid member of another street and no department: outside both areas
        "cases.act",
        "POST",
        "/console/cases/{seen}/assign",
        (OK, SHOWN, SHOWN, FORBIDDEN, OK, LOGIN),
        (("staff", "GM0225"), ("reason", "matrix")),
    ),
    Row("cases.act", "POST", "/console/cases/{seen}/no-such-move", NOTHING_THERE),
    Row("cases.recording", "GET", "/console/cases/{seen}/recording", NOTHING_THERE),
    Row("cases.recording", "GET", "/console/cases/{other}/recording", NOTHING_THERE),
    Row("attachments.attachment", "GET", "/console/cases/{seen}/attachments/999999", NOTHING_THERE),
    Row("attachments.attachment", "GET", "/console/cases/{other}/attachments/1", NOTHING_THERE),
    # new cases and the gazetteer
    Row("new_case.new_case", "GET", "/console/cases/new", CREATORS),
    Row("new_case.new_case", "POST", "/console/cases/new", CREATORS_SHOWN),
    Row("new_case.places", "GET", "/console/places?q=gate", NOT_GRID_MEMBER),
    Row(
        "new_case.grids_in_box",
        "GET",
        "/console/places/grids?south=34.7&west=113.6&north=34.8&east=113.7",
        NOT_GRID_MEMBER,
    ),
    # dashboards
    Row("dashboard.page", "GET", "/console/dashboard", NOT_GRID_MEMBER),
    Row("dashboard.export", "GET", "/console/dashboard/status.csv", NOT_GRID_MEMBER),
    # administration
    Row("admin.index", "GET", "/console/admin", ADMIN_ONLY),
    Row("admin.import_page", "GET", "/console/admin/import", ADMIN_ONLY),
    Row("admin.import_post", "POST", "/console/admin/import", ADMIN_SHOWN),
    Row("admin.categories", "GET", "/console/admin/categories", ADMIN_ONLY),
    Row("admin.category_add", "POST", "/console/admin/categories", ADMIN_SHOWN),
    Row("admin.category_edit", "GET", "/console/admin/categories/street_light", ADMIN_ONLY),
    Row("admin.category_save", "POST", "/console/admin/categories/street_light", ADMIN_SHOWN),
    Row("admin.audit", "GET", "/console/admin/audit", ADMIN_ONLY),
    Row("admin.audit_csv", "GET", "/console/admin/audit.csv", ADMIN_ONLY),
    Row("admin_schedule.staff_list", "GET", "/console/admin/staff", ADMIN_ONLY),
    Row("admin_schedule.staff_roster", "GET", "/console/admin/staff/GM0001", ADMIN_ONLY),
    Row("admin_schedule.shift_add", "POST", "/console/admin/staff/GM0001/shifts", ADMIN_SHOWN),
    Row(
        "admin_schedule.shift_remove",
        "POST",
        "/console/admin/staff/GM0001/shifts/999999/remove",  # re-shown: "no such entry"
        ADMIN_SHOWN,
    ),
    Row("admin_schedule.leave_add", "POST", "/console/admin/staff/GM0001/leave", ADMIN_SHOWN),
    Row(
        "admin_schedule.leave_remove",
        "POST",
        "/console/admin/staff/GM0001/leave/999999/remove",
        ADMIN_SHOWN,
    ),
    Row("admin_schedule.calendar", "GET", "/console/admin/calendar", ADMIN_ONLY),
    Row("admin_schedule.calendar_add", "POST", "/console/admin/calendar", ADMIN_SHOWN),
    Row("admin_schedule.calendar_remove", "POST", "/console/admin/calendar/remove", ADMIN_SHOWN),
    Row("admin_schedule.sla", "GET", "/console/admin/sla", ADMIN_ONLY),
    Row("admin_schedule.sla_new_version", "POST", "/console/admin/sla/street_light", ADMIN_SHOWN),
    # the grid member's phone page: the signed link is the credential, whoever holds it
    Row("mobile.case_page", "GET", "/m/{link}", _all(OK)),
    Row("mobile.case_page", "GET", "/m/{forged}", _all(FORBIDDEN)),
    Row("mobile.accept", "POST", "/m/{link}/accept", _all(BAD_LINK)),
    Row("mobile.resolve", "POST", "/m/{link}/done", _all(BAD_LINK)),
    Row("mobile.note", "POST", "/m/{link}/note", _all(BAD_LINK)),
    Row("mobile.photo", "GET", "/m/{link}/photos/999999", _all(MISSING)),
    Row("mobile.photo", "GET", "/m/{forged}/photos/1", _all(FORBIDDEN)),
    # last, since it ends the session the rows above use
    Row("console.logout", "POST", "/logout", _all(LOGIN)),
)


def outcome(response: TestResponse) -> str:
    """The class of a response (see the module's docstring); anything else is itself."""
    status = response.status_code
    if status in (301, 302, 303):
        path = urlsplit(response.headers.get("Location", "")).path
        return LOGIN if path == "/login" else OK
    if status == 200:
        return OK
    page = response.get_data(as_text=True)
    if status == 400 and "could not be trusted" in page:
        return BAD_LINK  # the mobile page's refusal of a form without the link's token
    if status in (400, 403, 409) and 'role="alert"' in page and "error-page" not in page:
        return SHOWN
    if status in (400, 409):
        return f"HTTP {status} (an error page, not the form with its reason)"
    return {403: FORBIDDEN, 404: MISSING}.get(status, f"HTTP {status}")


@pytest.fixture
def places(services: Services) -> dict[str, str]:
    """Case numbers and mobile link tokens to put into the table's URLs."""
    clock = services.clock()

    def open_case(category: str, where: str) -> str:
        return register_case(
            services, category=category, where=where, description="matrix test", language="en-US"
        ).number

    # A water leak in grid 1101, street S1: the agent, the S1 supervisor, the water
    # company's dispatcher, grid 1101's member and the administrator all see it.
    seen = open_case("water_leak", "1101")
    other = open_case("street_light", "2101")
    mine = open_case("street_light", "1101")  # held by grid 1101's member
    with services.uow() as uow:
        member = uow.session.scalars(select(User).where(User.username == "grid_member")).one()
        staff_id = member.staff_id
    assert staff_id is not None
    link = make_token(services.settings.secret_key, mine, staff_id, clock + timedelta(days=1))
    return {"seen": seen, "other": other, "link": link, "forged": link[:-2] + "zz"}


def test_the_table_covers_every_route(app: Flask) -> None:
    assert CONSOLE_BLUEPRINTS <= BLUEPRINTS, "a console blueprint the matrix does not know"
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in BLUEPRINTS or rule.rule.startswith(CONSOLE_PATHS)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    covered = {(row.endpoint, row.method) for row in TABLE}
    assert routes - covered == set(), "console routes with no row in the permission table"
    assert covered - routes == set(), "rows for routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says(
    app: Flask, login: Login, places: dict[str, str], role: str
) -> None:
    client: FlaskClient = app.test_client()
    if role != "anonymous":
        login(client, role)
    column = ROLES.index(role)
    wrong = []
    for row in TABLE:
        url = row.url.format(**places)
        if row.method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={**dict(row.form), "csrf_token": csrf_token(client)})
        got = outcome(response)
        if got != row.expect[column]:
            wrong.append(f"{row.method} {row.url}: expected {row.expect[column]}, got {got}")
        if got.startswith("HTTP 5"):
            wrong.append(f"{row.method} {row.url}: {response.get_data(as_text=True)[-300:]}")
    assert wrong == [], f"{role}:\n" + "\n".join(wrong)


def test_a_grid_member_opening_another_grids_case_gets_404(
    client: FlaskClient, login: Login, places: dict[str, str]
) -> None:
    login(client, "grid_member")
    assert client.get(f"/console/cases/{places['seen']}").status_code == 200
    page = client.get(f"/console/cases/{places['other']}")
    assert page.status_code == 404
    assert "Traceback" not in page.get_data(as_text=True)
