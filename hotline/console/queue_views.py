"""The triage queue: the cases waiting for an agent, oldest first, live.

The page is a table of `ticketing.reporting.queues.queue_page` under the viewer's
`case_filter`; its filters are GET parameters, so a filtered queue is a link. The
browser polls `/console/queue/changes` every few seconds with the stamp it was given and
reloads only the table (`?fragment=1`) when the stamp moves; most polls are answered by
one primary-key lookup (`queue_queries.unchanged_since`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, jsonify, render_template, request
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from hotline.console.base import console_blueprint, current_user, require_role, services
from ticketing.models.accounts import User, UserRole
from ticketing.models.catalogue import Category
from ticketing.models.places import Region, RegionLevel
from ticketing.people.visibility import case_filter
from ticketing.reporting import queues as qq
from ticketing.vocabulary.lifecycle import TicketStatus

bp = console_blueprint("queue", __name__, url_prefix="/console/queue")

VIEWERS = (
    UserRole.AGENT,
    UserRole.SUPERVISOR,
    UserRole.DISPATCHER,
    UserRole.GRID_MEMBER,
    UserRole.ADMIN,
)
CHANNELS = (
    ("phone", "Phone (IVR)"),
    ("sms", "SMS"),
    ("walk_in", "Walk-in"),
    ("agent_call", "Agent, live call"),
)
VIEW_LABELS = (
    ("waiting", "Waiting for an agent"),
    ("open", "All open"),
    ("overdue", "Overdue"),
    *((s.value, f"Status: {s.value}") for s in TicketStatus),
    ("all", "Every case"),
)
POLL_SECONDS = 5
MAX_AREA_CHOICES = 300  # the datalist of areas stops at streets in a big city


def default_view(user: User) -> str:
    """Agents triage; everyone else starts from the open cases of their area."""
    return "waiting" if user.role in (UserRole.AGENT, UserRole.ADMIN) else "open"


@dataclass(frozen=True)
class Request:
    filters: qq.QueueFilters
    after: qq.Cursor | None
    errors: dict[str, str]

    def params(self, **changes: str) -> dict[str, str]:
        """The filters as GET parameters (for links, the form, the poll)."""
        found = {
            "view": self.filters.view,
            "category": self.filters.category,
            "area": self.filters.area,
            "channel": self.filters.channel,
            "overdue": "1" if self.filters.overdue else "",
        }
        found.update(changes)
        return {k: v for k, v in found.items() if v}


def parse(user: User) -> Request:
    """The queue's filters from the query string; a value out of range is dropped and
    named in `errors`, never an error page."""
    args = request.args
    errors: dict[str, str] = {}
    view = args.get("view", "").strip() or default_view(user)
    if view not in qq.VIEWS:
        errors["view"] = f"there is no view {view!r}: showing the default"
        view = default_view(user)
    channel = args.get("channel", "").strip()
    if channel and channel not in dict(CHANNELS):
        errors["channel"] = f"there is no channel {channel!r}"
        channel = ""
    after = None
    if args.get("after"):
        after = qq.Cursor.parse(args["after"])
        if after is None:
            errors["after"] = "that page link is damaged: showing the first page"
    filters = qq.QueueFilters(
        view=view,
        category=args.get("category", "").strip()[:40],
        area=args.get("area", "").strip()[:32],
        channel=channel,
        overdue=args.get("overdue") in ("1", "on", "true"),
    )
    return Request(filters, after, errors)


def _check_names(session: Session, filters: qq.QueueFilters, errors: dict[str, str]) -> None:
    """Say so when a category or area code names nothing (the queue is then empty)."""
    if filters.category and not session.scalar(
        select(Category.id).where(Category.code == filters.category)
    ):
        errors["category"] = f"there is no category {filters.category!r}"
    if filters.area and not session.scalar(select(Region.id).where(Region.code == filters.area)):
        errors["area"] = f"there is no area {filters.area!r}"


def _choices(session: Session) -> dict[str, Any]:
    categories = session.execute(
        select(Category.code, Category.name_en).where(Category.active).order_by(Category.name_en)
    ).all()
    areas = session.execute(
        select(Region.code, Region.name_en, Region.level)
        .where(Region.level != RegionLevel.CITY)
        .order_by(Region.level, Region.code)
        .limit(MAX_AREA_CHOICES)
    ).all()
    return {
        "categories": [(code, name) for code, name in categories],
        "areas": [(code, f"{name} ({level})") for code, name, level in areas],
        "channels": CHANNELS,
        "views": VIEW_LABELS,
    }


def _count(
    session: Session, filters: qq.QueueFilters, visible: ColumnElement[bool], now: datetime
) -> int | None:
    """The queue's length for the waiting view, whose partial index keeps counting cheap;
    other views are a city's worth of cases, where even a capped count can read most of
    the table to find a rare match, so they say only whether more pages follow."""
    return qq.count_capped(session, filters, visible, now) if filters.view == "waiting" else None


@dataclass(frozen=True)
class Snapshot:
    """One page of the queue as the user sees it now, and the stamp the poll compares."""

    page: qq.QueuePage
    total: int | None
    stamp: str


def _snapshot(session: Session, user: User, wanted: Request, now: datetime) -> Snapshot:
    visible = case_filter(session, user)
    event_id = qq.last_event_id(session)  # read first: a later event then moves the stamp
    page = qq.queue_page(session, wanted.filters, visible, now, after=wanted.after)
    total = _count(session, wanted.filters, visible, now)
    return Snapshot(page, total, qq.change_stamp(page, total, event_id))


def _load(user: User, wanted: Request) -> dict[str, Any]:
    """Everything the table needs, read in one session."""
    app = services()
    now = app.clock()
    with app.uow() as uow:
        session = uow.session
        snapshot = _snapshot(session, user, wanted, now)
        _check_names(session, wanted.filters, wanted.errors)
        return {
            "page": snapshot.page,
            "total": snapshot.total,
            "cap": qq.COUNT_CAP,
            "stamp": snapshot.stamp,
            "now": now,
            "zone": app.settings.timezone,
            "wanted": wanted,
            "errors": wanted.errors,
            **_choices(session),
        }


@bp.get("")
@require_role(*VIEWERS)
def queue() -> str:
    user = current_user()
    context = _load(user, parse(user))
    if request.args.get("fragment"):
        return render_template("console/cases/_queue_table.html", **context)
    return render_template("console/cases/queue.html", poll_seconds=POLL_SECONDS, **context)


@bp.get("/changes")
@require_role(*VIEWERS)
def changes() -> Response:
    """{"changed": bool, "stamp": str}: whether the table the browser shows is stale."""
    user = current_user()
    since = request.args.get("since", "")[:80]
    app = services()
    with app.uow() as uow:
        if since and qq.unchanged_since(uow.session, since):
            return jsonify(changed=False, stamp=since)
    with app.uow() as uow:
        stamp = _snapshot(uow.session, user, parse(user), app.clock()).stamp
    changed = stamp.partition("-")[2] != since.partition("-")[2]
    return jsonify(changed=changed, stamp=stamp)
