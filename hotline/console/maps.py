"""What the console's map pages share: the process's place index, where the map opens,
and reading a place or a map click from a form.

The `Locator` (the gazetteer and the grids' outlines in memory) is built once per process
and database and rebuilt when a cheap stamp moves: the count and highest id of grids and
places (a first load, seeding) and the id of the newest grid import in the audit log, so an
import that only redraws outlines (same grids, same ids) is noticed too. Every web process
reads the stamp from the database, so all of them notice an import made by any of them.
"""

from __future__ import annotations

import math
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketing.exceptions import InvalidInput
from ticketing.models.accounts import AuditEntry
from ticketing.models.places import Grid, Place
from ticketing.places.indexes import Locator

# The audit actions of the imports that can redraw grids or move places.
LOCATOR_ACTIONS = ("grids.import",)

_lock = threading.Lock()
_locators: dict[str, tuple[tuple[int, ...], Locator]] = {}


def locator_stamp(session: Session) -> tuple[int, ...]:
    """Changes whenever the grids or places the Locator was built from may have changed:
    one statement of aggregates over primary keys."""
    stamp = select(
        select(func.count(Grid.id)).scalar_subquery(),
        select(func.max(Grid.id)).scalar_subquery(),
        select(func.count(Place.id)).scalar_subquery(),
        select(func.max(Place.id)).scalar_subquery(),
        select(func.max(AuditEntry.id))
        .where(AuditEntry.action.in_(LOCATOR_ACTIONS))
        .scalar_subquery(),
    )
    return tuple(int(v or 0) for v in session.execute(stamp).one())


def locator(session: Session) -> Locator:
    """The process's place index for this database, rebuilt when an import changed it."""
    key = str(session.get_bind().engine.url)
    stamp = locator_stamp(session)
    with _lock:
        cached = _locators.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        built = Locator.load(session)
        _locators[key] = (stamp, built)
        return built


def city_bounds(session: Session) -> list[list[float]] | None:
    """The box around every grid's centre, where the map opens."""
    row = session.execute(
        select(
            func.min(Grid.centre_lat),
            func.min(Grid.centre_lon),
            func.max(Grid.centre_lat),
            func.max(Grid.centre_lon),
        )
    ).one()
    if row[0] is None:
        return None
    return [[row[0], row[1]], [row[2], row[3]]]


def parse_point(lat: str, lon: str) -> tuple[float, float] | None:
    """A map click's coordinates, None when none were sent; InvalidInput if unreadable."""
    if not lat.strip() and not lon.strip():
        return None
    try:
        point = float(lat), float(lon)
    except ValueError as exc:
        raise InvalidInput(f"{lat!r}, {lon!r} is not a point on the map") from exc
    if not all(math.isfinite(v) for v in point):
        raise InvalidInput(f"{lat!r}, {lon!r} is not a point on the map")
    return point


def parse_place_id(value: str) -> int | None:
    """A gazetteer place chosen in a form, None when none was; InvalidInput if unreadable."""
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise InvalidInput(f"{value!r} is not a place of the gazetteer")
    return int(value)
