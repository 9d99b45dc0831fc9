"""Reading the short commands grid members text back to the hotline.

Members reply from basic phones in a hurry, so the parser forgives case, extra spaces,
dashes inside the case number and a missing note, and never guesses: anything it cannot
read exactly becomes UNKNOWN and changes nothing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ticketing.casenumbers import normalise_case_number


class CommandKind(enum.StrEnum):
    ACCEPT = "accept"
    DONE = "done"
    RETURN = "return"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SmsCommand:
    kind: CommandKind
    case_number: str = ""
    text: str = ""


_LETTERS = {"A": CommandKind.ACCEPT, "D": CommandKind.DONE, "R": CommandKind.RETURN}
# Returning a case without saying why leaves triage guessing, so a reason is required.
_NEEDS_TEXT = {CommandKind.RETURN}
_PATTERN = re.compile(r"^\s*([ADRadr])\s+([0-9]+(?:-[0-9]+)*)(?:\s+(.*))?$", re.DOTALL)

HELP_TEXT = "Reply A <case> to accept, D <case> <note> when done, R <case> <reason> to return it."


def parse_command(body: str) -> SmsCommand:
    """Turn an SMS body into a command; UNKNOWN when it is not exactly one we know."""
    stripped = body.strip()
    if stripped in {"?", "？", "help", "HELP", "Help"}:
        return SmsCommand(CommandKind.HELP)
    match = _PATTERN.match(stripped)
    if match is None:
        return SmsCommand(CommandKind.UNKNOWN, text=stripped)
    kind = _LETTERS[match.group(1).upper()]
    case_number = normalise_case_number(match.group(2))
    text = (match.group(3) or "").strip()
    if kind in _NEEDS_TEXT and not text:
        return SmsCommand(CommandKind.UNKNOWN, case_number=case_number, text=stripped)
    return SmsCommand(kind, case_number, text)
