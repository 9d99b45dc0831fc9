"""What the console refuses before any view runs: a state-changing request without its CSRF
token (every such route, read from the app's URL map), and a body larger than the route
accepts (refused on its length, before the CSRF check parses the form)."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.routing import Rule

from hotline.bootstrap import Services
from hotline.console.admin_views import MAX_UPLOAD
from hotline.console.base import CONSOLE_BLUEPRINTS, DEFAULT_MAX_BODY
from hotline.console.case_views import ACTIONS
from hotline.storage import attachments
from tests.factories import register_case
from tests.hotline.console.conftest import Login, csrf_token, post
from ticketing.cases.links import form_token, make_token
from ticketing.db import Base
from ticketing.models.accounts import User
from ticketing.models.people import LeavePeriod, RosterShift, Staff

pytestmark = pytest.mark.functional

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The mobile page has no session: its forms carry a token bound to the link instead.
LINK_BLUEPRINTS = frozenset({"mobile"})
SESSION_REFUSAL = "CSRF token"
LINK_REFUSAL = "This form could not be trusted"

# Forms that would change something if the token were not checked (so "nothing changed"
# means something); a route missing here is still swept, with an empty form.
FORMS: dict[str, dict[str, str]] = {
    "console.login_post": {"username": "agent", "password": "wrong-password-1"},
    "console.account_post": {
        "current_password": "admin-test-password",
        "new_password": "a-brand-new-password",
        "confirm_password": "a-brand-new-password",
    },
    "admin.category_add": {"code": "csrf_probe", "name_en": "Probe", "name_zh": "探针"},
    "admin.category_save": {"name_en": "Renamed by a forged form", "name_zh": "改"},
    "admin_schedule.shift_add": {"weekday": "0", "start": "08:00", "end": "12:00"},
    "admin_schedule.leave_add": {"first_day": "2026-12-01", "last_day": "2026-12-02"},
    "admin_schedule.calendar_add": {"day": "2026-12-24", "kind": "holiday", "name": "Eve"},
    "new_case.new_case": {"category": "street_light", "location": "1101", "description": "x"},
    "mobile.resolve": {"note": "fixed"},
    "mobile.note": {"note": "forged note"},
}
MOVE_FORMS: dict[str, dict[str, str]] = {
    "note": {"note": "forged"},
    "callback": {"reason": "forged"},
    "category": {"category": "street_light", "reason": "forged"},
    "priority": {"priority": "high", "reason": "forged"},
    "place": {"place_id": "", "lat": "34.75", "lon": "113.66", "reason": "forged"},
    "assign": {"department": "transport", "reason": "forged"},
    "merge": {"into": "", "reason": "forged"},
    "resolve": {"note": "forged"},
    "close": {"reason": "forged"},
    "reopen": {"reason": "forged"},
    "cancel": {"reason": "forged"},
}


def _is_console(rule: Rule) -> bool:
    blueprint = rule.endpoint.split(".")[0]
    return blueprint in CONSOLE_BLUEPRINTS | LINK_BLUEPRINTS or rule.rule.startswith(
        ("/console", "/m/", "/login", "/logout", "/account")
    )


def _snapshot(services: Services) -> dict[str, str]:
    """A digest of every table's rows: any insert, update or delete shows."""
    digests = {}
    with services.uow() as uow:
        for table in Base.metadata.sorted_tables:
            rows = uow.session.execute(text(f"SELECT * FROM {table.name} ORDER BY 1")).all()  # noqa: S608
            digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return digests


def _targets(services: Services) -> dict[str, str]:
    """Real things for the URLs: an open case, a grid member's link to it, a shift, a leave."""
    clock = services.clock()
    number = register_case(services, description="csrf sweep", language="en-US").number
    with services.uow() as uow:
        s = uow.session
        member = s.scalars(select(User).where(User.username == "grid_member")).one()
        staff = s.get(Staff, member.staff_id)
        assert staff is not None
        shift = RosterShift(staff_id=staff.id, weekday=1, start="08:00", end="12:00")
        leave = LeavePeriod(
            staff_id=staff.id, first_day=clock.date(), last_day=clock.date(), reason="x"
        )
        s.add_all([shift, leave])
        uow.commit()
        token = make_token(services.settings.secret_key, number, staff.id, clock + timedelta(1))
        return {
            "number": number,
            "token": token,
            "code": "street_light",
            "employee_no": staff.employee_no,
            "shift_id": str(shift.id),
            "leave_id": str(leave.id),
        }


