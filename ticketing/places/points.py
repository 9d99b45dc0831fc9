"""Reading where someone pointed on a form: a gazetteer place, or a click on the map."""

from __future__ import annotations

import math

from ticketing.exceptions import InvalidInput


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
