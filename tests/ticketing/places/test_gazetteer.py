"""Fuzzy place search over the demo district's gazetteer, as callers and agents type."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticketing.demo.city import build_demo_city
from ticketing.places.gazetteer import Gazetteer, PlaceEntry, han_number, parse_han, parse_latin

pytestmark = pytest.mark.unit

ENTRIES = tuple(
    PlaceEntry(n, p.name_en, p.name_zh, p.kind, p.lat, p.lon, p.grid_code)
    for n, p in enumerate(build_demo_city().places, start=1)
)
NAMED = [e for e in ENTRIES if e.kind != "address"]


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer(ENTRIES)


def _first(gazetteer: Gazetteer, text: str) -> str:
    matches = gazetteer.search(text)
    assert matches, f"nothing found for {text!r}"
    return matches[0].entry.name_en


@pytest.mark.parametrize(
    "text",
    [
        "No. 12 Jingsan Road",
        "Jingsan Rd 12",
        "jinsan road no 12",
        "No.12 Jingsan",
        "12 jingsan",
        "NO.12, JINGSAN-ROAD!!!",
        "jingsanlu 12 hao",
        "Jingsan Road #12",
        "经三路12号",
        "经三路 12 号",
        "经三路十二号",
        "经三路１２号",  # full-width digits, as Chinese input methods type them
        "near No.12 Jingsan Rd",
        "在经三路12号门口",
    ],
)
def test_misspelt_and_reordered_addresses_find_the_address(gazetteer: Gazetteer, text: str) -> None:
    assert _first(gazetteer, text) == "No. 12 Jingsan Road"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jinshui No. 1 Middle", "Jinshui No. 1 Middle School"),
        ("jinshui no1 middle sch", "Jinshui No. 1 Middle School"),
        ("金水一中", "Jinshui No. 1 Middle School"),
        ("Jingsan market", "Jingsan Road Vegetable Market"),
        ("weilai plza", "Weilai Plaza"),
        ("dongfeng rd hosp of chinese med", "Dongfeng Road Hospital of Chinese Medicine"),
        ("Huayuan Road Farmers Market", "Huayuan Road Farmers' Market"),
        ("huayuan health center", "Huayuan Road Community Health Centre"),
        ("people's hospital", "Jinshui District People's Hospital"),
        ("fengchan night mkt", "Fengchan Road Night Market"),
        ("经三路菜市场", "Jingsan Road Vegetable Market"),
        ("东风路中", "Dongfeng Road Middle School"),
        ("金水河桥", "Jinshui River Bridge"),
        ("金水河", "Jinshui River Bridge"),
        ("花园路社区卫生中心", "Huayuan Road Community Health Centre"),
        ("经三路菜市场附近", "Jingsan Road Vegetable Market"),
        ("opposite the jinshui cultural center", "Jinshui Cultural Centre"),
    ],
)
def test_partial_and_misspelt_names_find_the_place(
    gazetteer: Gazetteer, text: str, expected: str
) -> None:
    assert _first(gazetteer, text) == expected


def test_a_road_alone_lists_its_addresses(gazetteer: Gazetteer) -> None:
    for text in ("Jingsan Road", "经三路", "jingsan"):
        matches = gazetteer.search(text, limit=3)
        assert [m.entry.name_en for m in matches] == [
            "No. 12 Jingsan Road",
            "No. 18 Jingsan Road",
            "No. 24 Jingsan Road",
        ]


def test_the_same_number_on_the_road_first_then_the_nearest(gazetteer: Gazetteer) -> None:
    numbers = [m.entry.name_en for m in gazetteer.search("Jingsan Road 19", limit=3)]
    assert numbers == ["No. 18 Jingsan Road", "No. 24 Jingsan Road", "No. 12 Jingsan Road"]
    assert _first(gazetteer, "Jingsan Road 18") == "No. 18 Jingsan Road"


def test_the_road_outweighs_the_number(gazetteer: Gazetteer) -> None:
    """No. 12 exists on Jingqi Road too; a caller's road is worth more than their number."""
    assert _first(gazetteer, "Jingsan Road 13") == "No. 12 Jingsan Road"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name_en)
