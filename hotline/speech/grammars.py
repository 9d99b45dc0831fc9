"""What a caller may say at a step, and what each phrase means to the flow.

A grammar narrows the engine to a few phrases (far more accurate than free dictation on
a phone line) and maps the words heard back to a value the flow acts on: a digit string,
"yes"/"no", a menu choice, a category code, a place. Engines turn a grammar into their own
form (a Vosk JSON list, a JSGF rule, PocketSphinx keyphrases); matching text back to a
value happens here, once, so every engine and the scripted fake agree on it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from ticketing.vocabulary.catalogue import CATEGORIES


class Mode(enum.StrEnum):
    SEQUENCE = "sequence"  # any run of phrases, values joined: a case number
    CHOICE = "choice"  # exactly one phrase: yes or no, a menu choice
    SPOT = "spot"  # a phrase somewhere in free speech: "the street light is broken"


def base_language(language: str) -> str:
    """'en-US' -> 'en', 'zh-CN' -> 'zh': grammars differ by language, not by region."""
    return language.split("-")[0].split("_")[0].lower()


def is_unspaced(language: str) -> bool:
    """Chinese and Japanese text has no spaces between words, so phrases match by character."""
    return base_language(language) in {"zh", "ja"}


@dataclass(frozen=True)
class Grammar:
    """Phrases (lowercase, engine words separated by spaces) and the value each stands for."""

    name: str
    language: str
    phrases: tuple[tuple[str, str], ...]
    mode: Mode = Mode.CHOICE
    length: int | None = None  # a SEQUENCE of exactly this many phrases, when known
    # Values whose phrases an engine should be quicker to hear, at the price of false
    # alarms: the emergency words, which must not be missed in a spotted sentence.
    boost: frozenset[str] = frozenset()

    def texts(self) -> list[str]:
        """The phrases alone, each once, in the grammar's order."""
        return list(dict.fromkeys(phrase for phrase, _ in self.phrases))

    def interpret(self, text: str) -> str | None:
        """The value of what was heard, or None when no phrase of the grammar is in it."""
        matches = self._scan(_units(text, self.language))
        if not matches:
            return None
        if self.mode is Mode.SEQUENCE:
            return "".join(value for _, value in matches)
        # A boosted value wins wherever it was heard: "gas" is both a gas-smell report and
        # an emergency word, and "the street light is on fire" is an emergency.
        matches = [m for m in matches if m[1] in self.boost] or matches
        longest = max(length for length, _ in matches)
        return next(value for length, value in matches if length == longest)

    def _scan(self, units: list[str]) -> list[tuple[int, str]]:
        """Greedy longest match, left to right: (length in units, value) per phrase found."""
        table = sorted(
            ((_units(phrase, self.language), value) for phrase, value in self.phrases),
            key=lambda item: (-len(item[0]), item[1] not in self.boost),
        )
        found: list[tuple[int, str]] = []
        i = 0
        while i < len(units):
            for phrase_units, value in table:
                if phrase_units and units[i : i + len(phrase_units)] == phrase_units:
                    found.append((len(phrase_units), value))
                    i += len(phrase_units)
                    break
            else:
                i += 1
        return found


def _units(text: str, language: str) -> list[str]:
    cleaned = "".join(c if c.isalnum() or c in "'" else " " for c in text.lower())
    if is_unspaced(language):
        return [c for c in cleaned if not c.isspace()]
    return cleaned.split()


def _grammar(
    name: str, language: str, table: Mapping[str, Mapping[str, Iterable[str]]], mode: Mode
) -> Grammar:
    lang = base_language(language)
    if lang not in table:
        raise ValueError(f"no {name} grammar for language {language!r} (have: {sorted(table)})")
    phrases = tuple((p, value) for value, words in table[lang].items() for p in words)
    return Grammar(name, language, phrases, mode)


DIGIT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "0": ("zero", "oh"), "1": ("one",), "2": ("two",), "3": ("three",), "4": ("four",),
        "5": ("five",), "6": ("six",), "7": ("seven",), "8": ("eight",), "9": ("nine",),
    },
    "zh": {
        "0": ("零",), "1": ("一", "幺"), "2": ("二", "两"), "3": ("三",), "4": ("四",),
        "5": ("五",), "6": ("六",), "7": ("七",), "8": ("八",), "9": ("九",),
    },
    # Sino-Korean numerals, as Koreans read out numbers; lets the Korean Vosk model test us.
    "ko": {
        "0": ("영", "공"), "1": ("일",), "2": ("이",), "3": ("삼",), "4": ("사",),
        "5": ("오",), "6": ("육",), "7": ("칠",), "8": ("팔",), "9": ("구",),
    },
}  # fmt: skip

