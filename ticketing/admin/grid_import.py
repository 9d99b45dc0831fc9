"""Importing grids from a GeoJSON FeatureCollection, all or nothing.

Each feature is one grid: a Polygon or MultiPolygon geometry and the properties `code`,
`name` and `community` (the code of a community region already on record). A city's file
can hold 100,000 grids, so the shape of each feature is checked in one plain pass, the
geometries are then built and checked by GEOS in a few vectorised calls (valid, not
empty), and the rows are written by bulk statements: never a query per grid.

A grid's centre is its representative point (always inside it, unlike the centroid of an
L-shaped or multi-part grid), which is where a case placed only by its grid is drawn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Text, cast, insert, select, update
from sqlalchemy.orm import Session

from ticketing.admin.imports import CHUNK, ImportResult, Progress, Rejections, no_progress
from ticketing.models.places import Grid, Region, RegionLevel
from ticketing.people.audit import record_change
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

MAX_CODE = 32
MAX_NAME = 200
_NUMBERS = (int, float)
_CODE = re.compile(rf"\S{{1,{MAX_CODE}}}")


@dataclass(frozen=True)
class _Feature:
    index: int
    code: str
    name: str
    community: str
    geometry: dict[str, Any]
    parts: list[list[list[list[float]]]]


def import_grids(
    uow: UnitOfWork,
    source: str | bytes,
    actor: Actor,
    now: datetime,
    *,
    filename: str = "",
    on_progress: Progress = no_progress,
) -> ImportResult:
    """Check every feature, then insert or update the grids by code; call inside `with uow:`.

    Progress runs over two passes of the features: checking, then writing.
    """
    result = ImportResult("grids")
    problems = Rejections()
    features = _read_features(source, problems)
    total = 2 * len(features)
    result.rows = len(features)
    candidates: list[_Feature] = []
    for i, raw in enumerate(features):
        feature = _check_feature(i, raw, problems)
        if feature is not None:
            candidates.append(feature)
        if i % CHUNK == CHUNK - 1:
            on_progress(i + 1, total)
    candidates = _unique_codes(candidates, problems)
    centres = _check_geometries(candidates, problems)
    communities = _community_ids(uow.session, candidates, problems)
    on_progress(len(features), total)
    if problems:
        result.rejected = problems.items
        return result
    _write(uow.session, candidates, centres, communities, result, on_progress)
    record_change(uow.session, actor, "grids.import", now, target=filename, data=result.counts())
    uow.commit()
    on_progress(total, total)
    return result


def _read_features(source: str | bytes, problems: Rejections) -> list[Any]:
    try:
        data = json.loads(source)
    except (ValueError, UnicodeDecodeError) as exc:
        problems.add(-1, "file", "json", f"not readable JSON: {exc}")
        return []
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        problems.add(-1, "file", "type", "expected a GeoJSON FeatureCollection")
        return []
    features = data.get("features")
    if not isinstance(features, list) or not features:
        problems.add(-1, "file", "features", "the collection has no features")
        return []
    return features


def _text(value: Any) -> str | None:
    """A property as text: strings and whole numbers (a code written as 1101) are accepted."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _check_feature(i: int, raw: Any, problems: Rejections) -> _Feature | None:
    where = f"feature {i}"
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        problems.add(i, where, "type", "not a GeoJSON Feature")
        return None
    props = raw.get("properties")
    if not isinstance(props, dict):
        problems.add(i, where, "properties", "missing")
        return None
    code = _text(props.get("code"))
    if not code:
        problems.add(i, where, "code", "missing")
    elif not _CODE.fullmatch(code):
        problems.add(i, where, "code", f"{code!r}: at most {MAX_CODE} characters, no spaces")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(i, where, "name", "missing")
    elif len(name.strip()) > MAX_NAME:
        problems.add(i, where, "name", f"longer than {MAX_NAME} characters")
    community = _text(props.get("community"))
    if not community:
        problems.add(i, where, "community", "missing")
    geometry = raw.get("geometry")
    parts = _check_shape(i, where, geometry, problems)
    if problems.has(i) or parts is None:
        return None
    if not (code and community and isinstance(name, str) and isinstance(geometry, dict)):
        return None  # unreachable: each is refused above
    stored = {"type": geometry["type"], "coordinates": geometry["coordinates"]}
    return _Feature(i, code, name.strip(), community, stored, parts)


def _check_shape(
    i: int, where: str, geometry: Any, problems: Rejections
) -> list[list[list[list[float]]]] | None:
    """The rings of a Polygon or MultiPolygon as (lon, lat) pairs, or None with the reason."""
    if not isinstance(geometry, dict):
        problems.add(i, where, "geometry", "missing")
        return None
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        problems.add(i, where, "geometry", f"expected Polygon or MultiPolygon, got {kind!r}")
        return None
    if not isinstance(coordinates, list) or not coordinates:
        problems.add(i, where, "geometry", "empty coordinates")
        return None
    polygons = [coordinates] if kind == "Polygon" else coordinates
    parts = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            problems.add(i, where, "geometry", "a polygon without rings")
            return None
        rings = []
        for ring in polygon:
            checked = _check_ring(ring)
            if isinstance(checked, str):
                problems.add(i, where, "geometry", checked)
                return None
            rings.append(checked)
        parts.append(rings)
    return parts


