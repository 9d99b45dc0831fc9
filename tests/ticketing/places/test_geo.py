"""Point to grid over the demo district's lattice, with the seed's own bounds as the oracle."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.demo.city import CELL_DEG, DemoCity, GridSeed, build_demo_city
from ticketing.places.geo import METRES_PER_DEGREE, GridIndex, NearbyGrid

pytestmark = pytest.mark.unit

CITY = build_demo_city()
SOUTH = min(g.south for g in CITY.grids)
NORTH = max(g.north for g in CITY.grids)
WEST = min(g.west for g in CITY.grids)
EAST = max(g.east for g in CITY.grids)
LATS = sorted({g.south for g in CITY.grids} | {g.north for g in CITY.grids})
LONS = sorted({g.west for g in CITY.grids} | {g.east for g in CITY.grids})


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return CITY


@pytest.fixture(scope="module")
def index() -> GridIndex:
    return GridIndex((g.code, g.polygon) for g in CITY.grids)


def _grid(code: str) -> GridSeed:
    return next(g for g in CITY.grids if g.code == code)


def _expected(lat: float, lon: float) -> str | None:
    """The lowest code among the grids whose closed bounds hold the point."""
    codes = [g.code for g in CITY.grids if g.south <= lat <= g.north and g.west <= lon <= g.east]
    return min(codes, default=None)


def _square(west: float, south: float, size: float) -> list[list[float]]:
    return [
        [west, south],
        [west + size, south],
        [west + size, south + size],
        [west, south + size],
        [west, south],
    ]


def test_every_grid_centre_locates_to_its_grid(city: DemoCity, index: GridIndex) -> None:
    assert len(index) == len(city.grids) == 207
    for grid in city.grids:
        assert index.locate(grid.centre_lat, grid.centre_lon) == grid.code


def test_every_place_locates_to_its_grid(city: DemoCity, index: GridIndex) -> None:
    for place in city.places:
        assert index.locate(place.lat, place.lon) == place.grid_code


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (NORTH + 0.001, 113.68),
        (SOUTH - 0.001, 113.68),
        (34.77, WEST - 0.001),
        (34.77, EAST + 0.001),
        (0.0, 0.0),
        (-34.77, -113.68),
        (math.nan, 113.68),
        (34.77, math.inf),
    ],
)
def test_points_outside_every_grid_locate_nowhere(index: GridIndex, lat: float, lon: float) -> None:
    assert index.locate(lat, lon) is None
    assert index.locate_many([lat], [lon]) == [None]


def test_the_two_missing_cells_of_a_block_are_holes_in_the_map(index: GridIndex) -> None:
    """23 of a block's 25 cells are grids: the last two cells of its bottom row are not."""
    last = _grid("1123")  # the bottom row's third and last grid
    assert index.locate(last.centre_lat, last.centre_lon + CELL_DEG) is None
    assert index.locate(last.centre_lat, last.centre_lon + 2 * CELL_DEG) is None
    assert index.locate(last.centre_lat, last.centre_lon + 3 * CELL_DEG) == "1221"


def test_a_shared_edge_goes_to_the_lower_code(city: DemoCity, index: GridIndex) -> None:
    by_cell = {(g.west, g.south): g for g in city.grids}
    checked = 0
    for grid in city.grids:
        east_neighbour = by_cell.get((grid.east, grid.south))
        if east_neighbour is not None:
            lower = min(grid.code, east_neighbour.code)
            assert index.locate(grid.centre_lat, grid.east) == lower
            checked += 1
    assert checked > 150


def test_a_corner_of_four_grids_goes_to_the_lowest_code(index: GridIndex) -> None:
    corner = _grid("1107")  # second row, second column of block 11
    assert index.locate(corner.north, corner.west) == _expected(corner.north, corner.west)
    assert index.locate(corner.north, corner.west) == "1101"


def test_the_answer_does_not_depend_on_load_order(index: GridIndex) -> None:
    shuffled = list(CITY.grids)
    random.Random(4101).shuffle(shuffled)
    other = GridIndex((g.code, g.polygon) for g in shuffled)
    assert other.codes == index.codes
    for lat in LATS:
        for lon in LONS[::3]:
            assert other.locate(lat, lon) == index.locate(lat, lon)


_coordinate_lat = st.one_of(st.floats(SOUTH - 0.002, NORTH + 0.002), st.sampled_from(LATS))
_coordinate_lon = st.one_of(st.floats(WEST - 0.002, EAST + 0.002), st.sampled_from(LONS))


