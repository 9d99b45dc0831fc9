"""Reading the short commands grid members text back to the hotline, and residents' ratings.

Members reply from basic phones in a hurry, in Latin letters (A, D, R, N, S, L) or in
Chinese keywords (接单, 完成, 退回...), often typed with a Chinese input method that gives
full-width digits and punctuation. So the parser forgives case, extra spaces, full-width
characters, dashes inside the case number, a Chinese keyword glued to the number and a
missing note, and never guesses: anything it cannot read exactly becomes UNKNOWN and
changes nothing. Which words spell which command is not kept here but in the inbox's
command table (`ticketing.inbox.services.COMMANDS`), beside each command's handler.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Iterable, Mapping
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


class Text(enum.Enum):
    """Whether text may follow a command's case number."""

    OPTIONAL = "optional"
    REQUIRED = "required"
    NONE = "none"


@dataclass(frozen=True)
class Spelling:
    """How members write one command: its Latin letters and Chinese keywords, whether a
    case number follows them, and whether text may follow the number."""

    words: tuple[str, ...]
    case_number: bool = True
    text: Text = Text.OPTIONAL


_CASE = r"(?P<number>[0-9]+(?:-[0-9]+)*)"
# After the number: a space or a separator, or straight into a Chinese note ("已修好").
_REST = r"(?:(?:\s+|[,;:、]\s*|(?=[^\x00-\x7f]))(?P<text>.*))?"
_RATING = re.compile(r"^[0-5]$")
# A note's own closing full stop would double the one the caller's SMS adds after it.
_TRIM = string.whitespace + "\u3000。.，,;；:：!！、"

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, mapped one character to
# one, so positions in the mapped text are positions in what the member typed.
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def _half_width(text: str) -> str:
    return text.translate(_HALF_WIDTH)


def _any_of(words: Iterable[str]) -> str:
    """A regex alternation of `words`, longest first ("接单" before "接"); with no words,
    a pattern that never matches."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) or "(?!)"


class CommandParser:
    """Reads SMS bodies as the commands of one table, each spelled as the table says."""

    def __init__(self, spellings: Mapping[CommandKind, Spelling]) -> None:
        self._spellings = dict(spellings)
        self._words: dict[str, CommandKind] = {}
        for kind, spelling in spellings.items():
            for word in spelling.words:
                if (taken := self._words.setdefault(word.upper(), kind)) is not kind:
                    raise ValueError(f"{word!r} spells both {taken.name} and {kind.name}")
        on_case = [w for w, kind in self._words.items() if spellings[kind].case_number]
        latin = _any_of(w for w in on_case if w.isascii())
        chinese = _any_of(w for w in on_case if not w.isascii())
        # A Latin letter needs a space before the number; a Chinese keyword may be glued.
        self._latin = re.compile(
            rf"^(?P<word>{latin})\s+{_CASE}{_REST}$", re.DOTALL | re.IGNORECASE
        )
        self._chinese = re.compile(rf"^(?P<word>{chinese})[\s:]*{_CASE}{_REST}$", re.DOTALL)

    def parse(self, body: str) -> SmsCommand:
        """Turn an SMS body into a command; UNKNOWN when it is not exactly one we know."""
        original = body.strip()
        stripped = _half_width(original)
        alone = self._words.get(stripped.upper())
        if alone is not None and not self._spellings[alone].case_number:
            return SmsCommand(alone)
        match = self._latin.match(stripped) or self._chinese.match(stripped)
        if match is None:
            return SmsCommand(CommandKind.UNKNOWN, text=original)
        kind = self._words[match.group("word").upper()]
        case_number = normalise_case_number(match.group("number"))
        start = match.start("text")
        text = original[start:].strip(_TRIM) if start >= 0 else ""  # as typed, full-width kept
        rule = self._spellings[kind].text
        if (rule is Text.REQUIRED and not text) or (rule is Text.NONE and text):
            return SmsCommand(CommandKind.UNKNOWN, case_number=case_number, text=original)
        return SmsCommand(kind, case_number, text)


def parse_rating(body: str) -> int | None:
    """A resident's answer to the rating SMS: a single digit 0 to 5, else None."""
    stripped = _half_width(body.strip())
    return int(stripped) if _RATING.match(stripped) else None
