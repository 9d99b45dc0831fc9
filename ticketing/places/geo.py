"""Which grid a point falls in: point in polygon over every grid, through spatial indexes.

Grids come in as GeoJSON, the form they are stored in (as text, or decoded to dicts), and
become shapely geometries in one vectorised call, because building 100,000 of them one by
one is what would make loading a whole city slow. They are prepared, so GEOS tests a point
against an indexed copy of each ring rather than walking every edge.

Two indexes answer a point, because a Python call into GEOS costs microseconds whatever it
does, and building a shapely Point for an R-tree query costs as much again:

- A fine raster over the city, a few cells across each grid. A cell that no grid boundary
  touches lies wholly inside one grid, or outside all of them, so its answer is worked out
  once when the index is built; about half of all points (more, the finer the raster) are
  then answered by arithmetic and one array read, with no call into GEOS at all.
- For the other cells, a coarse bucket grid about one grid across lists the grids whose
  bounding boxes reach into it, lowest code first; a point is tested exactly only against
  those whose box holds it, usually one.

Batches read the raster too, and test the rest through shapely's STRtree and prepared
geometries in one vectorised call; `nearest` uses the STRtree as well.

A point on an edge shared by two grids is inside both, so the answer must not depend on the
order the grids happened to be loaded in: ties go to the lowest grid code, always.
Coordinates are WGS84 degrees; GeoJSON positions are (longitude, latitude), while the
methods take latitude first, as people say it.
"""

from __future__ import annotations

import gc
import itertools
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

# Metres in one degree of latitude (and of longitude at the equator), on the WGS84 mean
# radius. "Within 50 m" only needs to be right to a metre or so, so a local flat projection
# around the caller's point is plenty and costs nothing to set up.
METRES_PER_DEGREE = 111_320.0
RASTER_CELLS_PER_GRID = 5  # across a typical grid; finer answers more points, builds slower
_MAX_CELLS_PER_GRID = 64  # caps the raster's memory when grids are scattered far apart
_NOWHERE = -1
_UNSURE = -2
_EPSILON = 1e-9  # degrees (0.1 mm): slack for rounding where ring edges are cut up
_CHUNK = 100_000  # edges or points handled at once, to bound the memory of building

Geometry = Mapping[str, Any] | str  # a GeoJSON Polygon or MultiPolygon, decoded or as text
Indices = NDArray[np.int64]
Coordinates = NDArray[np.floating[Any]]
Exact = Callable[[Coordinates, Coordinates], Indices]  # (lats, lons) -> grid positions
Candidate = tuple[float, float, float, float, Any, int]  # bounds, prepared polygon, position


@dataclass(frozen=True)
class NearbyGrid:
    """A grid near a point; `metres` is 0 when the point is inside it."""

    code: str
    metres: float


