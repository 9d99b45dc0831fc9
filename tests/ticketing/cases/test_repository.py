"""The case-number sequence on the real database (PostgreSQL on CI)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from ticketing.cases import repository
from ticketing.models.cases import CaseSequence

pytestmark = pytest.mark.integration


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
