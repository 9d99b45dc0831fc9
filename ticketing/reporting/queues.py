"""What the console reads: the triage queue, its change stamp, and everything about one case.

Read-only queries, shaped for speed on a city's worth of cases. The queue walks an index
in (created_at, id) order and stops at the page's size, so its cost follows the page, not
the number of cases: the waiting cases have a partial index of their own (migration 0007),
and every other view is a status, category, grid or department index. Pages are keyset
(the last row's time and id), so page 40 costs what page 1 does. Each filter narrows the
same WHERE clause as the caller's visibility rule (`ticketing.people.visibility.case_filter`),
which arrives as an argument so these queries never decide who sees what.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, or_, select, true
from sqlalchemy.orm import Session, selectinload

from ticketing.models.cases import Ticket, TicketEvent
from ticketing.models.catalogue import Category
from ticketing.models.places import Grid, Place, Region
from ticketing.models.sla import Escalation
from ticketing.people.visibility import region_ids_under
from ticketing.sla.ladder import Clock, Level
from ticketing.vocabulary.events import EventKind
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TicketStatus

PAGE_SIZE = 50
COUNT_CAP = 1000
MAX_PAGE_SIZE = 200
DUPLICATE_WINDOW = timedelta(days=3)
DUPLICATE_METRES = 300.0
DUPLICATE_LIMIT = 8
LEVEL_ORDER = {level: i for i, level in enumerate(Level)}

# Rendered as literals, not parameters, so PostgreSQL can match the partial indexes whose
# predicates name the same statuses (a parameter would hide the values from the planner).
_OPEN: BindParameter[list[str]] = bindparam(
    "open_statuses", sorted(OPEN_STATUSES), expanding=True, literal_execute=True
)

VIEWS = ("waiting", "open", "overdue", "all", *(s.value for s in TicketStatus))


def waiting_for_an_agent() -> ColumnElement[bool]:
    """The triage queue: open cases nobody is routed to. A new case stays `new` only when
    routing found nobody; a returned one and a re-route that found nobody set the same
    flag; assigning clears it. So the flag, among open cases, is the whole rule."""
    return and_(Ticket.needs_triage == true(), Ticket.status.in_(_OPEN))


@dataclass(frozen=True)
class QueueFilters:
    """What the agent narrowed the queue to; empty values do not filter."""

    view: str = "waiting"  # waiting | open | overdue | all | a status
    category: str = ""  # a category code
    area: str = ""  # a region code, any level
    channel: str = ""  # the case's source: phone, sms, walk_in, agent_call, ...
    overdue: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (created_at, id)."""

    created_at: datetime
    id: int

    def token(self) -> str:
        return f"{self.created_at.isoformat()}_{self.id}"

    @classmethod
    def parse(cls, token: str) -> Cursor | None:
        """The cursor in a token, None for an empty or a tampered one."""
        at, _, ident = token.rpartition("_")
        try:
            when = datetime.fromisoformat(at)
            return cls(when, int(ident)) if when.tzinfo is not None else None
        except ValueError:
            return None


@dataclass(frozen=True)
class QueueRow:
    id: int
    number: str
    status: TicketStatus
    priority: str
    category: str
    category_name: str
    place: str
    source: str
    description: str
    created_at: datetime
    updated_at: datetime
    accept_by: datetime | None
    resolve_by: datetime | None
    escalation: Level | None
    needs_triage: bool
    triage_reason: str | None
    possible_duplicate: bool

    def overdue(self, now: datetime) -> bool:
        return any(d is not None and d < now for d in (self.accept_by, self.resolve_by))

    @property
    def deadline(self) -> datetime | None:
        """The next deadline that matters: accept while unaccepted, else resolve."""
        return self.accept_by or self.resolve_by


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: Cursor | None


def _region_ids(session: Session, code: str) -> list[int] | None:
    region = session.scalar(select(Region.id).where(Region.code == code))
    return None if region is None else region_ids_under(session, region)


def filter_clause(
    session: Session, filters: QueueFilters, visible: ColumnElement[bool], now: datetime
) -> ColumnElement[bool]:
    """The WHERE clause of a queue view: visibility, the view's statuses, the filters.
    An unknown category or area matches nothing (the page says so), rather than
    silently showing everything."""
    parts: list[ColumnElement[bool]] = [visible]
    view = filters.view or "waiting"
    if view == "waiting":
        parts.append(waiting_for_an_agent())
    elif view in ("open", "overdue"):
        parts.append(Ticket.status.in_(_OPEN))
    elif view != "all":
        parts.append(Ticket.status == TicketStatus(view))
    if view == "overdue" or filters.overdue:
        parts.append(or_(Ticket.accept_by < now, Ticket.resolve_by < now))
    if filters.category:
        category_id = session.scalar(select(Category.id).where(Category.code == filters.category))
        parts.append(Ticket.category_id == (category_id or -1))
    if filters.area:
        # A case in a grid has that grid's community too, so the community says it all.
        parts.append(Ticket.community_id.in_(_region_ids(session, filters.area) or [-1]))
    if filters.channel:
        parts.append(Ticket.source == filters.channel)
    return and_(*parts)


