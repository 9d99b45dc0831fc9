"""Console pages with 100,000 cases in PostgreSQL: server time of the triage queue, a case page
and the dashboard (Flask test client, in process, so the time is the server's own).

    .venv/bin/python bench/console.py                       # database bench_console, recreated
    .venv/bin/python bench/console.py --database-url postgresql://postgres@127.0.0.1:5432/x
    .venv/bin/python bench/console.py --reuse               # keep an already filled database

The database is filled like a real one would be: a few hundred cases opened through the
intake service (routed, with events and SMS), then copied in SQL with spread-out creation
times until there are `--cases`. The baseline, in the same run, is the triage queue with
its partial index (ix_tickets_waiting) dropped, then put back.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

import psycopg
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hotline import schema
from hotline.app import create_app
from hotline.bootstrap import Services, bootstrap
from hotline.settings import Settings
from ticketing import accounts, intake, seeding
from ticketing.models import Ticket

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_console"
PASSWORD = "bench-console-pass-1"  # noqa: S105 (a throwaway database)
SEEDS = 300
# (category, where): grids of two streets, a community with no grid, an unknown place (triage)
PLACES = (
    ("street_light", "1101"),
    ("road_damage", "1102"),
    ("water_leak", "1105"),
    ("garbage", "2101"),
    ("street_light", "12"),
    ("street_light", ""),
    ("water_leak", ""),
)
WAITING_INDEX = (
    "CREATE INDEX ix_tickets_waiting ON tickets (created_at, id) WHERE needs_triage AND "
    "status IN ('accepted', 'assigned', 'new', 'returned')"
)


def recreate(url: str) -> None:
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fill(services: Services, total: int, seed: int) -> None:
    rng = random.Random(seed)
    now = services.clock()
    with services.uow() as uow:
        seeding.load_demo_city(uow, now=now)
        for role in ("agent", "supervisor", "admin"):
            accounts.set_password(uow.session, role, PASSWORD, "bench", now)
        uow.commit()
    for n in range(SEEDS):
        category, where = rng.choice(PLACES)
        new = intake.NewCase(category, where, f"bench case {n}", "+8613800000000", "en-US", "phone")
        with services.uow() as uow:
            intake.open_case(uow, new, now, services.settings.timezone)
    with services.engine.begin() as conn:
        columns = list(
            conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'tickets' AND column_name NOT IN ('id', 'number')"
                )
            ).scalars()
        )
        copies = -(-(total - SEEDS) // SEEDS)
        moved = [
            c if c != "created_at" else "created_at - (g * interval '37 minutes')" for c in columns
        ]
        conn.execute(
            text(
                f"INSERT INTO tickets (number, {', '.join(columns)}) "  # noqa: S608
                f"SELECT (8000000000 + g * 1000 + t.id)::text, {', '.join(moved)} "
                f"FROM tickets t, generate_series(1, {copies}) g "
                f"WHERE t.id <= {SEEDS} LIMIT {total - SEEDS}"
            )
        )
        conn.execute(text("ANALYZE"))


def timed(client: FlaskClient, path: str, n: int) -> list[float]:
    times = []
    for _ in range(n + 3):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times[3:]  # the first few warm caches and the template loader


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
    args = parser.parse_args()

    settings = Settings.from_env(
        {
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": "bench-secret",
            "HOTLINE_VAR_DIR": mkdtemp(prefix="bench-console-"),
        }
    )
    services = bootstrap(settings, clock=lambda: datetime.now(UTC))
    started = time.perf_counter()
    if not args.reuse:
        recreate(args.database_url)
        schema.upgrade(settings.database_url)
        fill(services, args.cases, args.seed)
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
