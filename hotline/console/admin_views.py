"""The administration pages under /console/admin, for administrators only: the overview,
imports, categories and the audit log (rosters, calendar and SLA policies are in
`admin_schedule_views`).

Thin views over `ticketing.admin.grid_import`, `ticketing.admin.staff_import` and
`ticketing.admin.services`: each form is parsed, handed to one service call (which
validates, audits and commits), and either redirected with a message or shown again with
the reason and status 400. The pages read through `ticketing.admin.queries`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from hotline.console.base import actor, console_blueprint, require_role
from hotline.web.context import app_services
from hotline.web.inputs import query_id
from ticketing.admin import queries
from ticketing.admin import services as admin
from ticketing.admin.grid_import import import_grids
from ticketing.admin.imports import ImportResult
from ticketing.admin.staff_import import HEADER, import_staff
from ticketing.exceptions import DomainError
from ticketing.models.accounts import UserRole
from ticketing.people.audit import every_change, recent_changes
from ticketing.reporting.tables import spreadsheet_safe
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import Priority

bp = console_blueprint("admin", __name__, url_prefix="/console/admin")
admin_only = require_role(UserRole.ADMIN)

MAX_UPLOAD = 200 * 1024 * 1024  # a city of 100,000 grids is about 30 MB of GeoJSON
AUDIT_PAGE = 100
Page = str | tuple[str, int] | WerkzeugResponse


def form_value(name: str) -> str:
    """A stripped form field, "" when absent."""
    return request.form.get(name, "").strip()


def attempt(change: Callable[[UnitOfWork], Any]) -> str | None:
    """Run one service call in its own unit of work: None, or why it was refused."""
    try:
        with app_services().uow() as uow:
            change(uow)
    except DomainError as exc:
        return str(exc)
    return None


def now() -> datetime:
    """The services' clock (tests move it)."""
    return app_services().clock()


@bp.get("")
@admin_only
def index() -> Page:
    with app_services().uow() as uow:
        found = queries.overview(uow.session)
    return render_template("console/admin/index.html", counts=found.counts, recent=found.recent)


# ---------------------------------------------------------------- imports


@bp.get("/import")
@admin_only
def import_page() -> Page:
    return render_template("console/admin/import.html", result=None, error="", header=HEADER)


@bp.post("/import")
@admin_only
def import_post() -> Page:
    kind = form_value("kind")
    upload = request.files.get("file")
    importer = {"grids": import_grids, "staff": import_staff}.get(kind)
    error = ""
    result: ImportResult | None = None
    if importer is None:
        error = "Choose what to import: grids or staff."
    elif upload is None or not upload.filename:
        error = f"Choose a {'GeoJSON' if kind == 'grids' else 'CSV'} file to upload."
    elif (request.content_length or 0) > MAX_UPLOAD:
        error = "The file is over 200 MB: import it with `hotline import` on the server."
    else:
        data = upload.read()
        with app_services().uow() as uow:
            result = importer(uow, data, actor(), now(), filename=upload.filename)
        if result.ok:
            flash(result.summary(), "success")
            return redirect(url_for("admin.import_page"))
    page = render_template("console/admin/import.html", result=result, error=error, header=HEADER)
    return page, 400


# ---------------------------------------------------------------- categories


def _category_page(errors: dict[str, str], status: int = 200, **values: Any) -> Page:
    with app_services().uow() as uow:
        found = queries.categories(uow.session)
    page = render_template(
        "console/admin/categories.html",
        categories=found.categories,
        departments=found.departments,
        department_names=found.department_names,
        priorities=[(p.value, p.value) for p in Priority],
        errors=errors,
        values=values,
    )
    return page, status


@bp.get("/categories")
@admin_only
def categories() -> Page:
    return _category_page({})


@bp.post("/categories")
@admin_only
def category_add() -> Page:
    values = {k: form_value(k) for k in ("code", "name_en", "name_zh", "department", "priority")}
    error = attempt(
        lambda uow: admin.add_category(
            uow,
            actor(),
            now(),
            code=values["code"],
            name_en=values["name_en"],
            name_zh=values["name_zh"],
            department=values["department"],
            default_priority=values["priority"],
        )
    )
    if error:
        return _category_page({"_form": error}, 400, **values)
    flash(f"Category {values['code']} added.", "success")
    return redirect(url_for("admin.categories"))


def _edit_page(code: str, errors: dict[str, str], status: int = 200) -> Page:
    with app_services().uow() as uow:
        found = queries.category_form(uow.session, code)
        if found is None:
            abort(404, f"There is no category {code!r}.")
        page = render_template(
            "console/admin/category.html",
            category=found.category,
            department=found.department,
            departments=found.departments,
            priorities=[(p.value, p.value) for p in Priority],
            errors=errors,
        )
    return page, status


@bp.get("/categories/<code>")
@admin_only
def category_edit(code: str) -> Page:
    return _edit_page(code, {})


@bp.post("/categories/<code>")
@admin_only
def category_save(code: str) -> Page:
    error = attempt(
        lambda uow: admin.update_category(
            uow,
            actor(),
            now(),
            code,
            name_en=form_value("name_en"),
            name_zh=form_value("name_zh"),
            department=form_value("department"),
            default_priority=form_value("priority"),
            active=request.form.get("active") == "on",
        )
    )
    if error:
        return _edit_page(code, {"_form": error}, 404 if error.startswith("no category") else 400)
    flash(f"Category {code} saved.", "success")
    return redirect(url_for("admin.categories"))


# ---------------------------------------------------------------- the audit log


@bp.get("/audit")
@admin_only
def audit() -> Page:
    before = query_id("before")
    with app_services().uow() as uow:
        entries = recent_changes(uow.session, AUDIT_PAGE, before=before)
    older = entries[-1].id if len(entries) == AUDIT_PAGE else None
    return render_template("console/admin/audit.html", entries=entries, older=older)


@bp.get("/audit.csv")
@admin_only
def audit_csv() -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", "actor", "source_ip", "action", "target", "data"])
    with app_services().uow() as uow:
        for e in every_change(uow.session):
            data = ";".join(f"{k}={v}" for k, v in e.data.items())
            cells = (e.actor, e.source_ip, e.action, e.target, data)
            writer.writerow([e.id, e.at.isoformat(), *(spreadsheet_safe(c) for c in cells)])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=audit_log.csv"},
    )
