"""The grids as the console's maps draw them: where a map opens, the outlines in view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ticketing.models.places import Grid


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


@dataclass(frozen=True)
class Outline:
    code: str
    name: str
    polygon: dict[str, Any]


def grids_in_box(
    session: Session, south: float, west: float, north: float, east: float, limit: int
) -> list[Outline] | None:
    """The outlines of the grids whose centre lies in the box, by code; None when the box
    holds more than `limit` of them (the map asks the user to zoom in)."""
    rows = session.execute(
        select(Grid.code, Grid.name, Grid.polygon)
        .where(
            Grid.centre_lat.between(south, north),
            Grid.centre_lon.between(west, east),
        )
        .order_by(Grid.code)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        return None
    return [Outline(code, name, polygon) for code, name, polygon in rows]