def queue_page(
    session: Session,
    filters: QueueFilters,
    visible: ColumnElement[bool],
    now: datetime,
    *,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """One page of the queue, oldest first, with deadlines and escalation levels."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    where = filter_clause(session, filters, visible, now)
    if after is not None:
        where = and_(
            where,
            or_(
                Ticket.created_at > after.created_at,
                and_(Ticket.created_at == after.created_at, Ticket.id > after.id),
            ),
        )
    rows = session.execute(
        select(
            Ticket.id,
            Ticket.number,
            Ticket.status,
            Ticket.priority,
            Category.code,
            Category.name_en,
            Grid.code,
            Grid.name,
            Region.name_en,
            Ticket.source,
            func.substr(Ticket.description, 1, 140),
            Ticket.created_at,
            Ticket.updated_at,
            Ticket.accept_by,
            Ticket.resolve_by,
            Ticket.needs_triage,
            Ticket.triage_reason,
            Ticket.possible_duplicate_of_id,
        )
        .join(Category, Category.id == Ticket.category_id)
        .outerjoin(Grid, Grid.id == Ticket.grid_id)
        .outerjoin(Region, Region.id == Ticket.community_id)
        .where(where)
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    levels = escalation_levels(session, [r[0] for r in rows])
    page = [
        QueueRow(
            id=r[0],
            number=r[1],
            status=r[2],
            priority=r[3].value,
            category=r[4],
            category_name=r[5],
            place=f"{r[6]} {r[7]}" if r[6] else (r[8] or "place unknown"),
            source=r[9],
            description=r[10] or "",
            created_at=r[11],
            updated_at=r[12],
            accept_by=r[13],
            resolve_by=r[14],
            escalation=levels.get(r[0]),
            needs_triage=r[15],
            triage_reason=r[16],
            possible_duplicate=r[17] is not None,
        )
        for r in rows
    ]
    last = page[-1] if more and page else None
    return QueuePage(page, Cursor(last.created_at, last.id) if last else None)


def count_capped(
    session: Session,
    filters: QueueFilters,
    visible: ColumnElement[bool],
    now: datetime,
    cap: int = COUNT_CAP,
) -> int:
    """How many cases the view holds, counting no further than `cap` (the page says
    "1000+"): an exact count of a city's open cases would cost more than the page."""
    capped = (
        select(Ticket.id).where(filter_clause(session, filters, visible, now)).limit(cap + 1)
    ).subquery()
    return int(session.scalar(select(func.count()).select_from(capped)) or 0)


def last_event_id(session: Session) -> int:
    """The newest event anywhere: every change to a case writes one, so while it stays
    the same no view can have changed (one primary-key lookup)."""
    return int(session.scalar(select(func.max(TicketEvent.id))) or 0)


def change_stamp(page: QueuePage, total: int | None, event_id: int) -> str:
    """A short string that changes when what the page shows does: its rows (each row's
    `updated_at` moves with every event), its count, or the next page. The newest event
    id leads it, so `unchanged_since` can answer most polls without running the view."""
    digest = hashlib.sha1(usedforsecurity=False)
    for row in page.rows:
        digest.update(f"{row.id}:{row.updated_at.isoformat()};".encode())
    digest.update(f"{total}:{page.next_cursor.token() if page.next_cursor else ''}".encode())
    return f"{event_id}-{digest.hexdigest()[:16]}"


def unchanged_since(session: Session, stamp: str) -> bool:
    """True when no event was written since `stamp` was made: nothing can differ."""
    event_id, _, _ = stamp.partition("-")
    return event_id.isdigit() and int(event_id) == last_event_id(session)


def escalation_levels(session: Session, ticket_ids: Sequence[int]) -> dict[int, Level]:
    """The highest rung fired on each case's running clocks (rungs of an earlier
    assignment or deadline version no longer count)."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(
            Escalation.ticket_id,
            Escalation.clock,
            Escalation.level,
            Escalation.deadline_version,
            Ticket.assignment_version,
            Ticket.deadline_version,
        )
        .join(Ticket, Ticket.id == Escalation.ticket_id)
        .where(Escalation.ticket_id.in_(ticket_ids))
    ).all()
    found: dict[int, Level] = {}
    for ticket_id, clock, level, version, accept_version, resolve_version in rows:
        current = accept_version if clock == Clock.ACCEPT else resolve_version
        if version != current:
            continue
        rung = Level(level)
        if ticket_id not in found or LEVEL_ORDER[rung] > LEVEL_ORDER[found[ticket_id]]:
            found[ticket_id] = rung
    return found


# ---------------------------------------------------------------- one case


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float | None
    engine: str
    at: datetime


@dataclass(frozen=True)
class Duplicate:
    number: str
    status: TicketStatus
    created_at: datetime
    place: str
    description: str
    why: str  # "flagged at registration", "same grid", "within 300 m"


@dataclass
class CaseDetail:
    ticket: Ticket  # with category, grid, community, assignee, department, events loaded
    place: Place | None
    polygon: dict[str, Any] | None
    escalation: Level | None
    escalations: list[Escalation]
    transcript: Transcript | None
    callback: TicketEvent | None  # the latest callback request not yet noted done
    duplicates: list[Duplicate] = field(default_factory=list)
    merged_in: list[str] = field(default_factory=list)


def case_detail(
    session: Session, number: str, visible: ColumnElement[bool], now: datetime
) -> CaseDetail | None:
    """Everything the case page shows, or None if there is no such case the caller may
    see (the page answers both the same way)."""
    ticket = session.scalars(
        select(Ticket)
        .where(Ticket.number == number, visible)
        .options(
            selectinload(Ticket.category),
            selectinload(Ticket.grid),
            selectinload(Ticket.community),
            selectinload(Ticket.assignee),
            selectinload(Ticket.department),
            selectinload(Ticket.events),
            selectinload(Ticket.merged_into),
        )
    ).one_or_none()
    if ticket is None:
        return None
    escalations = list(
        session.scalars(
            select(Escalation).where(Escalation.ticket_id == ticket.id).order_by(Escalation.id)
        )
    )
    merged_in = list(
        session.scalars(
            select(Ticket.number).where(Ticket.merged_into_id == ticket.id).order_by(Ticket.id)
        )
    )
    return CaseDetail(
        ticket=ticket,
        place=session.get(Place, ticket.place_id) if ticket.place_id else None,
        polygon=ticket.grid.polygon if ticket.grid else None,
        escalation=escalation_levels(session, [ticket.id]).get(ticket.id),
        escalations=escalations,
        transcript=_transcript(ticket.events),
        callback=_open_callback(ticket.events),
        duplicates=likely_duplicates(session, ticket, visible),
        merged_in=merged_in,
    )


def _transcript(events: Sequence[TicketEvent]) -> Transcript | None:
    """The recogniser's last reading of the recording (`services.attach_transcript`)."""
    heard = [e for e in events if e.kind == EventKind.TRANSCRIBED]
    if not heard:
        return None
    last = heard[-1]
    confidence = last.data.get("confidence")
    return Transcript(
        last.note,
        float(confidence) if isinstance(confidence, int | float) else None,
        str(last.data.get("engine", "")),
        last.at,
    )


def _open_callback(events: Sequence[TicketEvent]) -> TicketEvent | None:
    """The latest callback request, unless a note was written after it (the note says
    how the call went)."""
    latest: TicketEvent | None = None
    for event in events:
        if event.kind == EventKind.CALLBACK_REQUESTED:
            latest = event
        elif event.kind == EventKind.NOTE and latest is not None:
            latest = None
    return latest


def likely_duplicates(
    session: Session, ticket: Ticket, visible: ColumnElement[bool]
) -> list[Duplicate]:
    """Open cases of the same category reported close by within a few days either side:
    the one flagged at registration, the same grid, or within 300 m of the point. One
    query on the (category, status, created_at) index; only cases the caller may see."""
    near: list[ColumnElement[bool]] = []
    if ticket.possible_duplicate_of_id is not None:
        near.append(Ticket.id == ticket.possible_duplicate_of_id)
    if ticket.grid_id is not None:
        near.append(Ticket.grid_id == ticket.grid_id)
    if ticket.lat is not None and ticket.lon is not None:
        d_lat = DUPLICATE_METRES / 111_320
        d_lon = d_lat / max(math.cos(math.radians(ticket.lat)), 0.01)
        near.append(
            and_(
                Ticket.lat.between(ticket.lat - d_lat, ticket.lat + d_lat),
                Ticket.lon.between(ticket.lon - d_lon, ticket.lon + d_lon),
            )
        )
    near.append(Ticket.possible_duplicate_of_id == ticket.id)
    rows = session.execute(
        select(
            Ticket.id,
            Ticket.number,
            Ticket.status,
            Ticket.created_at,
            Ticket.grid_id,
            Grid.code,
            Region.name_en,
            func.substr(Ticket.description, 1, 140),
            Ticket.possible_duplicate_of_id,
        )
        .outerjoin(Grid, Grid.id == Ticket.grid_id)
        .outerjoin(Region, Region.id == Ticket.community_id)
        .where(
            Ticket.category_id == ticket.category_id,
            Ticket.status.in_(_OPEN),
            Ticket.created_at.between(
                ticket.created_at - DUPLICATE_WINDOW, ticket.created_at + DUPLICATE_WINDOW
            ),
            Ticket.id != ticket.id,
            or_(*near),
            visible,
        )
        .order_by(Ticket.created_at, Ticket.id)
        .limit(DUPLICATE_LIMIT)
    ).all()
    found = []
    for ident, number, status, created, grid_id, grid_code, community, text, of in rows:
        if ident == ticket.possible_duplicate_of_id:
            why = "flagged at registration"
        elif of == ticket.id:
            why = "flagged this case as its duplicate"
        elif grid_id is not None and grid_id == ticket.grid_id:
            why = "same grid"
        else:
            why = f"within {DUPLICATE_METRES:.0f} m"
        found.append(
            Duplicate(number, status, created, grid_code or community or "?", text or "", why)
        )
    return found
