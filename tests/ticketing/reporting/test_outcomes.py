"""The assessment over real cases and their histories, and its command."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hotline.bootstrap import Services
from tests.factories import new_case
from ticketing.cases import intake
from ticketing.cases import services as cases
from ticketing.reporting.assessment import Level, month_bounds
from ticketing.reporting.outcomes import assessment

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int) -> datetime:
    return datetime.combine(date(2026, 11, day), time(hour), tzinfo=SH).astimezone(UTC)


def test_street_level_assessment_from_event_history(services: Services) -> None:
    with services.uow() as uow:
        new = new_case()
        _, quick = intake.open_case_uncommitted(uow, new, local(23, 9), SH)
        _, slow = intake.open_case_uncommitted(uow, new, local(23, 9), SH)
        elsewhere = new_case(category="garbage", where="2101", caller=None)
        intake.open_case_uncommitted(uow, elsewhere, local(23, 9), SH)
        assert quick.assignee is not None
        assert slow.assignee is not None
        cases.accept(uow, quick, quick.assignee, "", local(23, 10))  # within 4 working hours
        cases.resolve(uow, quick, quick.assignee, "fixed", local(24, 9))
        cases.accept(uow, slow, slow.assignee, "", local(24, 16))  # a day late, never resolved
        uow.commit()
        start, end = month_bounds("2026-11", SH)
        # Seen on 10 December: slow's 7 working days ran out on 2 December.
        seen = datetime(2026, 12, 10, 12, tzinfo=SH)
        rows = {r.unit: r for r in assessment(uow.session, Level.STREET, start, end, seen)}
    first = next(r for unit, r in rows.items() if unit.endswith("(S1)"))
    second = next(r for unit, r in rows.items() if unit.endswith("(S2)"))
    assert first.cases == 2
    assert first.response_rate == 0.5
    assert first.on_time_rate == 0.5  # quick in time; slow overdue
    assert first.median_hours_to_accept == (1 + 31) / 2
    assert first.median_hours_to_resolve == 24.0
    assert second.cases == 1
