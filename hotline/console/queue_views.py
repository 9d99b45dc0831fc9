"""The triage queue: the cases waiting for an agent, oldest first, live.

The page is a table of `ticketing.reporting.queues.queue_page` under the viewer's
`case_filter`; its filters are GET parameters, so a filtered queue is a link. The
browser polls `/console/queue/changes` every few seconds with the stamp it was given and
reloads only the table (`?fragment=1`) when the stamp moves; most polls are answered by
one primary-key lookup (`queues.unchanged_since`). Its reads are
`ticketing.reporting.console_queue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, render_template, request

from hotline.console.base import console_blueprint, current_user, require_role
from hotline.web.context import app_services
from ticketing.models.accounts import User, UserRole
from ticketing.reporting import console_queue
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


def _load(user: User, wanted: Request) -> dict[str, Any]:
    """Everything the table needs, read in one session."""
    app = app_services()
    now = app.clock()
    with app.uow() as uow:
        screen = console_queue.queue_screen(uow.session, user, wanted.filters, wanted.after, now)
    wanted.errors.update(screen.unknown)
    snapshot = screen.snapshot
    return {
        "page": snapshot.page,
        "total": snapshot.total,
        "cap": qq.COUNT_CAP,
        "stamp": snapshot.stamp,
        "now": now,
        "zone": app.settings.timezone,
        "wanted": wanted,
        "errors": wanted.errors,
        "categories": screen.categories,
        "areas": [(code, f"{name} ({level})") for code, name, level in screen.areas],
        "channels": CHANNELS,
        "views": VIEW_LABELS,
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
    wanted = parse(user)
    app = app_services()
    with app.uow() as uow:
        changed, stamp = console_queue.poll(
            uow.session, user, wanted.filters, wanted.after, since, app.clock()
        )
    return jsonify(changed=changed, stamp=stamp)
