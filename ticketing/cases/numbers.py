"""Human-friendly case numbers: the local date, then a daily sequence.

Residents read them out and type them in SMS replies, so they are digits only (easy on a
keypad and over a phone line), begin with the day the case was opened (agents can tell its
age at a glance), and the sequence widens past 9999 instead of wrapping.
"""

from __future__ import annotations

import re
from datetime import date

_NON_DIGITS = re.compile(r"\D")


def day_prefix(day: date) -> str:
    """The six-digit YYMMDD prefix every case opened on `day` shares."""
    return day.strftime("%y%m%d")


def format_case_number(day: date, sequence: int) -> str:
    """Build a case number such as 2611270042 from the local day and its sequence."""
    if sequence < 1:
        raise ValueError("case sequences start at 1")
    return f"{day_prefix(day)}{sequence:04d}"


def normalise_case_number(text: str) -> str:
    """Drop the spaces, dashes and '#' people add when they type a case number."""
    return _NON_DIGITS.sub("", text)


def spoken_digits(case_number: str) -> str:
    """Space the digits so a text-to-speech voice reads them one by one."""
    return " ".join(case_number)
