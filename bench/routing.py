"""Routing benchmark: point to grid over a Zhengzhou-sized city, against PostGIS; place search.

Run from the repository root:  .venv/bin/python bench/routing.py [--grids N] [--points N]
    [--pg-points N] [--batch N] [--places N] [--queries N] [--no-postgis]

It makes 108,000 grids (the default) deterministically: a 360 x 300 lattice over about
7,400 km2 centred on Zhengzhou, each cell a quadrilateral whose corners are jittered and
whose edges bend through three more points, shared exactly with the neighbour, so the grids
tile the city as real ones do. Every grid goes through GeoJSON text, the form the `grids`
table stores.

In process it times loading `ticketing.places.geo.GridIndex` from that text, and from decoded
GeoJSON (`json.loads` timed apart), `locate` one point at a time and `locate_many` for the
whole batch, and the index's resident memory. The
baseline, in the same run on the same points, is PostGIS: the same GeoJSON loaded with
`ST_GeomFromGeoJSON` into a table with a GiST index in a fresh database
`hotline_routing_bench` on 127.0.0.1:5432 (user postgres), then `ST_Contains` one query per
point over one connection (prepared), and batched as an `unnest` join. Both answers are
checked to agree. The database is dropped at the end; without PostGIS (Debian package
`postgresql-15-postgis-3`) the bench says so and reports the in-process figures alone.

Last, it times `ticketing.places.gazetteer.Gazetteer` over --places synthetic places (roads with
their house numbers, and named places), searching misspelt and Chinese queries.
Targets: 10 x PostGIS's lookups per second, grids loaded in under 10 s; exit status 1 if
one is missed or the answers disagree. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ticketing.places.gazetteer import Gazetteer, PlaceEntry
from ticketing.places.geo import METRES_PER_DEGREE, GridIndex

PG_DSN = "host=127.0.0.1 port=5432 user=postgres"
DATABASE = "hotline_routing_bench"
CITY_KM2 = 7_446.0  # Zhengzhou's administrative area
CENTRE = (34.75, 113.65)  # lat, lon
EDGE_POINTS = 3  # extra vertices on each edge, as grids follow streets
CORNER_JITTER = 0.2  # of a cell, each way
EDGE_JITTER = 0.08
TARGET_RATIO = 10.0
TARGET_LOAD_S = 10.0
SINGLE = (
    "SELECT code FROM grids WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
    " ORDER BY code LIMIT 1"
)
BATCH = """
SELECT g.code FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, i)
LEFT JOIN LATERAL (
    SELECT code FROM grids
    WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
    ORDER BY code LIMIT 1
) g ON true
ORDER BY p.i
"""


@dataclass(frozen=True)
class City:
    codes: list[str]
    geojson: list[str]  # one GeoJSON Polygon text per grid
    bounds: tuple[float, float, float, float]  # west, south, east, north
    km2: float


@dataclass
class Row:
    label: str
    value: str
    note: str = ""
    ok: bool = True  # False fails the run: a target missed, or answers that disagree


def build_city(grids: int, seed: int) -> City:
    """A jittered lattice of `grids` cells, tiling about Zhengzhou's area."""
    cols = math.ceil(math.sqrt(grids * 1.2))
    rows = math.ceil(grids / cols)
    side_km = math.sqrt(CITY_KM2 / grids)
    dlat = side_km * 1000 / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(CENTRE[0]))
    west, south = CENTRE[1] - cols * dlon / 2, CENTRE[0] - rows * dlat / 2
    rng = np.random.default_rng(seed)
    rings = _rings(rng, cols, rows) * np.array([dlon, dlat]) + np.array([west, south])
    rings = rings.reshape(cols * rows, -1, 2)[:grids].round(7)
    codes = [f"G{n:06d}" for n in range(grids)]
    geojson = [json.dumps({"type": "Polygon", "coordinates": [r]}) for r in rings.tolist()]
    km2 = grids * side_km**2
    return City(codes, geojson, (west, south, west + cols * dlon, south + rows * dlat), km2)


