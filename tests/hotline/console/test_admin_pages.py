"""The administration pages: admin only, every form validated on the server and shown
again with the reason, every change audited, imports all or nothing."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from hotline.bootstrap import Services
from tests.conftest import FIXTURES, count
from tests.hotline.console.conftest import Login, csrf_token, post
from ticketing.models.accounts import AuditEntry
from ticketing.models.catalogue import Category
from ticketing.models.people import LeavePeriod, RosterShift
from ticketing.models.sla import CalendarRow, SlaPolicyRow

pytestmark = pytest.mark.functional

IMPORTS = FIXTURES / "import"
PAGES = (
    "/console/admin",
    "/console/admin/import",
    "/console/admin/categories",
    "/console/admin/categories/street_light",
    "/console/admin/staff",
    "/console/admin/staff?q=Wang",
    "/console/admin/staff/GM0001",
    "/console/admin/calendar",
    "/console/admin/sla",
    "/console/admin/audit",
    "/console/admin/audit.csv",
)


@pytest.fixture
def admin(client: FlaskClient, login: Login) -> FlaskClient:
    return login(client, "admin")


def _text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined,no-any-return]


def _last_audit(services: Services) -> AuditEntry:
    with services.uow() as uow:
        entry = uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        return entry


def _upload(client: FlaskClient, kind: str, name: str, data: bytes) -> object:
    return client.post(
        "/console/admin/import",
        data={"kind": kind, "csrf_token": csrf_token(client), "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_every_admin_page_opens_for_the_admin(admin: FlaskClient) -> None:
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 200, path
    assert "GM0001" in _text(admin.get("/console/admin/staff?q=GM000"))


@pytest.mark.parametrize("role", ["agent", "supervisor", "dispatcher", "grid_member"])
def test_other_roles_are_refused(client: FlaskClient, login: Login, role: str) -> None:
    login(client, role)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    refused = post(client, "/console/admin/calendar", {"day": "2026-12-04", "kind": "holiday"})
    assert refused.status_code == 403


def test_logged_out_visitors_are_sent_to_log_in(client: FlaskClient) -> None:
    response = client.get("/console/admin/audit")
    assert response.status_code == 302
    assert "/login?next=/console/admin/audit" in response.headers["Location"]


def test_a_form_without_its_csrf_token_is_refused(admin: FlaskClient, services: Services) -> None:
    with services.uow() as uow:
        before = count(uow.session, "audit_log")
    response = admin.post("/console/admin/calendar", data={"day": "2026-12-04", "kind": "holiday"})
    assert response.status_code == 400
    assert "CSRF" in _text(response)
    with services.uow() as uow:
        assert count(uow.session, "audit_log") == before


def test_grid_and_staff_uploads(admin: FlaskClient, services: Services) -> None:
    grids = _upload(
        admin, "grids", "grids.geojson", (IMPORTS / "grids_sample.geojson").read_bytes()
    )
    assert grids.status_code == 302  # type: ignore[attr-defined]
    page = _text(admin.get("/console/admin/import"))
    assert "3 grids row(s): 2 created, 0 updated, 1 unchanged" in page
    entry = _last_audit(services)
    assert (entry.action, entry.target) == ("grids.import", "grids.geojson")
    assert re.fullmatch(r"user:\d+", entry.actor)
    staff = _upload(admin, "staff", "staff.csv", (IMPORTS / "staff_sample.csv").read_bytes())
    assert staff.status_code == 302  # type: ignore[attr-defined]
    assert "4 created" in _text(admin.get("/console/admin/import"))
    roster = _text(admin.get("/console/admin/staff/GM9001"))
    assert "1124 (primary)" in roster


def test_a_bad_upload_shows_every_rejected_row_and_imports_nothing(
    admin: FlaskClient, services: Services
) -> None:
    with services.uow() as uow:
        staff, audits = count(uow.session, "staff"), count(uow.session, "audit_log")
    response = _upload(admin, "staff", "bad.csv", (IMPORTS / "staff_bad.csv").read_bytes())
    assert response.status_code == 400  # type: ignore[attr-defined]
    page = _text(response)
    assert "nothing was imported" in page
    assert "no grid with code &#39;7777&#39;" in page
    assert "already has a primary member: GM0001" in page
    with services.uow() as uow:
        assert count(uow.session, "staff") == staff
        assert count(uow.session, "audit_log") == audits
    bad_grids = _upload(admin, "grids", "g.geojson", (IMPORTS / "grids_bad.geojson").read_bytes())
    assert "Self-intersection" in _text(bad_grids)
    missing = post(admin, "/console/admin/import", {"kind": "grids"})
    assert missing.status_code == 400
    assert "Choose a GeoJSON file" in _text(missing)
    unknown = post(admin, "/console/admin/import", {"kind": "planets"})
    assert "Choose what to import" in _text(unknown)


def test_category_edit(admin: FlaskClient, services: Services) -> None:
    bad = post(
        admin,
        "/console/admin/categories/street_light",
        {"name_en": "", "name_zh": "路灯", "priority": "normal", "active": "on"},
    )
    assert bad.status_code == 400
    assert "English name: required" in _text(bad)
    wrong = post(
        admin,
        "/console/admin/categories/street_light",
        {"name_en": "Lamp", "name_zh": "路灯", "priority": "soon", "active": "on"},
    )
    assert "priority: &#39;soon&#39; is not one of" in _text(wrong)
    assert 'value="Lamp"' in _text(wrong)  # the form keeps what was typed
    good = post(
        admin,
        "/console/admin/categories/street_light",
        {
            "name_en": "Street lamp out",
            "name_zh": "路灯不亮",
            "department": "urban_management",
            "priority": "high",
        },
    )
    assert good.status_code == 302
    with services.uow() as uow:
        row = uow.session.scalars(select(Category).where(Category.code == "street_light")).one()
        assert (row.name_en, row.default_priority.value, row.active) == (
            "Street lamp out",
            "high",
            False,
        )
    assert _last_audit(services).action == "category.update"
    assert admin.get("/console/admin/categories/no_such").status_code == 404
    added = post(
        admin,
        "/console/admin/categories",
        {"code": "shared_bikes", "name_en": "Bikes", "name_zh": "单车", "priority": "low"},
    )
    assert added.status_code == 302
    twice = post(
        admin,
        "/console/admin/categories",
        {"code": "shared_bikes", "name_en": "Bikes", "name_zh": "单车", "priority": "low"},
    )
    assert "already exists" in _text(twice)


def test_shifts_and_leave(admin: FlaskClient, services: Services) -> None:
    url = "/console/admin/staff/GM0001"
    assert (
        post(admin, f"{url}/shifts", {"weekday": "5", "start": "09:00", "end": "12:00"}).status_code
        == 302
    )
    overlap = post(admin, f"{url}/shifts", {"weekday": "5", "start": "11:00", "end": "13:00"})
    assert overlap.status_code == 400
    assert "overlaps the shift Sat 09:00-12:00" in _text(overlap)
    backwards = post(admin, f"{url}/shifts", {"weekday": "1", "start": "18:00", "end": "08:00"})
    assert "ends after it starts" in _text(backwards)
    with services.uow() as uow:
        shift = uow.session.scalars(select(RosterShift).order_by(RosterShift.id.desc())).first()
        assert shift is not None
        assert (shift.weekday, shift.start, shift.end) == (5, "09:00", "12:00")
        shift_id = shift.id
    # a shift cannot be removed through another member's page
    other = post(admin, f"/console/admin/staff/GM0002/shifts/{shift_id}/remove")
    assert other.status_code == 400
    assert post(admin, f"{url}/shifts/{shift_id}/remove").status_code == 302
    with services.uow() as uow:
        assert uow.session.get(RosterShift, shift_id) is None

    leave = {"first_day": "2026-12-01", "last_day": "2026-12-03", "reason": "training"}
    assert post(admin, f"{url}/leave", leave).status_code == 302
    assert "2026-12-01 to 2026-12-03" in _text(admin.get(url))
    again = post(admin, f"{url}/leave", leave)
    assert "overlaps the leave 2026-12-01 to 2026-12-03" in _text(again)
    garbled = post(admin, f"{url}/leave", {"first_day": "tomorrow", "last_day": "2026-12-03"})
    assert garbled.status_code == 400
    assert "first day: &#39;tomorrow&#39; is not a date" in _text(garbled)
    with services.uow() as uow:
        leave_id = uow.session.scalars(
            select(LeavePeriod.id).order_by(LeavePeriod.id.desc())
        ).first()
    assert post(admin, f"{url}/leave/{leave_id}/remove").status_code == 302
    assert _last_audit(services).action == "roster.leave.remove"
    assert admin.get("/console/admin/staff/NOBODY").status_code == 404


def test_calendar_dates(admin: FlaskClient, services: Services) -> None:
    added = post(
        admin,
        "/console/admin/calendar",
        {"day": "2026-12-04", "kind": "holiday", "calendar": "", "name": "City founding day"},
    )
    assert added.status_code == 302
    page = _text(admin.get("/console/admin/calendar"))
    assert "City founding day" in page
    with services.uow() as uow:
        office = uow.session.scalars(
            select(CalendarRow).where(CalendarRow.code == "office_hours_cn")
        ).one()
        assert "2026-12-04" in office.extra_holidays
    bad = post(admin, "/console/admin/calendar", {"day": "2026-02-30", "kind": "holiday"})
    assert bad.status_code == 400
    assert "is not a date like 2026-10-01" in _text(bad)
    odd = post(admin, "/console/admin/calendar", {"day": "2026-12-06", "kind": "festival"})
    assert "neither holiday nor workday" in _text(odd)
    assert post(admin, "/console/admin/calendar/remove", {"day": "2026-12-04"}).status_code == 302
    gone = post(admin, "/console/admin/calendar/remove", {"day": "2026-12-04"})
    assert "not a custom date" in _text(gone)
    assert _last_audit(services).action == "calendar.date.remove"


def test_sla_new_version(admin: FlaskClient, services: Services) -> None:
    bad = post(admin, "/console/admin/sla/general", {"resolve": "soon"})
    assert bad.status_code == 400
    assert "resolve: &#39;soon&#39; is not like 30m, 4h or 7d" in _text(bad)
    slow = post(admin, "/console/admin/sla/general", {"accept": "30d"})
    assert "longer than the time to resolve" in _text(slow)
    good = post(admin, "/console/admin/sla/general", {"resolve": "5d", "name": "General: 5 days"})
    assert good.status_code == 302
    with services.uow() as uow:
        row = uow.session.scalars(
            select(SlaPolicyRow).where(SlaPolicyRow.code == "general", SlaPolicyRow.current)
        ).one()
        assert (row.version, row.resolve_minutes, row.name) == (2, 5 * 450, "General: 5 days")
    assert _last_audit(services).data["version"] == 2
    assert "General: 5 days" in _text(admin.get("/console/admin/sla"))


def test_audit_log_page_and_csv(admin: FlaskClient, services: Services) -> None:
    admin.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    post(admin, "/console/admin/calendar", {"day": "2026-12-04", "kind": "holiday", "name": "=1+1"})
    post(
        admin,
        "/console/admin/staff/GM0001/shifts",
        {"weekday": "0", "start": "08:00", "end": "09:00"},
    )
    assert _last_audit(services).source_ip == "203.0.113.7"
    page = _text(admin.get("/console/admin/audit"))
    assert page.index("roster.shift.add") < page.index("calendar.holiday.add")  # newest first
    assert "<th>From</th>" in page
    assert "<code>203.0.113.7</code>" in page
    csv = admin.get("/console/admin/audit.csv")
    assert csv.mimetype == "text/csv"
    lines = _text(csv).splitlines()
    assert lines[0] == "id,at_utc,actor,source_ip,action,target,data"
    assert "roster.shift.add" in lines[1]
    assert ",203.0.113.7,roster.shift.add," in lines[1]
    assert "calendar.holiday.add" in lines[2]
    assert "name==1+1" in lines[2]  # inside the cell, not at its start: no formula
