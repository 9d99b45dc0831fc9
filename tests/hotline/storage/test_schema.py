"""The schema the Alembic migrations build on the real database (PostgreSQL on CI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from hotline.storage import schema
from ticketing.db import Base

pytestmark = pytest.mark.integration


def test_migrations_build_exactly_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the suite's backend for one test: a SQLite file, or on
    PostgreSQL a schema of its own (the suite's tables stay as they are)."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    admin = create_engine(database_url)
    with admin.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS migration_scratch CASCADE"))
        connection.execute(text("CREATE SCHEMA migration_scratch"))
    url = make_url(database_url).update_query_dict({"options": "-csearch_path=migration_scratch"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text("DROP SCHEMA migration_scratch CASCADE"))
        admin.dispose()


def test_the_audit_source_column_is_added_to_existing_rows(scratch_url: str) -> None:
    schema.upgrade(scratch_url, "0009")
    engine = create_engine(scratch_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, target, data) "
                    "VALUES (:at, 'cli:root', 'grids.import', 'old.geojson', '{}')"
                ),
                {"at": datetime(2026, 11, 1, tzinfo=UTC)},
            )
        schema.upgrade(scratch_url)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT actor, source_ip FROM audit_log")).all()
        assert [tuple(row) for row in rows] == [("cli:root", "")]
        schema.downgrade(scratch_url, "0009")
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("audit_log")}
        assert "source_ip" not in columns
    finally:
        engine.dispose()