def _rings(rng: np.random.Generator, cols: int, rows: int) -> NDArray[np.float64]:
    """Closed counter-clockwise rings in cell units, shape (rows * cols, 4 * EDGE_POINTS + 5, 2).

    Corners and edge points are drawn once per corner and per edge, so neighbours share them.
    """
    x, y = np.meshgrid(np.arange(cols + 1.0), np.arange(rows + 1.0))
    corners = (
        np.stack([x, y], axis=-1) + rng.uniform(-1, 1, (rows + 1, cols + 1, 2)) * CORNER_JITTER
    )
    t = (np.arange(1, EDGE_POINTS + 1) / (EDGE_POINTS + 1))[:, None]
    # Edges along x (bottom and top of a cell), then along y (left and right).
    start, end = corners[:, :-1, None, :], corners[:, 1:, None, :]
    along_x = start + t * (end - start)
    along_x[..., 1] += rng.uniform(-1, 1, along_x.shape[:-1]) * EDGE_JITTER
    start, end = corners[:-1, :, None, :], corners[1:, :, None, :]
    along_y = start + t * (end - start)
    along_y[..., 0] += rng.uniform(-1, 1, along_y.shape[:-1]) * EDGE_JITTER
    sw, se = corners[:-1, :-1, None], corners[:-1, 1:, None]
    ne, nw = corners[1:, 1:, None], corners[1:, :-1, None]
    bottom, top = along_x[:-1], along_x[1:, :, ::-1]
    right, left = along_y[:, 1:], along_y[:, :-1, ::-1]
    ring = np.concatenate([sw, bottom, se, right, ne, top, nw, left, sw], axis=2)
    return ring.reshape(rows * cols, -1, 2)


