"""Grammars map what was heard back to the value a flow acts on, in every language."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hotline.speech import grammars
from hotline.speech.grammars import Mode
from ticketing.vocabulary.catalogue import CATEGORIES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("language", "text", "value"),
    [
        ("en-US", "four seven one one", "4711"),
        ("en-US", "oh two", "02"),
        ("en-US", "uh four seven", "47"),
        ("zh-CN", "四 七 幺 一", "4711"),
        ("zh-CN", "四七一一", "4711"),
        ("ko-KR", "사 칠 일 일", "4711"),
        ("en-US", "hello", None),
    ],
)
def test_digits(language: str, text: str, value: str | None) -> None:
    assert grammars.digits(language).interpret(text) == value


@pytest.mark.parametrize(
    ("language", "text", "value"),
    [
        ("en-US", "yes", "yes"),
        ("en-US", "yeah that's right", "yes"),
        ("en-US", "no", "no"),
        ("en-US", "that's not right", "no"),
        ("zh-CN", "是的", "yes"),
        ("zh-CN", "不是", "no"),  # contains 是: the longest phrase wins
        ("zh-CN", "不对", "no"),
        ("ko-KR", "네", "yes"),
        ("en-US", "maybe", None),
    ],
)
def test_yes_or_no(language: str, text: str, value: str | None) -> None:
    assert grammars.yesno(language).interpret(text) == value


@pytest.mark.parametrize(
    ("language", "text", "value"),
    [
        ("en-US", "report a problem", "report"),
        ("en-US", "check a case", "status"),
        ("en-US", "speak to an agent", "agent"),
        ("zh-CN", "我要反映问题", "report"),
        ("zh-CN", "查询进度", "status"),
        ("zh-CN", "转人工", "agent"),
    ],
)
def test_menu(language: str, text: str, value: str) -> None:
    assert grammars.menu(language).interpret(text) == value


@pytest.mark.parametrize(
    ("language", "text", "value"),
    [
        ("en-US", "the street light outside my house is broken", "street_light"),
        ("en-US", "the lamp post is dark", "street_light"),
        ("en-US", "tree leak street light", "street_light"),  # spotted: the longest wins
        ("en-US", "garbage not collected", "garbage"),
        ("en-US", "i can smell gas", "gas_smell"),
        ("zh-CN", "门口的路灯坏了", "street_light"),
        ("zh-CN", "路灯故障", "street_light"),
        ("zh-CN", "垃圾三天没有清运", "garbage"),
        ("en-US", "hello there", None),
    ],
)
def test_category_from_a_sentence(language: str, text: str, value: str | None) -> None:
    assert grammars.category(language).interpret(text) == value


def test_category_grammar_covers_the_catalogue_in_both_languages() -> None:
    for language in ("en-US", "zh-CN"):
        grammar = grammars.category(language)
        assert grammar.mode is Mode.SPOT
        assert {value for _, value in grammar.phrases} == {c.code for c in CATEGORIES}
    assert ("路灯故障", "street_light") in grammars.category("zh-CN").phrases


@dataclass(frozen=True)
class CityCategory:
    code: str
    name_en: str
    name_zh: str


def test_a_city_edited_catalogue_and_its_own_synonyms() -> None:
    grammar = grammars.category(
        "en-US", [CityCategory("snow", "snow on the road", "道路积雪")], {"en": {"snow": ["ice"]}}
    )
    assert grammar.interpret("there is ice everywhere") == "snow"
    assert grammar.interpret("street light") is None


def test_place_names_are_given_at_run_time() -> None:
    grammar = grammars.place("en-US", {"Weilai Plaza": "P1", "Jinshui River Bridge": "P2"})
    assert grammar.interpret("near the jinshui river bridge please") == "P2"
    assert grammars.place("zh-CN", [("未来广场", "P1")]).interpret("在未来广场门口") == "P1"


def test_a_language_without_words_is_refused() -> None:
    with pytest.raises(ValueError, match="no menu grammar for language 'ko-KR'"):
        grammars.menu("ko-KR")


def test_fixed_length_digits() -> None:
    assert grammars.digits("en-US", length=4).length == 4
    assert grammars.digits("en-US") != grammars.digits("en-US", length=4)
