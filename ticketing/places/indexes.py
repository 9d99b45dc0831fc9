"""Building the in-memory place indexes from the database: grids and the gazetteer.

Both are built once per process and kept: point-in-polygon over a city's 100,000 grids
and fuzzy search over its places must answer in microseconds and milliseconds, which a
query per lookup cannot. Rebuild them when grids or places are imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from ticketing.models.accounts import AuditEntry
from ticketing.models.places import Grid, Place
from ticketing.places.gazetteer import Gazetteer, Match, PlaceEntry
from ticketing.places.geo import GridIndex


def grid_index(session: Session) -> GridIndex:
    """Every grid's polygon, read as GeoJSON text (decoding it in Python costs as much
    again as building the index)."""
    rows = session.execute(select(Grid.code, cast(Grid.polygon, Text)).order_by(Grid.code))
    return GridIndex([(code, text) for code, text in rows])


def gazetteer(session: Session) -> Gazetteer:
    rows = session.execute(
        select(Place.id, Place.name_en, Place.name_zh, Place.kind, Place.lat, Place.lon, Grid.code)
        .outerjoin(Grid, Grid.id == Place.grid_id)
        .order_by(Place.id)
    )
    return Gazetteer(PlaceEntry(*row) for row in rows)


@dataclass(frozen=True)
class Located:
    """A place a caller or agent named, with the grid it lies in."""

    match: Match
    grid_code: str | None


class Locator:
    """Text or a point to a grid: the gazetteer, then the spatial index."""

    def __init__(self, grids: GridIndex, places: Gazetteer) -> None:
        self.grids = grids
        self.places = places

    @classmethod
    def load(cls, session: Session) -> Locator:
        return cls(grid_index(session), gazetteer(session))

    def grid_at(self, lat: float, lon: float) -> str | None:
        """The grid containing the point, or one within 50 m (GPS noise at an edge)."""
        code = self.grids.locate(lat, lon)
        if code is not None:
            return code
        near = self.grids.nearest(lat, lon)
        return near.code if near else None

    def search(self, text: str, limit: int = 5) -> list[Located]:
        """Places matching the text, best first, each with its grid."""
        return [
            Located(match, match.entry.grid_code or self.grid_at(match.entry.lat, match.entry.lon))
            for match in self.places.search(text, limit=limit)
        ]


# Where a use case gets the place index: the edge keeps one per process (and tests may
# build a fresh one with `Locator.load`).
LocatorSource = Callable[[Session], Locator]

# The audit actions of the imports that can redraw grids or move places.
LOCATOR_ACTIONS = ("grids.import",)


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
