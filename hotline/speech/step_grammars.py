"""The grammar for a call step, by name and language, as the webhook and media server need it.

Both sides must build the same grammar for a step (the media server to recognise, the
webhook to interpret what Twilio's `<Record>` captured), so both ask here. The category
grammar carries the emergency words too: a caller who says "gas" at any speech step must
be caught even though the engine only listens for the step's phrases.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.speech import grammars
from hotline.speech.grammars import Grammar, Mode
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Category
from ticketing.models.places import Grid, Place

EMERGENCY = "emergency"
EMERGENCY_WORDS = {
    "en": ("gas", "fire", "smoke", "injured", "bleeding", "explosion", "smell of gas"),
    "zh": ("煤气", "燃气", "着火", "起火", "冒烟", "受伤", "流血", "爆炸"),
}
PERSONAL_SECONDS = 60.0
STEP_GRAMMARS = ("digits", "yesno", "menu", "category", "place", "language", "case_number")
LANGUAGE_WORDS = {
    "en": (("english", "en-US"), ("chinese", "zh-CN"), ("mandarin", "zh-CN")),
    "zh": (("普通话", "zh-CN"), ("中文", "zh-CN"), ("英语", "en-US")),
}


def is_emergency(text: str, language: str) -> bool:
    """Whether what the caller said holds an emergency word, wherever in the sentence."""
    lang = grammars.base_language(language)
    words = EMERGENCY_WORDS.get(lang, ())
    if grammars.is_unspaced(language):
        return any(w in text for w in words)
    spoken = f" {text.lower()} "
    return any(f" {w} " in spoken for w in words)


def with_emergency_words(grammar: Grammar) -> Grammar:
    """The grammar plus the emergency words, valued "emergency" and boosted: an engine
    that spots phrases is told to be quicker to hear them than the grammar's own."""
    words = EMERGENCY_WORDS.get(grammars.base_language(grammar.language), ())
    return replace(
        grammar,
        phrases=grammar.phrases + tuple((w, EMERGENCY) for w in words),
        boost=grammar.boost | {EMERGENCY},
    )


def spelled(digits: str, language: str) -> str:
    """A number as a caller says it digit by digit ("1101" -> "one one zero one")."""
    words = grammars.DIGIT_WORDS.get(grammars.base_language(language), {})
    sep = "" if grammars.is_unspaced(language) else " "
    return sep.join(words[d][0] if words.get(d) else d for d in digits)


class StepGrammars:
    """Builds and caches step grammars; categories and places come from the database, so a
    city's catalogue and gazetteer edits reach the IVR: the cache is rebuilt every
    `max_age` seconds (and on `refresh()`), in the web and the media server alike, without
    a restart and without a query per call."""

    def __init__(self, session_factory: sessionmaker[Session], max_age: float = 300.0) -> None:
        self._sessions = session_factory
        self._max_age = max_age
        self.refresh()

    def refresh(self) -> None:
        self._build: Callable[[str, str], Grammar] = lru_cache(maxsize=64)(self._make)
        self._personal: dict[tuple[str, str], tuple[Grammar, float]] = {}
        self._built_at = time.monotonic()

    def get(self, name: str, language: str) -> Grammar:
        """The grammar `name` (one of STEP_GRAMMARS; "digits:10" fixes the length;
        "case_number:+86..." is that caller's recent cases, kept a minute)."""
        now = time.monotonic()
        if now - self._built_at > self._max_age:
            self.refresh()
        base, _, phone = name.partition(":")
        if base != "case_number":
            return self._build(name, language)
        # A caller's cases change with each new case: kept only for the call's minute.
        key = (name, language)
        kept = self._personal.get(key)
        if kept is None or now - kept[1] > PERSONAL_SECONDS:
            kept = (self._case_numbers(phone, language), now)
            self._personal[key] = kept
        return kept[0]

    def _case_numbers(self, phone: str, language: str) -> Grammar:
        """A caller's own 50 newest cases, each number spoken digit by digit.

        Ten free digits over an 8 kHz line are beyond the engines (a digit in five goes
        wrong); choosing among a caller's few case numbers is not. Other numbers are
        typed on the keypad, which the step always offers.
        """
        with self._sessions() as session:
            numbers = session.scalars(
                select(Ticket.number)
                .where(Ticket.caller_phone == phone)
                .order_by(Ticket.id.desc())
                .limit(50)
            ).all()
        phrases = tuple((spelled(n, language), n) for n in numbers)
        return Grammar("case_number", language, phrases, Mode.CHOICE)

    def _make(self, name: str, language: str) -> Grammar:
        base, _, length = name.partition(":")
        if base == "digits":
            return grammars.digits(language, int(length) if length else None)
        if base == "category":
            return with_emergency_words(grammars.category(language, self._categories()))
        if base == "place":
            # One phrase of a closed list: spotting 200 four-digit codes in free speech
            # confuses them ("one one zero one" heard as 1301), choosing among them does not.
            places = self._places(language) + self._grid_codes(language)
            choice = replace(grammars.place(language, places), mode=Mode.CHOICE)
            return with_emergency_words(choice)
        if base == "language":
            phrases = LANGUAGE_WORDS.get(grammars.base_language(language), ())
            return Grammar("language", language, phrases, Mode.SPOT)
        if base in grammars.BUILT_IN:
            return grammars.BUILT_IN[base](language)
        raise ValueError(f"unknown step grammar {name!r}; known: {', '.join(STEP_GRAMMARS)}")

    def _categories(self) -> list[Category]:
        with self._sessions() as session:
            return list(session.scalars(select(Category).where(Category.active.is_(True))))

    def _grid_codes(self, language: str) -> list[tuple[str, str]]:
        """Grid codes spoken digit by digit ("one one zero one"), valued "grid:1101": a
        closed list is recognised far better than four free digits."""
        with self._sessions() as session:
            codes = session.scalars(select(Grid.code)).all()
        return [(spelled(code, language), f"grid:{code}") for code in codes]

    def _places(self, language: str) -> list[tuple[str, str]]:
        """Named places (landmarks, schools, markets; not street addresses), valued by id."""
        zh = grammars.base_language(language) == "zh"
        with self._sessions() as session:
            rows = session.execute(
                select(Place.id, Place.name_zh, Place.name_en).where(Place.kind != "address")
            )
            return [(zh_name if zh else en_name, str(pid)) for pid, zh_name, en_name in rows]
