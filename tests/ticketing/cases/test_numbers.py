"""Case numbers: the local day and its sequence, read digit by digit, typed loosely."""

from __future__ import annotations

from datetime import date

import pytest

from ticketing.cases.numbers import format_case_number, normalise_case_number, spoken_digits

pytestmark = pytest.mark.unit


def test_case_numbers_start_with_the_local_day_and_widen_past_9999() -> None:
    assert format_case_number(date(2026, 11, 27), 42) == "2611270042"
    assert format_case_number(date(2026, 11, 27), 12345) == "26112712345"
    with pytest.raises(ValueError, match="start at 1"):
        format_case_number(date(2026, 11, 27), 0)


def test_case_numbers_are_read_digit_by_digit_and_typed_loosely() -> None:
    assert spoken_digits("2611270042") == "2 6 1 1 2 7 0 0 4 2"
    assert normalise_case_number(" 261127-0042#") == "2611270042"
