"""Loading the catalogue and the demo city into a real (SQLite) database, once and twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from ticketing.db import Base
from ticketing.demo.seeding import DemoSummary, load_catalogue, load_demo_city
from ticketing.models.catalogue import Category
from ticketing.models.people import GridAssignment, Staff, StaffRole
from ticketing.models.places import Grid, Place, Region
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.catalogue import CATEGORIES, DEPARTMENTS, Priority
from ticketing.vocabulary.roles import AssignmentRole

pytestmark = pytest.mark.integration

MakeUow = Callable[[], UnitOfWork]


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_uow(engine: Engine) -> MakeUow:
    factory = sessionmaker(engine, expire_on_commit=False)
    return lambda: UnitOfWork(factory)


def _load(make_uow: MakeUow) -> DemoSummary:
    with make_uow() as uow:
        return load_demo_city(uow)


def _counts(make_uow: MakeUow) -> dict[str, int]:
    models: dict[str, Any] = {
        "regions": Region,
        "grids": Grid,
        "staff": Staff,
        "assignments": GridAssignment,
        "places": Place,
        "categories": Category,
    }
    with make_uow() as uow:
        return {
            name: uow.session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in models.items()
        }


def test_load_catalogue(make_uow: MakeUow) -> None:
    for _ in range(2):
        with make_uow() as uow:
            assert load_catalogue(uow) == {
                "departments": len(DEPARTMENTS),
                "categories": len(CATEGORIES),
            }
    with make_uow() as uow:
        leak = uow.session.scalars(select(Category).where(Category.code == "water_leak")).one()
        assert leak.department is not None
        assert leak.department.code == "water_utility"
        assert leak.default_priority is Priority.HIGH
    assert _counts(make_uow)["categories"] == len(CATEGORIES)


def test_load_demo_city_counts_match_the_summary(make_uow: MakeUow) -> None:
    started = time.perf_counter()
    summary = _load(make_uow)
    assert time.perf_counter() - started < 10
    assert _counts(make_uow) == {
        "regions": summary.regions,
        "grids": summary.grids,
        "staff": summary.staff,
        "assignments": summary.assignments,
        "places": summary.places,
        "categories": summary.categories,
    }
    assert (summary.regions, summary.grids, summary.assignments) == (14, 207, 414)
    assert summary.staff >= 250
    assert summary.places >= 100


def test_summary_examples_are_in_the_database(make_uow: MakeUow) -> None:
    summary = _load(make_uow)
    with make_uow() as uow:
        grid = uow.session.scalars(select(Grid).where(Grid.code == summary.grid_code)).one()
        primary = next(a.staff for a in grid.assignments if a.role is AssignmentRole.PRIMARY)
        assert (primary.name, primary.phone) == (
            summary.grid_member_name,
            summary.grid_member_phone,
        )
        assert primary.language == "en-US"
        assert grid.community.code == summary.community_code
        dispatcher = uow.session.scalars(
            select(Staff).where(Staff.phone == summary.dispatcher_phone)
        ).one()
        assert dispatcher.role is StaffRole.DISPATCHER
        assert dispatcher.department is not None
        agent = uow.session.scalars(select(Staff).where(Staff.name == summary.call_agent_name))
        assert agent.one().role is StaffRole.CALL_AGENT


def test_second_load_writes_nothing(make_uow: MakeUow, engine: Engine) -> None:
    first = _load(make_uow)
    before = _counts(make_uow)
    writes: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert _load(make_uow) == first
        with make_uow() as uow:
            load_catalogue(uow)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert writes == []
    assert _counts(make_uow) == before


def test_reload_keeps_what_an_administrator_edited(make_uow: MakeUow) -> None:
    summary = _load(make_uow)
    with make_uow() as uow:
        member = uow.session.scalars(
            select(Staff).where(Staff.phone == summary.grid_member_phone)
        ).one()
        member.phone = "+8613999999999"
        member.active = False
        street_light = uow.session.scalars(
            select(Category).where(Category.code == "street_light")
        ).one()
        street_light.default_priority = Priority.HIGH
        uow.commit()
    _load(make_uow)
    with make_uow() as uow:
        member = uow.session.scalars(
            select(Staff).where(Staff.employee_no == member.employee_no)
        ).one()
        assert (member.phone, member.active) == ("+8613999999999", False)
        assert (
            uow.session.scalar(
                select(Category.default_priority).where(Category.code == "street_light")
            )
            is Priority.HIGH
        )
    assert _counts(make_uow)["staff"] == summary.staff