def _check_ring(ring: Any) -> list[list[float]] | str:
    if type(ring) is not list or len(ring) < 4:
        return "a ring needs at least 4 positions"
    out = []
    for position in ring:
        # Exact type checks, no tuples made: this loop runs for every corner of every grid.
        if type(position) is not list or not 2 <= len(position) <= 3:
            return f"not a position: {str(position)[:40]}"
        lon, lat = position[0], position[1]
        if type(lon) not in _NUMBERS or type(lat) not in _NUMBERS:
            return f"not a position: {str(position)[:40]}"
        # NaN and infinities fail these comparisons too.
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return f"position {lon}, {lat} out of range (longitude first, WGS84 degrees)"
        out.append(position if len(position) == 2 else position[:2])
    if out[0] != out[-1]:
        return "a ring must be closed (its last position equal to its first)"
    return out


def _unique_codes(candidates: list[_Feature], problems: Rejections) -> list[_Feature]:
    first: dict[str, int] = {}
    kept = []
    for feature in candidates:
        if feature.code in first:
            problems.add(
                feature.index,
                f"feature {feature.index}",
                "code",
                f"{feature.code} is also the code of feature {first[feature.code]}",
            )
            continue
        first[feature.code] = feature.index
        kept.append(feature)
    return kept


def _check_geometries(
    candidates: Sequence[_Feature], problems: Rejections
) -> list[tuple[float, float]]:
    """Build every geometry in one call; refuse invalid or empty ones; (lat, lon) centres."""
    if not candidates:
        return []
    positions: list[list[float]] = []
    ring_ends, part_ends, geometry_ends = [0], [0], [0]
    for feature in candidates:
        for part in feature.parts:
            for ring in part:
                positions.extend(ring)
                ring_ends.append(len(positions))
            part_ends.append(len(ring_ends) - 1)
        geometry_ends.append(len(part_ends) - 1)
    coords = np.array(positions, dtype=np.float64).reshape(-1, 2)
    offsets = (np.array(ring_ends), np.array(part_ends), np.array(geometry_ends))
    shapes = shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, coords, offsets)
    valid = shapely.is_valid(shapes)
    empty = shapely.is_empty(shapes) | (shapely.area(shapes) <= 0)
    for position in np.flatnonzero(~valid | empty).tolist():
        feature = candidates[position]
        reason = shapely.is_valid_reason(shapes[position]) if not valid[position] else "empty"
        problems.add(feature.index, f"feature {feature.index}", "geometry", f"invalid: {reason}")
    centres = shapely.get_coordinates(shapely.point_on_surface(shapes))
    return [(round(float(lat), 6), round(float(lon), 6)) for lon, lat in centres]


def _community_ids(
    session: Session, candidates: Sequence[_Feature], problems: Rejections
) -> dict[str, int]:
    rows = session.execute(select(Region.code, Region.id, Region.level))
    communities = {code: id_ for code, id_, level in rows if level is RegionLevel.COMMUNITY}
    for feature in candidates:
        if feature.community not in communities:
            problems.add(
                feature.index,
                f"feature {feature.index}",
                "community",
                f"no community region with code {feature.community!r}",
            )
    return communities


_COLUMNS = ("name", "community_id", "centre_lat", "centre_lon")


def _same_shape(stored: str, geometry: dict[str, Any]) -> bool:
    """Compare as text first (decoding 100,000 stored polygons is most of a re-import's
    time); the text is what json.dumps wrote, but decode if another writer differed."""
    return stored == json.dumps(geometry) or json.loads(stored) == geometry


def _write(
    session: Session,
    candidates: Sequence[_Feature],
    centres: Sequence[tuple[float, float]],
    communities: Mapping[str, int],
    result: ImportResult,
    on_progress: Progress,
) -> None:
    """Compare with what is stored, then bulk insert the new grids and update the changed."""
    existing = {
        row.code: row
        for row in session.execute(
            select(
                Grid.id,
                Grid.code,
                Grid.name,
                Grid.community_id,
                cast(Grid.polygon, Text).label("polygon_text"),
                Grid.centre_lat,
                Grid.centre_lon,
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for feature, (lat, lon) in zip(candidates, centres, strict=True):
        values = {
            "code": feature.code,
            "name": feature.name,
            "community_id": communities[feature.community],
            "polygon": feature.geometry,
            "centre_lat": lat,
            "centre_lon": lon,
        }
        old = existing.get(feature.code)
        if old is None:
            inserts.append(values)
        elif any(values[key] != getattr(old, key) for key in _COLUMNS) or not _same_shape(
            old.polygon_text, feature.geometry
        ):
            updates.append({"id": old.id, **values})
    result.created, result.updated = len(inserts), len(updates)
    result.unchanged = len(candidates) - len(inserts) - len(updates)
    done = len(candidates) + result.unchanged
    for batch in (inserts, updates):
        statement = insert(Grid) if batch is inserts else update(Grid)
        for start in range(0, len(batch), CHUNK):
            chunk = batch[start : start + CHUNK]
            session.execute(statement, chunk)
            done += len(chunk)
            on_progress(done, 2 * len(candidates))
