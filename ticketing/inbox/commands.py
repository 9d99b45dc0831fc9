"""Reading the short commands grid members text back to the hotline, and residents' ratings.

Members reply from basic phones in a hurry, in Latin letters (A, D, R, N, S, L) or in
Chinese keywords (接单, 完成, 退回...), often typed with a Chinese input method that gives
full-width digits and punctuation. So the parser forgives case, extra spaces, full-width
characters, dashes inside the case number, a Chinese keyword glued to the number and a
missing note, and never guesses: anything it cannot read exactly becomes UNKNOWN and
changes nothing.
"""

from __future__ import annotations

import enum
import re
import string
from dataclasses import dataclass

from ticketing.cases.numbers import normalise_case_number


class CommandKind(enum.StrEnum):
    ACCEPT = "accept"
    DONE = "done"
    RETURN = "return"
    NOTE = "note"
    STATUS = "status"
    LIST = "list"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SmsCommand:
    kind: CommandKind
    case_number: str = ""
    text: str = ""


_K = CommandKind
_KEYWORDS = {
    "A": _K.ACCEPT,
    "D": _K.DONE,
    "R": _K.RETURN,
    "N": _K.NOTE,
    "S": _K.STATUS,
    "接单": _K.ACCEPT,
    "接": _K.ACCEPT,
    "完成": _K.DONE,
    "办结": _K.DONE,
    "退回": _K.RETURN,
    "备注": _K.NOTE,
    "查询": _K.STATUS,
}
_ALONE = {
    "L": _K.LIST,
    "列表": _K.LIST,
    "我的": _K.LIST,
    "?": _K.HELP,
    "HELP": _K.HELP,
    "帮助": _K.HELP,
}
# Returning a case without saying why leaves triage guessing, and an empty note says
# nothing, so both need text; a status query takes none.
_NEEDS_TEXT = {_K.RETURN, _K.NOTE}
_NO_TEXT = {_K.STATUS}

_CASE = r"(?P<number>[0-9]+(?:-[0-9]+)*)"
# After the number: a space or a separator, or straight into a Chinese note ("已修好").
_REST = r"(?:(?:\s+|[,;:、]\s*|(?=[^\x00-\x7f]))(?P<text>.*))?"
# A Latin letter needs a space before the number; a Chinese keyword may be glued to it.
_LATIN = re.compile(rf"^(?P<word>[ADRNS])\s+{_CASE}{_REST}$", re.DOTALL | re.IGNORECASE)
_CHINESE_WORDS = "|".join(sorted((w for w in _KEYWORDS if not w.isascii()), key=len, reverse=True))
_CHINESE = re.compile(rf"^(?P<word>{_CHINESE_WORDS})[\s:]*{_CASE}{_REST}$", re.DOTALL)
_RATING = re.compile(r"^[0-5]$")
# A note's own closing full stop would double the one the caller's SMS adds after it.
_TRIM = string.whitespace + "\u3000。.，,;；:：!！、"

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, mapped one character to
# one, so positions in the mapped text are positions in what the member typed.
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def _half_width(text: str) -> str:
    return text.translate(_HALF_WIDTH)


def parse_command(body: str) -> SmsCommand:
    """Turn an SMS body into a command; UNKNOWN when it is not exactly one we know."""
    original = body.strip()
    stripped = _half_width(original)
    alone = _ALONE.get(stripped.upper())
    if alone is not None:
        return SmsCommand(alone)
    match = _LATIN.match(stripped) or _CHINESE.match(stripped)
    if match is None:
        return SmsCommand(_K.UNKNOWN, text=original)
    kind = _KEYWORDS[match.group("word").upper()]
    case_number = normalise_case_number(match.group("number"))
    start = match.start("text")
    text = original[start:].strip(_TRIM) if start >= 0 else ""  # as typed, full-width kept
    if (kind in _NEEDS_TEXT and not text) or (kind in _NO_TEXT and text):
        return SmsCommand(_K.UNKNOWN, case_number=case_number, text=original)
    return SmsCommand(kind, case_number, text)


def parse_rating(body: str) -> int | None:
    """A resident's answer to the rating SMS: a single digit 0 to 5, else None."""
    stripped = _half_width(body.strip())
    return int(stripped) if _RATING.match(stripped) else None
