from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ticketing.reporting.assessment import Outcome, assess, month_bounds

pytestmark = pytest.mark.unit

BASE = Outcome(
    unit="",
    assigned=True,
    accepted_on_time=True,
    resolved=True,
    resolved_on_time=True,
    overdue_open=False,
    rating=None,
    reopened=False,
    hours_to_accept=1.0,
    hours_to_resolve=10.0,
)


def case(unit: str, **changes: Any) -> Outcome:
    return replace(BASE, unit=unit, **changes)


def test_rates_and_medians_per_unit() -> None:
    rows = assess(
        [
            case("A", rating=5),
            case(
                "A",
                accepted_on_time=False,
                resolved_on_time=False,
                rating=2,
                reopened=True,
                hours_to_accept=3.0,
                hours_to_resolve=30.0,
            ),
            case(
                "A",
                resolved=False,
                resolved_on_time=False,
                overdue_open=True,
                rating=None,
                hours_to_accept=None,
                hours_to_resolve=None,
            ),
            case(
                "A",
                assigned=False,
                accepted_on_time=False,
                resolved=False,
                resolved_on_time=False,
                hours_to_accept=None,
                hours_to_resolve=None,
            ),
            case("B"),
        ]
    )
    a = next(r for r in rows if r.unit == "A")
    assert a.cases == 4
    assert a.response_rate == pytest.approx(2 / 3)  # 2 of 3 assigned were accepted in time
    assert a.on_time_rate == pytest.approx(1 / 3)  # 1 of 2 resolved + 1 overdue
    assert a.satisfaction_rate == pytest.approx(1 / 2)
    assert a.reopen_rate == pytest.approx(1 / 2)
    assert (a.median_hours_to_accept, a.median_hours_to_resolve) == (2.0, 20.0)
    assert [r.unit for r in rows] == ["B", "A"]  # best on-time rate first


def test_units_without_figures_say_so() -> None:
    (row,) = assess(
        [
            case(
                "C",
                assigned=False,
                resolved=False,
                accepted_on_time=False,
                resolved_on_time=False,
                hours_to_accept=None,
                hours_to_resolve=None,
            )
        ]
    )
    assert (row.response_rate, row.on_time_rate, row.satisfaction_rate) == (None, None, None)


def test_month_bounds_are_local_months() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    start, end = month_bounds("2026-12", zone)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-12-01T00:00:00+08:00",
        "2027-01-01T00:00:00+08:00",
    )
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2026-13", zone)