def test_every_exact_name_finds_its_place_first(gazetteer: Gazetteer, entry: PlaceEntry) -> None:
    for text in (entry.name_en, entry.name_zh):
        best = gazetteer.search(text)[0]
        assert (best.entry, best.score) == (entry, 100.0)


@pytest.mark.parametrize("text", ["", "   ", "12", "12号", "qwxz", "???", "no. 12"])
def test_nothing_is_found_for_noise(gazetteer: Gazetteer, text: str) -> None:
    assert gazetteer.search(text) == []


def test_limit_and_cutoff(gazetteer: Gazetteer) -> None:
    assert len(gazetteer.search("park", limit=2)) == 2
    assert gazetteer.search("park", limit=0) == []
    assert all(m.score >= 95 for m in gazetteer.search("Weilai Plaza", score_cutoff=95))


def test_an_empty_gazetteer_finds_nothing() -> None:
    assert len(Gazetteer([])) == 0
    assert Gazetteer([]).search("Jingsan Road 12") == []


def test_places_known_in_one_language_only() -> None:
    gazetteer = Gazetteer([PlaceEntry(1, "Bell Tower", "", "landmark", 0, 0, None)])
    assert gazetteer.search("bell towr")[0].entry.id == 1
    assert gazetteer.search("钟楼") == []


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("十二", 12), ("二十", 20), ("一百零五", 105), ("三〇八", 308), ("两千", 2000), ("七", 7)],
)
def test_chinese_numerals(numeral: str, value: int) -> None:
    assert han_number(numeral) == value
    assert parse_han(f"经三路{numeral}号") == ("经三路", (value,))


def test_parsing_separates_names_from_numbers() -> None:
    assert parse_latin("No.12A, Jingsan Rd.") == ("a jingsan road", (12,))
    assert parse_latin("Huayuan Road Farmers\u2019 Market") == ("huayuan road farmers market", ())
    assert parse_han("金水第一中学") == ("金水第一中学", ())
    assert parse_han("花园路 ８８ 號") == ("花园路", (88,))


_typo_kind = st.sampled_from(["delete", "swap", "double", "case"])


def _typo(name: str, kind: str, at: int) -> str:
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    i = letters[at % len(letters)]
    if kind == "delete":
        return name[:i] + name[i + 1 :]
    if kind == "double":
        return name[:i] + name[i] + name[i:]
    if kind == "case":
        return name[:i] + name[i].swapcase() + name[i + 1 :]
    j = i + 1 if i + 1 < len(name) else i - 1
    a, b = sorted((i, j))
    return name[:a] + name[b] + name[a] + name[b + 1 :]


@given(entry=st.sampled_from(ENTRIES), kind=_typo_kind, at=st.integers(0, 200))
@settings(max_examples=300, deadline=None)
def test_one_slip_of_the_keyboard_still_finds_the_place(
    gazetteer: Gazetteer, entry: PlaceEntry, kind: str, at: int
) -> None:
    text = _typo(entry.name_en, kind, at)
    assert gazetteer.search(text)[0].entry == entry


@given(entry=st.sampled_from(NAMED), data=st.data())
@settings(max_examples=100, deadline=None)
def test_case_and_punctuation_do_not_matter(
    gazetteer: Gazetteer, entry: PlaceEntry, data: st.DataObject
) -> None:
    words = entry.name_en.split()
    marks = data.draw(st.lists(st.sampled_from([" ", ", ", " - ", ". ", "/"]), min_size=len(words)))
    noisy = "".join(w + m for w, m in zip(words, marks, strict=False)).upper()
    assert gazetteer.search(noisy) == gazetteer.search(entry.name_en)


@given(text=st.text(max_size=40), limit=st.integers(1, 8))
@settings(max_examples=200, deadline=None)
def test_any_text_gives_a_short_sorted_list(gazetteer: Gazetteer, text: str, limit: int) -> None:
    matches = gazetteer.search(text, limit=limit)
    assert len(matches) <= limit
    assert all(60 <= m.score <= 100 for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert len({m.entry.id for m in matches}) == len(matches)
    assert gazetteer.search(text, limit=limit) == matches
