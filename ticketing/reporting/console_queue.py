"""What the console's queue page reads: one page of cases under the viewer's filter, its
count where that is cheap, the stamp its poll compares, and the choices of its filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ticketing.models.accounts import User
from ticketing.models.catalogue import Category
from ticketing.models.places import Region, RegionLevel
from ticketing.people.visibility import case_filter
from ticketing.reporting import queues as qq

MAX_AREA_CHOICES = 300  # the datalist of areas stops at streets in a big city


@dataclass(frozen=True)
class Snapshot:
    """One page of the queue as the user sees it now, and the stamp the poll compares."""

    page: qq.QueuePage
    total: int | None
    stamp: str


@dataclass(frozen=True)
class QueueScreen:
    """The queue page: its cases, the filters that name nothing, the filters' choices."""

    snapshot: Snapshot
    unknown: dict[str, str]  # filter -> why it names nothing (the queue is then empty)
    categories: list[tuple[str, str]]  # active categories: code, English name
    areas: list[tuple[str, str, RegionLevel]]  # regions below the city: code, name, level


def queue_screen(
    session: Session, user: User, filters: qq.QueueFilters, after: qq.Cursor | None, now: datetime
) -> QueueScreen:
    """Everything the queue page shows, read in one session."""
    snapshot = _snapshot(session, user, filters, after, now)
    categories = session.execute(
        select(Category.code, Category.name_en).where(Category.active).order_by(Category.name_en)
    ).all()
    areas = session.execute(
        select(Region.code, Region.name_en, Region.level)
        .where(Region.level != RegionLevel.CITY)
        .order_by(Region.level, Region.code)
        .limit(MAX_AREA_CHOICES)
    ).all()
    return QueueScreen(
        snapshot,
        _unknown_names(session, filters),
        [(code, name) for code, name in categories],
        [(code, name, level) for code, name, level in areas],
    )


def poll(
    session: Session,
    user: User,
    filters: qq.QueueFilters,
    after: qq.Cursor | None,
    since: str,
    now: datetime,
) -> tuple[bool, str]:
    """Whether the table a browser shows with stamp `since` is stale, and the stamp now;
    most polls are answered by one primary-key lookup (`queues.unchanged_since`)."""
    if since and qq.unchanged_since(session, since):
        return False, since
    stamp = _snapshot(session, user, filters, after, now).stamp
    return stamp.partition("-")[2] != since.partition("-")[2], stamp


def _unknown_names(session: Session, filters: qq.QueueFilters) -> dict[str, str]:
    """Say so when a category or area code names nothing (the queue is then empty)."""
    errors = {}
    if filters.category and not session.scalar(
        select(Category.id).where(Category.code == filters.category)
    ):
        errors["category"] = f"there is no category {filters.category!r}"
    if filters.area and not session.scalar(select(Region.id).where(Region.code == filters.area)):
        errors["area"] = f"there is no area {filters.area!r}"
    return errors


def _count(
    session: Session, filters: qq.QueueFilters, visible: ColumnElement[bool], now: datetime
) -> int | None:
    """The queue's length for the waiting view, whose partial index keeps counting cheap;
    other views are a city's worth of cases, where even a capped count can read most of
    the table to find a rare match, so they say only whether more pages follow."""
    return qq.count_capped(session, filters, visible, now) if filters.view == "waiting" else None


def _snapshot(
    session: Session, user: User, filters: qq.QueueFilters, after: qq.Cursor | None, now: datetime
) -> Snapshot:
    visible = case_filter(session, user)
    event_id = qq.last_event_id(session)  # read first: a later event then moves the stamp
    page = qq.queue_page(session, filters, visible, now, after=after)
    total = _count(session, filters, visible, now)
    return Snapshot(page, total, qq.change_stamp(page, total, event_id))
