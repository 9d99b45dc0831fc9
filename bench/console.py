"""Console pages with 100,000 cases in PostgreSQL: server time of the triage queue, a case page
and the dashboard (Flask test client, in process, so the time is the server's own).

    .venv/bin/python bench/console.py                       # database bench_console, recreated
    .venv/bin/python bench/console.py --database-url postgresql://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/console.py --reuse               # keep an already filled database

The database is filled like a real one would be: a few hundred cases opened through the
intake service (routed, with events and SMS) and taken further by the real services (most
accepted, some resolved, some of those closed with a rating), then copied in SQL, with
their events, at spread-out times until there are `--cases`. `--triage-share` of them
(default 1 %) need an agent's triage, as unplaceable reports do in a real city.

Baselines, measured in the same run so the figures compare:
  - the triage queue with its partial index (ix_tickets_waiting) dropped, then put back;
  - the month's assessment computed per case in Python (`outcomes.assessment_per_case`,
    what the dashboard did before) against the SQL aggregate the dashboard uses now.
The dashboard is measured three ways: as it is (the month's assessment kept for 60 s,
warm after the first request); with the kept figures always expired (each request shows
them and starts a refresh behind it, which the next requests compete with); and with
nothing kept, so every request computes the assessment (in a worker, overlapping the
page's live reads), against the same computed in the request's thread after them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp

import psycopg
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.console.figure_cache import FigureCache
from hotline.settings import Settings
from hotline.storage import schema
from ticketing.cases import closure, intake
from ticketing.cases import services as cases
from ticketing.demo import seeding
from ticketing.models.cases import Ticket
from ticketing.people import accounts
from ticketing.reporting import outcomes
from ticketing.reporting.assessment import Level, month_bounds

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_console"
PASSWORD = "bench-console-pass-1"  # noqa: S105 (a throwaway database)
SEEDS = 300
SPREAD_MINUTES = 37  # copies of the seeds go back in steps of this (100,000: 8.5 days)
# (category, where): grids of two streets. An agent must place the others: a community
# with no grid, or no place at all.
PLACES = (
    ("street_light", "1101"),
    ("road_damage", "1102"),
    ("water_leak", "1105"),
    ("garbage", "2101"),
)
UNPLACED = (("street_light", "12"), ("street_light", ""), ("water_leak", ""))
# Shares of the routed seeds the services take further, and when (minutes after opening).
ACCEPTED, RESOLVED, CLOSED = 0.8, 0.5, 0.3
WAITING_INDEX = (
    "CREATE INDEX ix_tickets_waiting ON tickets (created_at, id) WHERE needs_triage AND "
    "status IN ('accepted', 'assigned', 'new', 'returned')"
)


def recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed_cases(services: Services, rng: random.Random, triage_share: float) -> None:
    """SEEDS cases opened over the last SPREAD_MINUTES, each taken as far as a real one
    might be by now: accepted, resolved, closed with a rating (or left where it is)."""
    now = services.clock()
    zone = services.settings.timezone
    unplaced = set(rng.sample(range(SEEDS), round(SEEDS * triage_share)))
    step = timedelta(minutes=SPREAD_MINUTES) / SEEDS
    for n in range(SEEDS):
        category, where = rng.choice(UNPLACED if n in unplaced else PLACES)
        new = intake.NewCase(category, where, f"bench case {n}", "+8613800000000", "en-US", "phone")
        opened = now - timedelta(minutes=SPREAD_MINUTES) + n * step
        with services.uow() as uow:
            _, ticket = intake.open_case_uncommitted(uow, new, opened, zone)
            staff = ticket.assignee
            roll = rng.random()
            if staff is not None and roll < ACCEPTED:
                cases.accept(uow, ticket, staff, "", opened + step / 4)
                if roll < RESOLVED:
                    cases.resolve(uow, ticket, staff, "fixed", opened + step / 2)
                    if roll < CLOSED:
                        rating = rng.choice((2, 3, 4, 5, 5))
                        closure.close(uow, ticket, "caller", opened + step * 3 / 4, rating=rating)
            uow.commit()


def fill(services: Services, total: int, seed: int, triage_share: float) -> None:
    rng = random.Random(seed)
    now = services.clock()
    with services.uow() as uow:
        seeding.load_demo_city(uow, now=now)
        for role in ("agent", "supervisor", "admin"):
            accounts.set_password(uow, role, PASSWORD, "bench", now)
    seed_cases(services, rng, triage_share)
    copy_cases(services, total)


def copy_cases(services: Services, total: int) -> None:
    """The seeds copied, with their events, each copy further back in time, up to `total`."""
    with services.engine.begin() as conn:
        columns = list(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'tickets' AND column_name NOT IN ('id', 'number')"
                )
            ).scalars()
        )
        stamps = set(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'tickets' AND data_type LIKE 'timestamp%'"
                )
            ).scalars()
        )
        copies = -(-(total - SEEDS) // SEEDS)
        back = f"(g * interval '{SPREAD_MINUTES} minutes')"
        moved = [f"{c} - {back}" if c in stamps else c for c in columns]
        # A copy's number is 8000000000 + g * 1000 + its seed's id: its events are found
        # from it, moved back as far as the copy.
        conn.execute(
            text(
                f"INSERT INTO tickets (number, {', '.join(columns)}) "  # noqa: S608
                f"SELECT (8000000000 + g * 1000 + t.id)::text, {', '.join(moved)} "
                f"FROM tickets t, generate_series(1, {copies}) g "
                f"WHERE t.id <= {SEEDS} ORDER BY g, t.id LIMIT {total - SEEDS}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ticket_events "  # noqa: S608 (our own constants)
                "(ticket_id, at, kind, actor, from_status, to_status, note, data) "
                f"SELECT c.id, e.at - {back}, e.kind, e.actor, e.from_status, e.to_status, "
                f"e.note, e.data FROM ticket_events e CROSS JOIN generate_series(1, {copies}) g "
                "JOIN tickets c ON c.number = (8000000000 + g * 1000 + e.ticket_id)::text "
                f"WHERE e.ticket_id <= {SEEDS}"
            )
        )
    # What autovacuum would have done by now on a live database: statistics and the
    # visibility map (which index-only scans need).
    with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def timed(client: FlaskClient, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n + 3):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times[3:]  # the first few warm caches and the template loader


def assessment_rows(services: Services, n: int) -> list[tuple[str, list[float], float]]:
    """The month's whole-city assessment alone: per case in Python (the baseline, what the
    dashboard did before) against the SQL aggregate, on the same data."""
    now = services.clock()
    zone = services.settings.timezone
    start, end = month_bounds(now.astimezone(zone).strftime("%Y-%m"), zone)
    found = []
    for label, compute in (
        ("BASELINE assessment per case in Python (city)", outcomes.assessment_per_case),
        ("assessment aggregated in SQL (city)", outcomes.assessment),
    ):
        times = []
        with services.uow() as uow:
            for _ in range(n + 1):
                begin = time.perf_counter()
                table = compute(uow.session, Level.STREET, start, end, now)
                times.append((time.perf_counter() - begin) * 1000)
        found.append((label, times[1:], 0.0))
        print(f"{label}: {sum(r.cases for r in table)} cases in {len(table)} rows")
    return found


def p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--triage-share",
        type=float,
        default=0.01,
        help="share of the cases waiting for an agent's triage (default 0.01)",
    )
    args = parser.parse_args()

    var_dir = mkdtemp(prefix="bench-console-")
    settings = Settings.from_env(
        {
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": "bench-secret",
            "HOTLINE_VAR_DIR": var_dir,
            "HOTLINE_FILES_DIR": var_dir,
        }
    )
    services = bootstrap(settings, clock=lambda: datetime.now(UTC))
    started = time.perf_counter()
    if not args.reuse:
        recreate(args.database_url)
        schema.upgrade(settings.database_url)
        fill(services, args.cases, args.seed, args.triage_share)
    with services.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(Ticket))
        waiting = uow.session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.needs_triage)
        )
        number = uow.session.scalars(select(Ticket.number).order_by(Ticket.id).limit(1)).one()
    print(
        f"{count} cases ({waiting} needing triage), filled in {time.perf_counter() - started:.0f} s"
    )

    app = create_app(settings, services)
    clients: dict[str, FlaskClient] = {}
    for role in ("agent", "supervisor"):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post(
            "/login", data={"username": role, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 302, answer.get_data(as_text=True)[-300:]
        clients[role] = client

    n = args.requests
    rows: list[tuple[str, list[float], float]] = []

    def measure(label: str, role: str, path: str, target: float) -> None:
        rows.append((label, timed(clients[role], path, n), target))

    def without_index(run: Callable[[], None]) -> None:
        with services.engine.begin() as conn:
            conn.execute(text("DROP INDEX ix_tickets_waiting"))
        try:
            run()
        finally:
            with services.engine.begin() as conn:
                conn.execute(text(WAITING_INDEX))

    measure("triage queue (agent)", "agent", "/console/queue", 100)
    measure("triage queue (supervisor S1)", "supervisor", "/console/queue", 100)
    without_index(
        lambda: measure(
            "BASELINE triage queue, no ix_tickets_waiting", "agent", "/console/queue", 0
        )
    )
    measure(f"case page {number} (agent)", "agent", f"/console/cases/{number}", 100)
    measure("dashboard (agent: every case)", "agent", "/console/dashboard", 300)
    measure("dashboard (supervisor S1)", "supervisor", "/console/dashboard", 300)
    cache = app.extensions["dashboard_assessments"]
    # Every request finds the kept figures expired: it shows them and starts a refresh,
    # which runs behind the next requests (one at a time per scope), as after each minute.
    app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 0.001
    measure("dashboard, figures expired (agent)", "agent", "/console/dashboard", 300)
    measure("dashboard, figures expired (supervisor S1)", "supervisor", "/console/dashboard", 300)
    cache.settle(30)
    # Nothing kept: every request computes the assessment, in a worker while it reads the
    # live figures (a scope's first view); the baseline computes it after them, in turn.
    app.config["DASHBOARD_ASSESSMENT_CACHE_SECONDS"] = 0.0
    measure("dashboard, nothing kept (agent)", "agent", "/console/dashboard", 300)
    measure("dashboard, nothing kept (supervisor S1)", "supervisor", "/console/dashboard", 300)
    app.extensions["dashboard_assessments"] = FigureCache(background=False)
    measure("BASELINE dashboard, nothing kept, in turn (agent)", "agent", "/console/dashboard", 0)
    cache.shutdown()
    rows.extend(assessment_rows(services, max(3, n // 10)))

    print(f"\n{n} requests each, server time in ms (Flask test client, in process)")
    print(f"{'page':52} {'p50':>8} {'p95':>8} {'mean':>8}  target")
    met = True
    for label, times, target in rows:
        p95 = p(times, 95)
        verdict = "" if not target else ("ok" if p95 < target else "MISSED")
        met = met and verdict != "MISSED"
        print(
            f"{label:52} {p(times, 50):8.1f} {p95:8.1f} {statistics.mean(times):8.1f}  "
            f"{f'<{target}' if target else '-':>5} {verdict}"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
