"""The administration pages for who works when and what is promised: staff rosters and
leave, the calendar's custom dates, SLA policy versions. Administrators only.

Thin views over `ticketing.admin.schedules` and `ticketing.admin.services` in the same
manner as `admin_views`; calendar and SLA changes enqueue the recomputation of open
cases' deadlines (a job: with many open cases it takes a while).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from hotline.console.admin_views import Page, admin_only, attempt, form_value, now
from hotline.console.base import actor, console_blueprint
from hotline.jobs.admin import RECOMPUTE_JOB
from hotline.web.context import app_services
from ticketing.admin import queries, schedules
from ticketing.admin import services as admin
from ticketing.exceptions import NotFound
from ticketing.people.rosters import WEEKDAYS
from ticketing.unit_of_work import UnitOfWork

bp = console_blueprint("admin_schedule", __name__, url_prefix="/console/admin")


def _recompute_deadlines() -> None:
    app_services().jobs.enqueue("default", RECOMPUTE_JOB)


# ---------------------------------------------------------------- staff rosters


@bp.get("/staff")
@admin_only
def staff_list() -> Page:
    q = request.args.get("q", "").strip()
    with app_services().uow() as uow:
        found = queries.find_staff(uow.session, q)
    return render_template("console/admin/staff_list.html", staff=found, q=q)


def _staff_page(employee_no: str, errors: dict[str, str], status: int = 200) -> Page:
    with app_services().uow() as uow:
        try:
            found = queries.roster(uow.session, employee_no)
        except NotFound:
            abort(404, f"There is no staff member {employee_no!r}.")
        page = render_template(
            "console/admin/staff.html",
            member=found.member,
            shifts=found.shifts,
            leaves=found.leaves,
            grids=found.grids,
            weekdays=list(enumerate(WEEKDAYS)),
            errors=errors,
            form=request.form,
        )
    return page, status


@bp.get("/staff/<employee_no>")
@admin_only
def staff_roster(employee_no: str) -> Page:
    return _staff_page(employee_no, {})


def _roster_change(
    employee_no: str, change: Callable[[UnitOfWork], Any], done: str, field: str
) -> Page:
    error = attempt(change)
    if error:
        return _staff_page(employee_no, {field: error}, 400)
    flash(done, "success")
    return redirect(url_for("admin_schedule.staff_roster", employee_no=employee_no))


@bp.post("/staff/<employee_no>/shifts")
@admin_only
def shift_add(employee_no: str) -> Page:
    def change(uow: UnitOfWork) -> Any:
        weekday = admin.parse_weekday(form_value("weekday"))
        return schedules.add_shift(
            uow, actor(), now(), employee_no, weekday, form_value("start"), form_value("end")
        )

    return _roster_change(employee_no, change, "Shift added.", "shift")


@bp.post("/staff/<employee_no>/shifts/<int:shift_id>/remove")
@admin_only
def shift_remove(employee_no: str, shift_id: int) -> Page:
    def change(uow: UnitOfWork) -> None:
        schedules.remove_shift(uow, actor(), now(), shift_id, of_member=employee_no)

    return _roster_change(employee_no, change, "Shift removed.", "shift")


@bp.post("/staff/<employee_no>/leave")
@admin_only
def leave_add(employee_no: str) -> Page:
    def change(uow: UnitOfWork) -> Any:
        first = admin.parse_day(form_value("first_day"), "first day")
        last = admin.parse_day(form_value("last_day"), "last day")
        return schedules.add_leave(
            uow, actor(), now(), employee_no, first, last, form_value("reason")
        )

    return _roster_change(employee_no, change, "Leave added.", "leave")


@bp.post("/staff/<employee_no>/leave/<int:leave_id>/remove")
@admin_only
def leave_remove(employee_no: str, leave_id: int) -> Page:
    def change(uow: UnitOfWork) -> None:
        schedules.remove_leave(uow, actor(), now(), leave_id, of_member=employee_no)

    return _roster_change(employee_no, change, "Leave removed.", "leave")


# ---------------------------------------------------------------- calendars


def _calendar_page(errors: dict[str, str], status: int = 200) -> Page:
    with app_services().uow() as uow:
        found = queries.calendars(uow.session)
    page = render_template(
        "console/admin/calendar.html",
        dates=found.dates,
        calendars=[(c, c) for c in found.codes],
        errors=errors,
        form=request.form,
    )
    return page, status


@bp.get("/calendar")
@admin_only
def calendar() -> Page:
    return _calendar_page({})


@bp.post("/calendar")
@admin_only
def calendar_add() -> Page:
    error = attempt(
        lambda uow: schedules.set_custom_date(
            uow,
            actor(),
            now(),
            admin.parse_day(form_value("day")),
            form_value("kind"),
            calendar=form_value("calendar") or None,
            name=form_value("name"),
        )
    )
    if error:
        return _calendar_page({"_form": error}, 400)
    _recompute_deadlines()
    flash(
        f"{form_value('day')} is now a {form_value('kind')}; open cases' deadlines follow.",
        "success",
    )
    return redirect(url_for("admin_schedule.calendar"))


@bp.post("/calendar/remove")
@admin_only
def calendar_remove() -> Page:
    error = attempt(
        lambda uow: schedules.remove_custom_date(
            uow,
            actor(),
            now(),
            admin.parse_day(form_value("day")),
            calendar=form_value("calendar") or None,
        )
    )
    if error:
        return _calendar_page({"_form": error}, 400)
    _recompute_deadlines()
    flash(f"{form_value('day')} follows the official calendar again.", "success")
    return redirect(url_for("admin_schedule.calendar"))


# ---------------------------------------------------------------- SLA policies


def _sla_page(errors: dict[str, str], status: int = 200, code: str = "") -> Page:
    with app_services().uow() as uow:
        found = queries.sla_policies(uow.session)
    catalog, versions, rules = found.catalog, found.versions, found.rules
    lengths = {c: cal.working_day_length for c, cal in catalog.calendars.items()}
    page = render_template(
        "console/admin/sla.html",
        versions=versions,
        rules=rules,
        calendars=[(c, c) for c in sorted(catalog.calendars)],
        day_hours={c: length.total_seconds() / 3600 for c, length in lengths.items()},
        errors=errors,
        form=request.form,
        editing=code,
    )
    return page, status


@bp.get("/sla")
@admin_only
def sla() -> Page:
    return _sla_page({})


@bp.post("/sla/<code>")
@admin_only
def sla_new_version(code: str) -> Page:
    def change(uow: UnitOfWork) -> Any:
        return admin.change_sla_policy_from_text(
            uow,
            actor(),
            now(),
            code,
            accept=form_value("accept"),
            resolve=form_value("resolve"),
            calendar=form_value("calendar") or None,
            name=form_value("name") or None,
        )

    error = attempt(change)
    if error:
        return _sla_page({"_form": error}, 400, code)
    _recompute_deadlines()
    flash(f"Policy {code} has a new version; open cases' deadlines follow.", "success")
    return redirect(url_for("admin_schedule.sla"))