class GridIndex:
    """Locates points in a fixed set of grid polygons; rebuild it when the grids change."""

    def __init__(self, grids: Iterable[tuple[str, Geometry]]) -> None:
        with _collector_paused():
            self._build(sorted(grids, key=lambda grid: grid[0]))

    def _build(self, ordered: Sequence[tuple[str, Geometry]]) -> None:
        codes = [code for code, _ in ordered]
        duplicates = sorted({a for a, b in itertools.pairwise(codes) if a == b})
        if duplicates:
            raise ValueError(f"duplicate grid codes: {', '.join(duplicates[:5])}")
        self._codes: tuple[str, ...] = tuple(codes)
        self._polygons = _polygons(ordered)
        _refuse_invalid(self._codes, self._polygons)
        shapely.prepare(self._polygons)
        bounds = shapely.bounds(self._polygons).reshape(-1, 4)
        # GEOS indexes a prepared ring on its first test; do all of those now, not mid-call.
        shapely.intersects_xy(self._polygons, bounds[:, 0], bounds[:, 1])
        self._tree = shapely.STRtree(self._polygons)
        self._lattice = _Lattice(self._polygons, bounds, self._exact)

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def codes(self) -> tuple[str, ...]:
        """The grid codes, in order."""
        return self._codes

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the grid holding the point (the lowest code on a shared edge), or None."""
        found = self._lattice.locate(lat, lon)
        return self._codes[found] if found >= 0 else None

    def locate_many(self, lats: ArrayLike, lons: ArrayLike) -> list[str | None]:
        """`locate` for many points at once, several times faster a point than a loop."""
        codes = self._codes
        return [codes[i] if i >= 0 else None for i in self.locate_indices(lats, lons).tolist()]

    def locate_indices(self, lats: ArrayLike, lons: ArrayLike) -> Indices:
        """Positions in `codes` of the grids holding the points, -1 where none does."""
        lat = np.asarray(lats, dtype=np.float64)
        lon = np.asarray(lons, dtype=np.float64)
        if lat.shape != lon.shape or lat.ndim != 1:
            raise ValueError("lats and lons must be one-dimensional and of the same length")
        found = self._lattice.locate_many(lat, lon)
        unsure = found == _UNSURE
        found[unsure] = self._exact(lat[unsure], lon[unsure])
        return found

    def nearest(self, lat: float, lon: float, max_metres: float = 50.0) -> NearbyGrid | None:
        """The grid holding the point, else the closest one within `max_metres`, else None.

        For GPS fixes that land just outside the district or in a gap between grids.
        """
        code = self.locate(lat, lon)
        if code is not None:
            return NearbyGrid(code, 0.0)
        if not (math.isfinite(lat) and math.isfinite(lon)) or max_metres <= 0:
            return None
        y_scale = METRES_PER_DEGREE
        x_scale = METRES_PER_DEGREE * max(math.cos(math.radians(lat)), 1e-9)
        dlat, dlon = max_metres / y_scale, max_metres / x_scale
        window = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        candidates = np.sort(self._tree.query(window))
        if not candidates.size:
            return None
        origin, scale = np.array([lon, lat]), np.array([x_scale, y_scale])
        local = shapely.transform(self._polygons[candidates], lambda xy: (xy - origin) * scale)
        metres = shapely.distance(local, shapely.Point(0.0, 0.0))
        best = int(np.argmin(metres))  # the first of equals, so the lowest code
        if metres[best] > max_metres:
            return None
        return NearbyGrid(self._codes[candidates[best]], float(metres[best]))

    def _exact(self, lat: Coordinates, lon: Coordinates) -> Indices:
        """The lowest-coded grid holding each point, by R-tree and prepared GEOS tests."""
        found = np.full(lat.shape, len(self._codes), dtype=np.int64)
        points, grids = self._tree.query(shapely.points(lon, lat))
        inside = shapely.intersects_xy(self._polygons[grids], lon[points], lat[points])
        np.minimum.at(found, points[inside], grids[inside])
        found[found == len(self._codes)] = _NOWHERE
        return found


class _Lattice:
    """The fine raster of settled cells and the coarse buckets of candidates (see above)."""

    def __init__(
        self, polygons: NDArray[np.object_], bounds: NDArray[np.float64], exact: Exact
    ) -> None:
        self.columns = self.rows = self.coarse_columns = 0
        self.west = self.south = self.per_x = self.per_y = 0.0
        self.settled = array("i")
        self.buckets: list[tuple[Candidate, ...]] = []
        if not len(polygons):
            return
        self.west, self.south = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        east, north = float(bounds[:, 2].max()), float(bounds[:, 3].max())
        width = float(np.median(bounds[:, 2] - bounds[:, 0]))
        height = float(np.median(bounds[:, 3] - bounds[:, 1]))
        # Cells at full resolution: area over a grid's box, times the cells in a box.
        cells = (east - self.west) * (north - self.south) / (width * height)
        cells *= RASTER_CELLS_PER_GRID**2
        grow = math.sqrt(max(cells / (_MAX_CELLS_PER_GRID * len(polygons)), 1.0))
        self.per_x = RASTER_CELLS_PER_GRID / (width * grow)
        self.per_y = RASTER_CELLS_PER_GRID / (height * grow)
        self.columns = math.floor((east - self.west) * self.per_x) + 1
        self.rows = math.floor((north - self.south) * self.per_y) + 1
        self.coarse_columns = self.columns // RASTER_CELLS_PER_GRID + 1
        self.buckets = self._bucket(polygons, bounds)
        self.settled = self._settle(polygons, exact)

    def locate(self, lat: float, lon: float) -> int:
        """The grid's position, -1 for none; NaN and infinities fail the range test."""
        x = (lon - self.west) * self.per_x
        y = (lat - self.south) * self.per_y
        if not (0 <= x < self.columns and 0 <= y < self.rows):
            return _NOWHERE
        column, row = int(x), int(y)
        found = self.settled[row * self.columns + column]
        if found != _UNSURE:
            return found
        cells = RASTER_CELLS_PER_GRID
        bucket = (row // cells) * self.coarse_columns + column // cells
        for west, south, east, north, polygon, position in self.buckets[bucket]:
            if (
                west <= lon <= east
                and south <= lat <= north
                and shapely.intersects_xy(polygon, lon, lat)
            ):
                return position
        return _NOWHERE

    def locate_many(self, lat: Coordinates, lon: Coordinates) -> Indices:
        """Settled answers where the raster has them, -2 where a test is needed."""
        found = np.full(lat.shape, _NOWHERE, dtype=np.int64)
        if not self.columns:
            return found
        x = (lon - self.west) * self.per_x
        y = (lat - self.south) * self.per_y
        inside = (x >= 0) & (x < self.columns) & (y >= 0) & (y < self.rows)
        cells = y[inside].astype(np.int64) * self.columns + x[inside].astype(np.int64)
        found[inside] = np.frombuffer(self.settled, dtype=np.int32)[cells]
        return found

    def _settle(self, polygons: NDArray[np.object_], exact: Exact) -> array[int]:
        """Find the grid of every cell that no ring edge touches; the rest stay unsure."""
        touched = self._touched(polygons)
        # Clear cells side by side in a row share their answer (no edge lies between them),
        # so one test answers a run; any point of a cell stands for it, the centre safely.
        clear = ~touched
        starts = clear.copy()
        starts.reshape(self.rows, self.columns)[:, 1:] &= touched.reshape(self.rows, -1)[:, :-1]
        first = np.flatnonzero(starts)
        centre_x = self.west + ((first % self.columns) + 0.5) / self.per_x
        centre_y = self.south + ((first // self.columns) + 0.5) / self.per_y
        chunks = range(0, first.size, _CHUNK)
        owners = [exact(centre_y[i : i + _CHUNK], centre_x[i : i + _CHUNK]) for i in chunks]
        settled = np.full(touched.size, _UNSURE, dtype=np.int32)
        settled[clear] = np.concatenate([*owners, np.zeros(0, np.int64)])[
            np.cumsum(starts)[clear] - 1
        ]
        return array("i", settled.tobytes())

    def _touched(self, polygons: NDArray[np.object_]) -> NDArray[np.bool_]:
        """The cells some ring edge touches, or may: the test leans to caution."""
        touched = np.zeros(self.columns * self.rows, dtype=bool)
        # Positions straight from the polygons, not via ring geometries, which would be copies;
        # the odd edge this draws from one ring to the next only marks more cells unsure.
        xy, polygon = shapely.get_coordinates(polygons, return_index=True)
        # Cell units, by the same arithmetic as `locate`, so both agree on where a cell ends.
        cell = np.column_stack(
            ((xy[:, 0] - self.west) * self.per_x, (xy[:, 1] - self.south) * self.per_y)
        )
        edges = np.flatnonzero(polygon[1:] == polygon[:-1])
        for start in range(0, edges.size, _CHUNK):
            chunk = edges[start : start + _CHUNK]
            touched[self._cells_touched(cell[chunk], cell[chunk + 1])] = True
        return touched

    def _cells_touched(self, a: Coordinates, b: Coordinates) -> Indices:
        """The cells that edges a-b (in cell units) may touch: each edge is cut into pieces
        under half a cell long, so the corners of a piece's padded box name every cell."""
        pieces = np.ceil(2 * np.abs(b - a).max(axis=1)).astype(np.int64).clip(1)
        samples = pieces + 1
        edge = np.repeat(np.arange(a.shape[0]), samples)
        step = np.arange(edge.size) - np.repeat(np.cumsum(samples) - samples, samples)
        points = a[edge] + (b[edge] - a[edge]) * (step / pieces[edge])[:, None]
        p, q = points[step < pieces[edge]], points[step > 0]
        pad = np.array([_EPSILON * self.per_x, _EPSILON * self.per_y])
        low = np.floor(np.minimum(p, q) - pad).astype(np.int64)
        high = np.floor(np.maximum(p, q) + pad).astype(np.int64)
        columns = [np.clip(c, 0, self.columns - 1) for c in (low[:, 0], high[:, 0])]
        rows = [np.clip(r, 0, self.rows - 1) for r in (low[:, 1], high[:, 1])]
        return np.concatenate([r * self.columns + c for r in rows for c in columns])

    @staticmethod
    def _clip(position: NDArray[np.float64], size: int) -> Indices:
        return np.clip(np.floor(position), 0, size - 1).astype(np.int64)

    def _bucket(
        self, polygons: NDArray[np.object_], bounds: NDArray[np.float64]
    ) -> list[tuple[Candidate, ...]]:
        """Per coarse bucket, the grids whose bounding boxes reach into it, in code order."""
        cells = RASTER_CELLS_PER_GRID
        coarse_rows = self.rows // cells + 1
        lists: list[list[Candidate]]
        lists = [[] for _ in range(coarse_rows * self.coarse_columns)]
        first_column = self._clip((bounds[:, 0] - self.west) * self.per_x, self.columns) // cells
        last_column = self._clip((bounds[:, 2] - self.west) * self.per_x, self.columns) // cells
        first_row = self._clip((bounds[:, 1] - self.south) * self.per_y, self.rows) // cells
        last_row = self._clip((bounds[:, 3] - self.south) * self.per_y, self.rows) // cells
        spans = zip(
            first_column.tolist(),
            last_column.tolist(),
            first_row.tolist(),
            last_row.tolist(),
            strict=True,
        )
        for position, ((w, s, e, n), (c0, c1, r0, r1)) in enumerate(
            zip(bounds.tolist(), spans, strict=True)
        ):
            entry = (w, s, e, n, polygons[position], position)
            for row in range(r0, r1 + 1):
                for column in range(c0, c1 + 1):
                    lists[row * self.coarse_columns + column].append(entry)
        return [tuple(bucket) for bucket in lists]


def _polygons(grids: Sequence[tuple[str, Geometry]]) -> NDArray[np.object_]:
    """Every grid as a shapely Polygon or MultiPolygon, GeoJSON text and dicts alike."""
    texts: dict[int, str] = {}
    mappings: dict[int, tuple[str, Mapping[str, Any]]] = {}
    for i, (code, geometry) in enumerate(grids):
        if isinstance(geometry, str):
            texts[i] = geometry
        else:
            mappings[i] = (code, geometry)
    polygons = np.empty(len(grids), dtype=object)
    if texts:
        text = np.array(list(texts.values()), dtype=object)
        polygons[list(texts)] = shapely.from_geojson(text, on_invalid="ignore")
    if mappings:
        polygons[list(mappings)] = _from_mappings(list(mappings.values()))
    kinds = shapely.get_type_id(polygons)
    wrong = np.flatnonzero(
        (kinds != shapely.GeometryType.POLYGON) & (kinds != shapely.GeometryType.MULTIPOLYGON)
    )
    if wrong.size:
        names = ", ".join(grids[i][0] for i in wrong[:5])
        raise ValueError(
            f"{wrong.size} grid(s) not a readable GeoJSON Polygon or MultiPolygon: {names}"
        )
    return polygons


def _from_mappings(grids: Sequence[tuple[str, Mapping[str, Any]]]) -> NDArray[np.object_]:
    """Decoded GeoJSON to geometries through one `from_ragged_array` call."""
    positions: list[Any] = []
    ring_ends, part_ends, grid_ends = [0], [0], [0]
    for code, geometry in grids:
        for part in _parts(code, geometry):
            for ring in part:
                positions.extend(ring)
                ring_ends.append(len(positions))
            part_ends.append(len(ring_ends) - 1)
        grid_ends.append(len(part_ends) - 1)
    coords = _coordinates(positions)
    ends = np.array(ring_ends)
    starts, lasts = ends[:-1], ends[1:] - 1
    bad = (lasts - starts < 3) | np.any(coords[starts] != coords[lasts], axis=1)
    if bad.any():
        ring_grid = np.searchsorted(np.array(part_ends), np.arange(len(starts)), side="right") - 1
        grid = (
            np.searchsorted(np.array(grid_ends), ring_grid[np.flatnonzero(bad)[0]], side="right")
            - 1
        )
        raise ValueError(f"grid {grids[grid][0]}: a ring must be closed, with at least 4 positions")
    offsets = (ends, np.array(part_ends), np.array(grid_ends))
    multi = shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON, coords, offsets)
    single = np.diff(offsets[2]) == 1  # single-part grids become plain Polygons again
    multi[single] = shapely.get_geometry(multi[single], 0)
    return multi


def _coordinates(positions: list[Any]) -> NDArray[np.float64]:
    """GeoJSON positions as an n x 2 array; a third value (altitude) is dropped."""
    if all(len(p) == 2 for p in positions):
        flat = itertools.chain.from_iterable(positions)
        return np.fromiter(flat, dtype=np.float64, count=2 * len(positions)).reshape(-1, 2)
    return np.array([(p[0], p[1]) for p in positions], dtype=np.float64).reshape(-1, 2)


def _parts(code: str, geometry: Mapping[str, Any]) -> Sequence[Sequence[Sequence[Any]]]:
    """The polygons of a GeoJSON Polygon or MultiPolygon, each a list of rings."""
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon" and coordinates:
        return [coordinates]
    if kind == "MultiPolygon" and coordinates:
        return list(coordinates)
    raise ValueError(f"grid {code}: expected a GeoJSON Polygon or MultiPolygon, got {kind!r}")


def _refuse_invalid(codes: Sequence[str], polygons: NDArray[np.object_]) -> None:
    """A self-crossing ring gives wrong answers silently; better to refuse the load."""
    invalid = np.flatnonzero(~shapely.is_valid(polygons))
    if invalid.size:
        names = ", ".join(codes[i] for i in invalid[:5])
        raise ValueError(f"{invalid.size} invalid grid polygon(s), e.g. {names}")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building.

    A build makes millions of short-lived objects and no cycles, and each collection the
    allocations set off would rescan every live object, the caller's decoded GeoJSON too:
    that was a third of the build's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