@given(lat=_coordinate_lat, lon=_coordinate_lon)
@settings(max_examples=400, deadline=None)
def test_locate_agrees_with_the_seed_bounds_on_edges_too(
    index: GridIndex, lat: float, lon: float
) -> None:
    assert index.locate(lat, lon) == _expected(lat, lon)


@given(points=st.lists(st.tuples(_coordinate_lat, _coordinate_lon), max_size=50))
@settings(max_examples=100, deadline=None)
def test_locate_many_agrees_with_locate(
    index: GridIndex, points: list[tuple[float, float]]
) -> None:
    lats = [lat for lat, _ in points]
    lons = [lon for _, lon in points]
    assert index.locate_many(lats, lons) == [index.locate(lat, lon) for lat, lon in points]


def test_locate_many_wants_matching_flat_arrays(index: GridIndex) -> None:
    with pytest.raises(ValueError, match="same length"):
        index.locate_many([34.77, 34.78], [113.68])


def test_nearest_is_the_grid_itself_when_inside(index: GridIndex) -> None:
    grid = CITY.grids[0]
    assert index.nearest(grid.centre_lat, grid.centre_lon) == NearbyGrid(grid.code, 0.0)


def test_nearest_reaches_a_grid_just_outside_the_district(index: GridIndex) -> None:
    grid = _grid("1103")  # on the north edge
    lat = grid.north + 20 / METRES_PER_DEGREE
    assert index.locate(lat, grid.centre_lon) is None
    found = index.nearest(lat, grid.centre_lon, max_metres=50)
    assert found is not None
    assert found.code == "1103"
    assert found.metres == pytest.approx(20, abs=0.1)
    assert index.nearest(lat, grid.centre_lon, max_metres=10) is None


def test_nearest_measures_east_west_in_metres_not_degrees(index: GridIndex) -> None:
    grid = _grid("1315")  # on the east edge
    metres_per_lon = METRES_PER_DEGREE * math.cos(math.radians(grid.centre_lat))
    found = index.nearest(grid.centre_lat, grid.east + 30 / metres_per_lon, max_metres=40)
    assert found is not None
    assert found.code == "1315"
    assert found.metres == pytest.approx(30, abs=0.1)


def test_nearest_gives_up_far_away_and_on_nonsense(index: GridIndex) -> None:
    assert index.nearest(NORTH + 0.01, 113.68, max_metres=50) is None
    assert index.nearest(math.nan, 113.68) is None
    assert index.nearest(NORTH + 0.0001, 113.68, max_metres=0) is None


def test_geojson_text_loads_like_decoded_geojson(index: GridIndex) -> None:
    as_text = GridIndex((g.code, json.dumps(g.polygon)) for g in CITY.grids)
    mixed = GridIndex(
        (g.code, json.dumps(g.polygon) if n % 2 else g.polygon) for n, g in enumerate(CITY.grids)
    )
    points = [(lat, lon) for lat in LATS[::2] for lon in LONS[::2]]
    expected = [index.locate(lat, lon) for lat, lon in points]
    assert [as_text.locate(lat, lon) for lat, lon in points] == expected
    assert [mixed.locate(lat, lon) for lat, lon in points] == expected


def _jittered_tiling(
    seed: int, columns: int = 9, rows: int = 7
) -> list[tuple[str, dict[str, Any]]]:
    """Quadrilaterals whose corners wander a quarter cell and whose edges bend, tiling a block
    with no gaps, unlike the demo's squares; codes run against the layout, so ties vary."""
    rng = random.Random(seed)
    corner = {
        (i, j): (i + rng.uniform(-0.25, 0.25), j + rng.uniform(-0.25, 0.25))
        for i in range(columns + 1)
        for j in range(rows + 1)
    }
    bend = {}
    for i in range(columns + 1):
        for j in range(rows + 1):
            bend[(i, j, "x")] = rng.uniform(-0.1, 0.1)
            bend[(i, j, "y")] = rng.uniform(-0.1, 0.1)

    def middle(a: tuple[int, int], b: tuple[int, int], axis: str) -> tuple[float, float]:
        (x1, y1), (x2, y2) = corner[a], corner[b]
        key = (*min(a, b), axis)
        x, y = (x1 + x2) / 2, (y1 + y2) / 2
        return (x, y + bend[key]) if axis == "x" else (x + bend[key], y)

    grids = []
    for i in range(columns):
        for j in range(rows):
            sw, se, ne, nw = (i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)
            ring = [
                corner[sw], middle(sw, se, "x"), corner[se], middle(se, ne, "y"),
                corner[ne], middle(nw, ne, "x"), corner[nw], middle(sw, nw, "y"), corner[sw],
            ]  # fmt: skip
            code = f"{(i * 7 + j * 3) % (columns * rows):03d}"
            grids.append((code, {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}))
    return grids