def random_points(city: City, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Uniform points over the city's bounds and 1 % beyond, so a few fall outside."""
    west, south, east, north = city.bounds
    margin_x, margin_y = (east - west) / 100, (north - south) / 100
    rng = np.random.default_rng(seed)
    lats = rng.uniform(south - margin_y, north + margin_y, n)
    lons = rng.uniform(west - margin_x, east + margin_x, n)
    return lats, lons


def rss_mib() -> float:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class InProcess:
    index: GridIndex
    text_load_s: float
    decode_s: float
    dict_build_s: float
    index_mib: float
    single_per_s: float
    batch_per_s: float
    inside_share: float


def in_process(city: City, lats: NDArray[np.float64], lons: NDArray[np.float64]) -> InProcess:
    """Load the index from GeoJSON text and from decoded GeoJSON, then locate every point."""
    gc.collect()
    before = rss_mib()
    start = time.perf_counter()
    index = GridIndex(zip(city.codes, city.geojson, strict=True))
    text_load_s = time.perf_counter() - start
    gc.collect()
    index_mib = rss_mib() - before
    start = time.perf_counter()
    decoded = [json.loads(text) for text in city.geojson]
    decode_s = time.perf_counter() - start
    GridIndex(zip(city.codes, decoded, strict=True))
    dict_build_s = time.perf_counter() - start - decode_s
    del decoded
    gc.collect()
    pairs = list(zip(lats.tolist(), lons.tolist(), strict=True))
    start = time.perf_counter()
    singles = [index.locate(lat, lon) for lat, lon in pairs]
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batch = index.locate_many(lats, lons)
    batch_s = time.perf_counter() - start
    if singles != batch:
        raise SystemExit("locate and locate_many disagree: the bench found a bug")
    inside = sum(code is not None for code in batch) / len(pairs)
    return InProcess(
        index, text_load_s, decode_s, dict_build_s, index_mib,
        len(pairs) / single_s, len(pairs) / batch_s, inside,
    )  # fmt: skip


@dataclass
class PostGis:
    load_s: float
    size_mib: float
    single_per_s: float
    batch_per_s: float
    answers: list[str | None]


def postgis(
    city: City, lats: NDArray[np.float64], lons: NDArray[np.float64], batch: int
) -> PostGis | str:
    """The baseline; a message instead when PostgreSQL or PostGIS is not there."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    try:
        admin = psycopg.connect(f"{PG_DSN} dbname=postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        return f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}".strip()
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        admin.execute(f"CREATE DATABASE {DATABASE}")
        try:
            with psycopg.connect(f"{PG_DSN} dbname={DATABASE}", autocommit=True) as conn:
                try:
                    conn.execute("CREATE EXTENSION postgis")
                except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
                    return (
                        f"PostGIS is not installed ({exc.diag.message_primary}); "
                        "apt-get install postgresql-15-postgis-3"
                    )
                return _postgis_run(conn, city, lats, lons, batch)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _postgis_run(
    conn: object, city: City, lats: NDArray[np.float64], lons: NDArray[np.float64], batch: int
) -> PostGis:
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    load_s = _postgis_load(conn, city)
    size = conn.execute("SELECT pg_total_relation_size('grids')").fetchone()
    plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + SINGLE, (113.6, 34.7)))
    if "grids_geom_idx" not in plan:
        raise SystemExit(f"PostGIS is not using the GiST index:\n{plan}")
    pairs = list(zip(lons.tolist(), lats.tolist(), strict=True))
    start = time.perf_counter()
    singles: list[str | None] = []
    with conn.cursor() as cur:
        for lon, lat in pairs:
            row = cur.execute(SINGLE, (lon, lat), prepare=True).fetchone()
            singles.append(row[0] if row else None)
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    batched: list[str | None] = []
    for i in range(0, len(pairs), batch):
        chunk = conn.execute(BATCH, (lons[i : i + batch].tolist(), lats[i : i + batch].tolist()))
        batched.extend(row[0] for row in chunk)
    batch_s = time.perf_counter() - start
    if singles != batched:
        raise SystemExit("PostGIS single and batched answers disagree")
    size_mib = (size[0] if size else 0) / 2**20
    return PostGis(load_s, size_mib, len(pairs) / single_s, len(pairs) / batch_s, singles)


def _postgis_load(conn: object, city: City) -> float:
    """COPY the GeoJSON in, convert it, build the GiST index and analyse: the loading time."""
    import psycopg

    assert isinstance(conn, psycopg.Connection)
    start = time.perf_counter()
    conn.execute("CREATE UNLOGGED TABLE staging (code text, geojson text)")
    with conn.cursor().copy("COPY staging (code, geojson) FROM STDIN") as copy:
        for code, text in zip(city.codes, city.geojson, strict=True):
            copy.write_row((code, text))
    conn.execute(
        "CREATE TABLE grids AS SELECT code,"
        " ST_SetSRID(ST_GeomFromGeoJSON(geojson), 4326)::geometry(Polygon, 4326) AS geom"
        " FROM staging"
    )
    conn.execute("ALTER TABLE grids ADD PRIMARY KEY (code)")
    conn.execute("CREATE INDEX grids_geom_idx ON grids USING gist (geom)")
    conn.execute("ANALYZE grids")
    elapsed = time.perf_counter() - start
    conn.execute("DROP TABLE staging")
    return elapsed


# Pinyin syllables and the characters used for them in the synthetic gazetteer.
# fmt: off
_SYLLABLES = (
    "jing", "wei", "hua", "yuan", "nong", "dong", "feng", "jin", "shui", "wen", "guo", "tai",
    "chan", "ye", "zheng", "zhou", "long", "hai", "xin", "ming", "an", "kang", "he", "ping",
    "shan", "qing", "tong", "bai", "cheng", "yang", "fu", "gui", "lin", "song", "zhu", "mei",
    "lan", "ju", "tian",
)
# fmt: on
_CHARACTERS = "经纬花园农东风金水文国泰产业郑州龙海新明安康河平山青通白城阳福桂林松竹梅兰菊田"
_SUFFIXES = (("Road", "路"), ("Street", "街"), ("Avenue", "大道"))
_KINDS = (
    ("Primary School", "小学", "school"),
    ("Middle School", "中学", "school"),
    ("Vegetable Market", "菜市场", "market"),
    ("Park", "公园", "park"),
    ("Community Clinic", "社区诊所", "hospital"),
    ("Supermarket", "超市", "market"),
    ("Plaza", "广场", "landmark"),
    ("Bus Terminal", "公交总站", "landmark"),
)


def build_places(n: int, seed: int) -> list[PlaceEntry]:
    """Roads with 36 house numbers each make 90 % of the places; named places the rest."""
    rng = random.Random(seed)
    places: list[PlaceEntry] = []
    roads = sorted({(*_name(rng), rng.randrange(3)) for _ in range(n * 9 // 10 // 36)})
    for en, zh, suffix in roads:
        for house in range(1, 72, 2):
            name_en = f"No. {house} {en} {_SUFFIXES[suffix][0]}"
            name_zh = f"{zh}{_SUFFIXES[suffix][1]}{house}号"
            places.append(PlaceEntry(len(places) + 1, name_en, name_zh, "address", 0, 0, None))
    while len(places) < n:
        en, zh = _name(rng)
        kind_en, kind_zh, kind = rng.choice(_KINDS)
        places.append(
            PlaceEntry(len(places) + 1, f"{en} {kind_en}", zh + kind_zh, kind, 0, 0, None)
        )
    return places


def _name(rng: random.Random) -> tuple[str, str]:
    picks = [rng.randrange(len(_SYLLABLES)) for _ in range(rng.choice((2, 2, 3)))]
    return "".join(_SYLLABLES[i] for i in picks).capitalize(), "".join(
        _CHARACTERS[i] for i in picks
    )


def gazetteer_queries(places: Sequence[PlaceEntry], n: int, seed: int) -> list[tuple[str, str]]:
    """(query, the English name meant): a letter dropped, or the Chinese name, half each."""
    rng = random.Random(seed)
    queries = []
    for entry in rng.sample(list(places), n):
        if rng.random() < 0.5:
            letters = [i for i, ch in enumerate(entry.name_en) if ch.isalpha()]
            i = rng.choice(letters)
            queries.append((entry.name_en[:i] + entry.name_en[i + 1 :], entry.name_en))
        else:
            queries.append((entry.name_zh, entry.name_en))
    return queries


@dataclass
class Search:
    places: int
    build_s: float
    median_ms: float
    p99_ms: float
    top1: float


def gazetteer_bench(places: int, queries: int, seed: int) -> Search:
    """Build the gazetteer, then time each search and check the first answer."""
    entries = build_places(places, seed)
    start = time.perf_counter()
    gazetteer = Gazetteer(entries)
    build_s = time.perf_counter() - start
    latencies, hits = [], 0
    for text, meant in gazetteer_queries(entries, queries, seed):
        start = time.perf_counter()
        found = gazetteer.search(text, limit=5)
        latencies.append(time.perf_counter() - start)
        hits += bool(found) and found[0].entry.name_en == meant
    latencies.sort()
    p99 = latencies[min(int(len(latencies) * 0.99), len(latencies) - 1)]
    median = statistics.median(latencies)
    return Search(len(entries), build_s, median * 1000, p99 * 1000, hits / len(latencies))


def report(args: argparse.Namespace) -> list[Row]:
    start = time.perf_counter()
    city = build_city(args.grids, args.seed)
    elapsed = time.perf_counter() - start
    print(f"generated {len(city.codes):,} grids, {city.km2:,.0f} km2, in {elapsed:.1f} s")
    lats, lons = random_points(city, args.points, args.seed)
    ours = in_process(city, lats, lons)
    rows = in_process_rows(city, ours, args.points)
    if args.no_postgis:
        return rows
    pg_lats, pg_lons = lats[: args.pg_points], lons[: args.pg_points]
    theirs = postgis(city, pg_lats, pg_lons, args.batch)
    if isinstance(theirs, str):
        print(f"\nNo PostGIS baseline: {theirs}\n", file=sys.stderr)
        return [*rows, Row("PostGIS baseline", "unavailable", theirs[:70])]
    agree = sum(
        a == b
        for a, b in zip(theirs.answers, ours.index.locate_many(pg_lats, pg_lons), strict=True)
    )
    return [*rows, *postgis_rows(ours, theirs, agree, args.batch)]


def in_process_rows(city: City, ours: InProcess, points: int) -> list[Row]:
    dict_load_s = ours.decode_s + ours.dict_build_s
    return [
        Row("grids", f"{len(city.codes):,}", f"{city.km2:,.0f} km2, 16 vertices each"),
        _target("load from GeoJSON text", ours.text_load_s, "s", TARGET_LOAD_S, below=True),
        _target("load from decoded GeoJSON", dict_load_s, "s", TARGET_LOAD_S, below=True),
        Row("  of which json.loads", f"{ours.decode_s:.2f} s"),
        Row("index resident memory", f"{ours.index_mib:.0f} MiB", "RSS growth over the text load"),
        Row("points", f"{points:,}", f"{ours.inside_share:.1%} inside a grid"),
        Row("locate, one call a point", f"{ours.single_per_s:,.0f} /s"),
        Row("locate_many, one batch", f"{ours.batch_per_s:,.0f} /s"),
    ]


def postgis_rows(ours: InProcess, theirs: PostGis, agree: int, batch: int) -> list[Row]:
    points = len(theirs.answers)
    single, batched = ours.single_per_s, ours.batch_per_s
    return [
        Row("PostGIS load", f"{theirs.load_s:.2f} s", "COPY, ST_GeomFromGeoJSON, GiST, ANALYZE"),
        Row("PostGIS table and indexes", f"{theirs.size_mib:.0f} MiB"),
        Row(
            "PostGIS points",
            f"{points:,}",
            f"same answers as GridIndex: {agree:,}",
            agree == points,
        ),
        Row("PostGIS ST_Contains, 1 query a point", f"{theirs.single_per_s:,.0f} /s", "prepared"),
        Row(f"PostGIS unnest join, {batch:,} a query", f"{theirs.batch_per_s:,.0f} /s"),
        _target("one at a time, ours / PostGIS", single / theirs.single_per_s, "x", TARGET_RATIO),
        _target("batched, ours / PostGIS", batched / theirs.batch_per_s, "x", TARGET_RATIO),
    ]


def _target(label: str, value: float, unit: str, target: float, below: bool = False) -> Row:
    ok = value < target if below else value >= target
    goal = f"{'<' if below else '>='} {target:g} {unit}"
    return Row(label, f"{value:.2f} {unit}", f"target {goal}: {'met' if ok else 'MISSED'}", ok)


def gazetteer_rows(args: argparse.Namespace) -> list[Row]:
    g = gazetteer_bench(args.places, args.queries, args.seed)
    return [
        Row("gazetteer places", f"{g.places:,}", "90 % house numbers on roads"),
        Row("gazetteer build", f"{g.build_s:.2f} s"),
        Row("search, median", f"{g.median_ms:.1f} ms", f"{args.queries:,} queries"),
        Row("search, 99th percentile", f"{g.p99_ms:.1f} ms"),
        Row("search, right place first", f"{g.top1:.1%}", "a letter dropped, or the Chinese name"),
    ]


def print_table(rows: Sequence[Row]) -> None:
    width = max(len(row.label) for row in rows)
    value_width = max(len(row.value) for row in rows)
    for row in rows:
        print(f"{row.label:<{width}}  {row.value:>{value_width}}  {row.note}".rstrip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--grids", type=int, default=108_000)
    parser.add_argument("--points", type=int, default=200_000, help="in-process lookups")
    parser.add_argument("--pg-points", type=int, default=20_000, help="PostGIS lookups")
    parser.add_argument("--batch", type=int, default=5_000, help="points per PostGIS batch")
    parser.add_argument("--places", type=int, default=100_000, help="gazetteer entries")
    parser.add_argument("--queries", type=int, default=1_000, help="gazetteer searches")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-postgis", action="store_true", help="skip the baseline")
    args = parser.parse_args(argv)
    args.pg_points = min(args.pg_points, args.points)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows = report(args)
    rows += gazetteer_rows(args)
    print()
    print_table(rows)
    return 0 if all(row.ok for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
