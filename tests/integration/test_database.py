"""The schema and the case-number sequence on the real database (PostgreSQL on CI)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from ticketing.cases import repository
from ticketing.db import Base
from ticketing.models.cases import CaseSequence

pytestmark = pytest.mark.integration


def test_migrations_build_exactly_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []


def test_case_numbers_are_unique_under_concurrent_transactions(db_engine: Engine) -> None:
    day = "990101"  # a day no other test uses; removed again below

    def take(_: int) -> int:
        with Session(db_engine) as session, session.begin():
            return repository.next_case_sequence(session, day)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            numbers = list(pool.map(take, range(80)))
        assert sorted(numbers) == list(range(1, 81))
    finally:
        with Session(db_engine) as session, session.begin():
            session.execute(delete(CaseSequence).where(CaseSequence.day == day))