@given(seed=st.integers(0, 2**16), data=st.data())
@settings(max_examples=25, deadline=None)
def test_irregular_grids_agree_with_testing_every_polygon(seed: int, data: st.DataObject) -> None:
    grids = _jittered_tiling(seed)
    index = GridIndex(grids)
    shapes = [(code, shapely.from_geojson(json.dumps(polygon))) for code, polygon in grids]
    vertices = [tuple(p) for _, polygon in grids for p in polygon["coordinates"][0]]
    points = data.draw(
        st.lists(
            st.one_of(
                st.tuples(st.floats(-1, 8), st.floats(-1, 10)),
                st.sampled_from(vertices).map(lambda p: (p[1], p[0])),
            ),
            min_size=1,
            max_size=60,
        )
    )
    for lat, lon in points:
        inside = [code for code, shape in shapes if shapely.intersects_xy(shape, lon, lat)]
        assert index.locate(lat, lon) == min(inside, default=None)
    lats, lons = np.array(points).T
    assert index.locate_many(lats, lons) == [index.locate(lat, lon) for lat, lon in points]


def test_multipolygons_and_holes() -> None:
    island_a, island_b = _square(0, 0, 1), _square(5, 5, 1)
    outer, hole = _square(10, 10, 3), _square(11, 11, 1)
    grids: list[tuple[str, dict[str, Any]]] = [
        ("A", {"type": "MultiPolygon", "coordinates": [[island_a], [island_b]]}),
        ("B", {"type": "Polygon", "coordinates": [outer, hole]}),
        ("C", {"type": "Polygon", "coordinates": [_square(11, 11, 1)]}),
    ]
    index = GridIndex(grids)
    assert index.locate(0.5, 0.5) == "A"
    assert index.locate(5.5, 5.5) == "A"
    assert index.locate(3, 3) is None
    assert index.locate(10.5, 10.5) == "B"
    assert index.locate(11.5, 11.5) == "C"  # in B's hole, where C is
    assert index.locate_many([0.5, 5.5, 11.5, 3], [0.5, 5.5, 11.5, 3]) == ["A", "A", "C", None]


def test_grids_far_apart_do_not_blow_up_the_raster() -> None:
    """Two small grids a continent apart: the raster coarsens instead of filling memory."""
    index = GridIndex(
        [
            ("NEAR", {"type": "Polygon", "coordinates": [_square(0, 0, 0.001)]}),
            ("FAR", {"type": "Polygon", "coordinates": [_square(60, 40, 0.001)]}),
        ]
    )
    assert index.locate(0.0005, 0.0005) == "NEAR"
    assert index.locate(40.0005, 60.0005) == "FAR"
    assert index.locate(20, 30) is None
    assert index.locate_many([0.0005, 40.0005, 20], [0.0005, 60.0005, 30]) == ["NEAR", "FAR", None]


def test_altitudes_in_positions_are_ignored() -> None:
    ring = [[x, y, 120.0] for x, y in _square(0, 0, 1)]
    assert GridIndex([("Z", {"type": "Polygon", "coordinates": [ring]})]).locate(0.5, 0.5) == "Z"


@pytest.mark.parametrize(
    ("grids", "message"),
    [
        ([("A", {"type": "Point", "coordinates": [0, 0]})], "Polygon or MultiPolygon"),
        ([("A", {"type": "Polygon", "coordinates": []})], "Polygon or MultiPolygon"),
        ([("A", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]})], "A: a ring"),
        ([("A", {"type": "Polygon", "coordinates": [_square(0, 0, 1)[:-1]]})], "A: .* closed"),
        ([("A", '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1]]]}')], "1 grid.*: A"),
        ([("A", '{"type": "Point", "coordinates": [0, 0]}')], "1 grid.*: A"),
        ([("A", "not json")], "readable GeoJSON"),
        (
            [
                ("A", {"type": "Polygon", "coordinates": [_square(0, 0, 1)]}),
                ("A", {"type": "Polygon", "coordinates": [_square(2, 0, 1)]}),
            ],
            "duplicate grid codes: A",
        ),
        (  # a bow tie: the ring crosses itself
            [("X", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})],
            "invalid grid polygon.*X",
        ),
    ],
)
def test_bad_grids_are_refused_with_the_code(
    grids: list[tuple[str, dict[str, Any]]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        GridIndex(grids)


def test_an_empty_index_finds_nothing() -> None:
    empty = GridIndex([])
    assert len(empty) == 0
    assert empty.locate(34.77, 113.68) is None
    assert empty.locate_many([34.77], [113.68]) == [None]
    assert empty.nearest(34.77, 113.68) is None