YESNO_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "yes": ("yes", "yeah", "yep", "correct", "right", "that's right"),
        "no": ("no", "nope", "wrong", "incorrect", "not right"),
    },
    "zh": {
        "yes": ("是", "是的", "对", "对的", "好的", "没错"),
        "no": ("不", "不是", "不对", "错了"),
    },
    "ko": {"yes": ("네", "예"), "no": ("아니요", "아니")},
}

MENU_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "report": ("report", "report a problem", "problem", "new report"),
        "status": ("status", "check", "check a case", "case status"),
        "agent": ("agent", "operator", "person", "speak to an agent"),
    },
    "zh": {
        "report": ("报告", "反映", "反映问题", "投诉"),
        "status": ("查询", "进度", "查询进度"),
        "agent": ("人工", "客服", "转人工", "人工服务"),
    },
}

# Words callers use besides the catalogue's names; a city extends these with its own.
CATEGORY_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "street_light": ("street light", "streetlight", "street lamp", "lamp", "lamp post"),
        "garbage": ("garbage", "rubbish", "trash", "bins"),
        "water_leak": ("leak", "leaking", "burst pipe", "water pipe"),
        "drainage": ("drain", "blocked drain", "flooding", "flooded", "sewer"),
        "road_damage": ("pothole", "potholes", "damaged road", "pavement"),
        "illegal_parking": ("parking", "parked"),
        "noise": ("noisy", "loud"),
        "illegal_construction": ("construction",),
        "street_vending": ("vendor", "vendors", "vending", "stall"),
        "tree_greening": ("tree", "trees", "grass"),
        "public_facility": ("bench", "facility"),
        "stray_animal": ("stray", "stray dog", "stray dogs", "stray cat"),
        "heating": ("heating", "radiator"),
        "gas_smell": ("gas", "smell of gas"),
        "fire_hazard": ("fire",),
        "elderly_care": ("elderly",),
        "neighbour_dispute": ("neighbor", "neighbour", "neighbors", "neighbours"),
    },
    "zh": {
        "street_light": ("路灯", "路灯坏了", "灯不亮"),
        "garbage": ("垃圾",),
        "water_leak": ("漏水", "水管"),
        "drainage": ("下水道", "积水"),
        "road_damage": ("路面", "坑"),
        "illegal_parking": ("乱停车", "停车"),
        "noise": ("噪音", "太吵"),
        "illegal_construction": ("违建",),
        "street_vending": ("摆摊", "小贩"),
        "tree_greening": ("树", "绿化"),
        "public_facility": ("设施",),
        "stray_animal": ("流浪狗", "流浪猫"),
        "heating": ("暖气", "供暖"),
        "gas_smell": ("煤气", "燃气"),
        "fire_hazard": ("着火", "消防"),
        "elderly_care": ("老人",),
        "neighbour_dispute": ("邻居",),
    },
}


class CategoryName(Protocol):
    """A category as the catalogue or the database holds it."""

    @property
    def code(self) -> str: ...
    @property
    def name_en(self) -> str: ...
    @property
    def name_zh(self) -> str: ...


def digits(language: str, length: int | None = None) -> Grammar:
    """Spoken digits, valued as the digit string ("four seven one one" -> "4711").

    Give `length` when the flow knows it (a case number, a one-key menu): an open-ended
    run lets the engine insert digits, which costs PocketSphinx much of its accuracy.
    """
    grammar = _grammar("digits", language, DIGIT_WORDS, Mode.SEQUENCE)
    return replace(grammar, length=length)


def yesno(language: str) -> Grammar:
    """A confirmation, valued "yes" or "no"."""
    return _grammar("yesno", language, YESNO_WORDS, Mode.CHOICE)


def menu(language: str) -> Grammar:
    """The main menu, valued "report", "status" or "agent"."""
    return _grammar("menu", language, MENU_WORDS, Mode.CHOICE)


def category(
    language: str,
    categories: Iterable[CategoryName] = CATEGORIES,
    synonyms: Mapping[str, Mapping[str, Iterable[str]]] = CATEGORY_SYNONYMS,
) -> Grammar:
    """A problem described freely, valued as the category code it names.

    Categories are a parameter because a city edits its catalogue in the database; the
    starting catalogue is only the default.
    """
    lang = base_language(language)
    extra = synonyms.get(lang, {})
    phrases: list[tuple[str, str]] = []
    for cat in categories:
        name = cat.name_zh if lang == "zh" else cat.name_en.lower()
        phrases += [(name, cat.code), *((s, cat.code) for s in extra.get(cat.code, ()))]
    return Grammar("category", language, tuple(phrases), Mode.SPOT)


def place(language: str, places: Mapping[str, str] | Iterable[tuple[str, str]]) -> Grammar:
    """Place names known only at run time (the gazetteer), valued as the caller chooses."""
    pairs = places.items() if isinstance(places, Mapping) else places
    return Grammar(
        "place", language, tuple((name.lower(), value) for name, value in pairs), Mode.SPOT
    )


BUILT_IN = {"digits": digits, "yesno": yesno, "menu": menu, "category": category}
