"""The leaders' dashboard page and its CSV exports, scoped to what the viewer may see.

Supervisors see their area, dispatchers their department's cases, agents and
administrators the whole city; grid members have their queue instead. Every figure comes
from `ticketing.reporting.dashboards` with the viewer's `case_filter`, so a page and its exports
can never disagree about scope. Chart data is embedded in the page as JSON and drawn by
`dashboard.js` with the vendored Chart.js and Leaflet: no request leaves our server unless
HOTLINE_MAP_TILES names a tile server.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Response, abort, current_app, render_template
from sqlalchemy.exc import CompileError
from sqlalchemy.orm import Session

from hotline.console.base import console_blueprint, current_user, require_role, serves
from hotline.web.context import app_services
from ticketing.models.accounts import User, UserRole
from ticketing.reporting import dashboards
from ticketing.reporting import tables as dashboard_tables
from ticketing.reporting.assessment import COLUMNS, cells

log = logging.getLogger(__name__)

bp = console_blueprint("dashboard", __name__, url_prefix="/console/dashboard")

VIEWERS = (UserRole.SUPERVISOR, UserRole.DISPATCHER, UserRole.ADMIN, UserRole.AGENT)
OVERDUE_ON_PAGE = 20
TREND_WEEKS = 8
# The month's assessment reads every case of the month (150-250 ms at 100,000 cases);
# leaders' monthly figures may be this many seconds old, and until 15 minutes old while
# newer ones are computed behind the page (figure_cache.py). Counts, the overdue list and
# the map are always live. Tests and admins may set it in app.config (0: never kept).
ASSESSMENT_CACHE_SECONDS = 60.0
# A tile URL template such as https://tiles.example.org/{z}/{x}/{y}.png; empty: no tiles.
_TILES = re.compile(r"^(https?://|/)\S*\{z\}\S*\{x\}\S*\{y\}\S*$")


def map_tiles() -> str:
    """The tile server to draw under the grids, if one is configured and looks like one."""
    url = str(current_app.config.get("HOTLINE_MAP_TILES") or app_services().settings.map_tiles)
    if url and not _TILES.match(url):
        log.warning("HOTLINE_MAP_TILES is not a {z}/{x}/{y} URL template; drawing no tiles")
        return ""
    return url


def _scope(session: Session, user: User) -> tuple[str, dashboard_tables.Scope]:
    """The viewer's scope and its name on the page."""
    services = app_services()
    now, zone = services.clock(), services.settings.timezone
    return dashboard_tables.scope_for(session, user, now, zone, TREND_WEEKS)


def _assessment(scope: dashboard_tables.Scope) -> Callable[[], dashboards.Assessment]:
    """Start getting the assessment for this scope from the app's figure cache, keyed by
    the exact WHERE clause (so two viewers share figures only when they see the same
    cases); call the result once the request's own unit of work is closed."""
    ttl = float(
        current_app.config.get("DASHBOARD_ASSESSMENT_CACHE_SECONDS", ASSESSMENT_CACHE_SECONDS)
    )
    try:
        where = str(scope.where.compile(compile_kwargs={"literal_binds": True}))
    except CompileError:  # a filter with a value SQL text cannot show: do not keep it
        ttl, where = 0.0, ""
    period = scope.now.astimezone(scope.zone).strftime("%Y-%m")
    services = app_services()
    cache = services.figures
    condition, zone, level = scope.where, scope.zone, scope.level

    def compute() -> dashboards.Assessment:
        with services.uow() as uow:
            now = services.clock()
            return dashboards.assessment_by_subarea(uow.session, condition, now, zone, level)

    pending = cache.get((where, level.value, period), compute, ttl)
    return lambda: pending().value


def _chart_data(
    status: tuple[dashboards.Count, ...],
    intake: dashboards.Intake,
    trend: dashboards.Trend,
    grids: tuple[dashboards.GridLoad, ...],
) -> dict[str, Any]:
    """What dashboard.js draws, as plain JSON."""
    return {
        "status": {"labels": [c.label for c in status], "counts": [c.count for c in status]},
        "intake": {
            "labels": [c.label for c in intake.by_category],
            "counts": [c.count for c in intake.by_category],
        },
        "trend": {
            "weeks": list(trend.weeks),
            "series": [{"label": s.label, "counts": list(s.counts)} for s in trend.series],
        },
        "grids": [
            {
                "code": g.code,
                "name": g.name,
                "open": g.open,
                "overdue": g.overdue,
                "centre": [g.centre_lat, g.centre_lon],
                "polygon": g.polygon,
            }
            for g in grids
        ],
    }


@bp.get("")
@require_role(*VIEWERS)
def page() -> str:
    user = current_user()
    with app_services().uow() as uow:
        area, scope = _scope(uow.session, user)
        pending = _assessment(scope)  # in a worker meanwhile, if it must be computed
        figures = dashboard_tables.live(scope, OVERDUE_ON_PAGE)
    now, zone = scope.now, scope.zone
    status, grids, late = figures.status, figures.grids, figures.overdue
    intake, trend = figures.intake, figures.trend
    table = pending()
    return render_template(
        "console/dashboard/page.html",
        area=area,
        now_local=now.astimezone(zone),
        zone=zone,
        status=status,
        open_total=sum(c.count for c in status),
        overdue=late,
        intake=intake,
        grids=grids,
        trend=trend,
        assessment=table,
        assessment_columns=COLUMNS,
        assessment_cells=[cells(row) for row in table.rows],
        chart_data=_chart_data(status, intake, trend, grids),
        tiles=map_tiles(),
        case_pages=serves("/console/cases/X"),
        tables=list(dashboard_tables.TABLES),
    )


@bp.get("/<name>.csv")
@require_role(*VIEWERS)
def export(name: str) -> Response:
    export_table = dashboard_tables.TABLES.get(name)
    if export_table is None:
        abort(404)
    user = current_user()
    with app_services().uow() as uow:
        _, scope = _scope(uow.session, user)
        pending = _assessment(scope) if name == "assessment" else None
        rows = export_table(scope) if pending is None else []
    if pending is not None:  # the same (possibly kept) figures as the page
        rows = dashboard_tables.assessment_rows(pending())
    stamp = _stamp(scope.now.astimezone(scope.zone))
    return Response(
        dashboard_tables.csv_text(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="dashboard-{name}-{stamp}.csv"'},
    )


def _stamp(local: datetime) -> str:
    return local.strftime("%Y%m%d-%H%M")