def _urls(rule: Rule, values: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Every URL to sweep for a rule, with the form to send (each case move separately)."""
    missing = rule.arguments - set(values) - {"name"}
    assert not missing, f"{rule.rule}: give the sweep a value for {sorted(missing)}"
    path = rule.rule
    for argument in rule.arguments - {"name"}:
        path = path.replace(f"<{argument}>", values[argument])
        path = path.replace(f"<int:{argument}>", values[argument])
    if rule.endpoint == "cases.act":
        return [(path.replace("<name>", move), MOVE_FORMS.get(move, {})) for move in ACTIONS]
    return [(path, FORMS.get(rule.endpoint, {}))]


def test_every_state_changing_console_route_refuses_a_form_without_its_token(
    app: Flask, client: FlaskClient, login: Login, services: Services
) -> None:
    values = _targets(services)
    login(client, "admin")  # the role that reaches every console route
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if _is_console(rule) and (rule.methods or set()) & UNSAFE
    ]
    assert {r.endpoint for r in rules} >= {"cases.act", "console.logout", "mobile.note"}
    before = _snapshot(services)
    wrong = []
    swept = 0
    for rule in rules:
        expected = LINK_REFUSAL if rule.endpoint.split(".")[0] in LINK_BLUEPRINTS else None
        for url, form in _urls(rule, values):
            for method in sorted((rule.methods or set()) & UNSAFE):
                response = client.open(url, method=method, data=form)
                swept += 1
                page = response.get_data(as_text=True)
                wanted = expected or SESSION_REFUSAL
                if response.status_code != 400 or wanted not in page or "Traceback" in page:
                    wrong.append(f"{method} {url}: {response.status_code} {page[-200:]!r}")
    assert wrong == [], "\n".join(wrong)
    assert swept >= len(rules) + len(ACTIONS) - 1
    assert _snapshot(services) == before, "a request without its token changed the database"
    assert client.get("/account").status_code == 200  # the forged logout logged nobody out


def test_the_mobile_forms_token_is_the_links_own(client: FlaskClient, services: Services) -> None:
    """The sweep's refusal is not the link's own failure: with the form token, it works."""
    values = _targets(services)
    token = values["token"]
    secret = services.settings.secret_key
    other = make_token(secret, values["number"], 999999, services.clock() + timedelta(1))
    forged = client.post(
        f"/m/{token}/note", data={"note": "x", "form_token": form_token(secret, other)}
    )
    assert forged.status_code == 400
    assert LINK_REFUSAL in forged.get_data(as_text=True)
    sent = client.post(
        f"/m/{token}/note", data={"note": "seen", "form_token": form_token(secret, token)}
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[-400:]


# ---------------------------------------------------------------- body size


def _too_large(page: str) -> None:
    assert "Too large" in page or "too large" in page
    assert "Traceback" not in page


def test_an_anonymous_oversized_login_is_refused_before_the_form_is_read(
    client: FlaskClient, services: Services
) -> None:
    big = "x" * (DEFAULT_MAX_BODY + 1)
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": "agent", "password": big, "csrf_token": token}
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    _too_large(page)
    assert "more than this page accepts (1 MB)" in page
    # without a token too: the size is refused first, the CSRF check never parses it
    assert client.post("/login", data={"junk": big}).status_code == 413
    with services.uow() as uow:
        agent = uow.session.scalars(select(User).where(User.username == "agent")).one()
        assert agent.failed_logins == 0


def test_an_oversized_move_changes_nothing(
    client: FlaskClient, login: Login, services: Services
) -> None:
    number = _targets(services)["number"]
    login(client, "agent")
    before = _snapshot(services)
    response = post(client, f"/console/cases/{number}/note", {"note": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    _too_large(response.get_data(as_text=True))
    assert _snapshot(services) == before


def test_uploads_get_their_own_larger_limit(
    client: FlaskClient, login: Login, services: Services
) -> None:
    values = _targets(services)
    login(client, "admin")
    # 3 MB of staff CSV: over the default, under the import's 200 MB; the importer answers
    data = {"kind": "staff", "csrf_token": csrf_token(client)}
    csv = io.BytesIO(b"employee_no,name\n" + b"Z" * (3 * 1024 * 1024))
    response = client.post(
        "/console/admin/import",
        data={**data, "file": (csv, "staff.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (200, 302, 400), response.status_code
    assert response.status_code != 413
    # a body claiming more than 200 MB is refused on its length, with the CLI to use instead
    claimed = client.post(
        "/console/admin/import",
        data=data,
        environ_overrides={"CONTENT_LENGTH": str(MAX_UPLOAD + 2 * 1024 * 1024)},
    )
    assert claimed.status_code == 413
    assert "hotline import" in claimed.get_data(as_text=True)
    # the phone's note takes its photos; its other forms keep the default
    token = values["token"]
    secret = services.settings.secret_key
    photo = io.BytesIO(b"\xff\xd8\xff" + b"p" * (attachments.MAX_PHOTO_BYTES - 1024))
    note = client.post(
        f"/m/{token}/note",
        data={"note": "x", "form_token": form_token(secret, token), "photos": (photo, "a.jpg")},
        content_type="multipart/form-data",
    )
    assert note.status_code in (303, 400), note.status_code  # past the limit: the view answers
    accept = client.post(
        f"/m/{token}/accept",
        data={"form_token": form_token(secret, token), "junk": "z" * (DEFAULT_MAX_BODY + 1)},
    )
    assert accept.status_code == 413
    _too_large(accept.get_data(as_text=True))


def test_ordinary_forms_fit_the_default(
    client: FlaskClient, login: Login, services: Services
) -> None:
    number = _targets(services)["number"]
    login(client, "agent")
    response = post(client, f"/console/cases/{number}/note", {"note": "n" * 500_000})
    assert response.status_code in (302, 400)  # the note's own length rule may answer
