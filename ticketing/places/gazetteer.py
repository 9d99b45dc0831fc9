"""Address and landmark text to a place: fuzzy search over the gazetteer, English and Chinese.

Callers and agents type what they heard: "jinsan rd no 12", "No.12 Jingsan", "经三路十二号",
"Jinshui No. 1 Middle". How it scores, and why:

- A name is split into a base ("jingsan road") and its numbers (12) before anything is
  compared. House numbers are what tells a thousand addresses on one road apart, yet to a
  string metric "12" and "72" are nearly the same string while "Jingsan" and "Jingqi" are
  not. So the road is matched fuzzily and the number exactly, each by the tool that suits it.
- Entries are grouped by base and the fuzzy pass runs over the distinct bases only: a city
  has far fewer roads than addresses. Within a group every entry shares the base score and
  only the number decides, found by bisection rather than by scoring each address.
- English is scored word by word, not as one string. rapidfuzz's WRatio would do partial
  names, but its partial forms give 100 to any name sharing one word with the query, so
  "Jingsan market" ties with every market in town. Instead each query word is matched to
  its closest word in the name (a typed prefix, "hosp", counts nearly as much as the word:
  agents abbreviate), weighted by length. How much of the query the name explains weighs
  most, because callers leave words out far more often than they add them; how much of the
  name the query covers weighs less, only to put "Jingsan Road" before "Jingsan Road
  Vegetable Market" for "jingsan". Word similarities are computed once against the
  vocabulary (a few thousand words) with rapidfuzz's `cdist` and spread over the bases
  with numpy, so a search stays a few milliseconds at 100,000 places. The whole-string
  ratio is taken too, where higher, for words run together or split ("jin san road").
- Chinese has no spaces to split on and each character is a morpheme, so Chinese names are
  scored as whole strings: the better of the plain ratio (misspellings) and the partial
  ratio (the query found inside the name, "经三路" in "经三路菜市场", or the other way
  about), the latter weighted by the same 4:1 split of query and name coverage, each
  coverage the ratio of the lengths. WRatio's fixed discounts, which switch on at 1.5
  times the length, would put "金水河滨公园" above "金水河桥" for "金水河", because only
  the longer name crosses that threshold.
- Chinese numerals before 号 are read as numbers, because speech recognisers write "十二号"
  as often as "12号"; numerals elsewhere ("经三路", "第一中学") are part of the name
  and stay as they are.
- Numbers adjust the score and never raise it: the same number costs nothing; another
  number on the same road costs more the further away it is, since a neighbour's door is
  still a useful place to send a grid member; a number the entry cannot explain costs a
  little; an entry whose number the caller left out costs least, so "Jingsan Road" lists
  the road's addresses before places that merely mention it.
- Equal scores are broken by the whole-string ratio (the closer spelling first), then by
  entry order, so the same query always gives the same list.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

# Abbreviations, American spellings and pinyin a caller uses, mapped to the gazetteer's
# words; "" drops a word that only says "a number follows".
_SYNONYMS = {
    "rd": "road",
    "lu": "road",
    "st": "street",
    "str": "street",
    "jie": "street",
    "ave": "avenue",
    "av": "avenue",
    "sq": "square",
    "ctr": "centre",
    "center": "centre",
    "no": "",
    "nr": "",
    "num": "",
    "number": "",
    "hao": "",
}
# Words that place a caller rather than name a place ("near the market", "opposite No. 12"),
# dropped from names and queries alike.
_PLACING_WORDS = ["the", "of", "and", "at", "by", "in", "on", "to", "near", "opposite"]
_PLACING_WORDS += ["beside", "behind", "next", "outside", "across", "from"]
_SYNONYMS |= dict.fromkeys(_PLACING_WORDS, "")
# The same in Chinese, dropped from queries only, as a name may well contain them (东门口).
_HAN_FILLERS = re.compile(r"附近|旁边|对面|门口|周边|一带|这边|那边|这里|那里|在")
_QUERY_COVERAGE = 0.8  # how much of the query the name explains; the rest: name coverage
_PREFIX_FLOOR = 80.0  # a typed prefix of a word scores at least this, more the longer it is
_MIN_PREFIX = 3
_NUMBER_UNEXPLAINED = 5.0  # the query has a number, the entry none
_NUMBER_OMITTED = 2.0  # the entry has a number, the query none
_CANDIDATE_BASES = 20  # at least this many of the best bases are expanded into entries
_HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
_HAN = re.compile(f"[{_HAN_RANGES}]")
_LATIN = re.compile(r"[^\W\d_]")
_NOT_HAN_LETTERS = re.compile(rf"(?:(?![{_HAN_RANGES}])[^\W\d_])+")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[^\W\d_])|(?<=[^\W\d_])(?=\d)")
_WORD = re.compile(r"[^\W_]+")
_HAN_NUMERAL = re.compile(r"([零〇一二两三四五六七八九十百千]+)(?=[号號])")
_NUMBER_AND_MARK = re.compile(r"(\d+)\s*[号號]?")
_HAN_DIGITS = dict(
    zip("零〇一二两三四五六七八九", (0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9), strict=True)
)
_HAN_UNITS = {"十": 10, "百": 100, "千": 1000}

Parsed = tuple[str, tuple[int, ...]]  # a base name and the numbers taken out of it
Scores = NDArray[np.float32]


@dataclass(frozen=True)
class PlaceEntry:
    """One gazetteer place: a road address, landmark, school, market and so on."""

    id: int
    name_en: str
    name_zh: str
    kind: str
    lat: float
    lon: float
    grid_code: str | None


@dataclass(frozen=True)
class Match:
    """A place found for a query, scored 0-100."""

    entry: PlaceEntry
    score: float


class Gazetteer:
    """Fuzzy search over a fixed list of places; rebuild it when the places change."""

    def __init__(self, entries: Iterable[PlaceEntry]) -> None:
        self._entries = tuple(entries)
        self._en = _LatinNames(parse_latin(e.name_en) for e in self._entries)
        self._zh = _HanNames(parse_han(e.name_zh) for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, text: str, limit: int = 5, score_cutoff: float = 60.0) -> list[Match]:
        """The places best matching the text, best first, at most `limit` of them."""
        if limit <= 0:
            return []
        found: dict[int, tuple[float, float]] = {}
        for names, query in self._queries(text):
            for position, scored in names.candidates(query, limit, score_cutoff).items():
                found[position] = max(scored, found.get(position, scored))
        best = sorted(found.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        return [Match(self._entries[p], round(score, 1)) for p, (score, _) in best[:limit]]

    def _queries(self, text: str) -> list[tuple[_Names, Parsed]]:
        """The query parsed for each language its script points at, each part to its own."""
        queries: list[tuple[_Names, Parsed]] = []
        latin = _HAN.sub(" ", text)
        has_latin = bool(_LATIN.search(latin))
        if _HAN.search(text):
            chinese = _NOT_HAN_LETTERS.sub(" ", text) if has_latin else text
            queries.append((self._zh, parse_han(_HAN_FILLERS.sub("", chinese))))
        if has_latin:
            queries.append((self._en, parse_latin(latin)))
        return [(names, query) for names, query in queries if query[0]]


@dataclass
class _Group:
    """The entries sharing one base name, numbered ones sorted by number for bisection."""

    numbers: list[int] = field(default_factory=list)
    numbered: list[int] = field(default_factory=list)  # entry positions, parallel to numbers
    plain: list[int] = field(default_factory=list)

    def nearest(self, numbers: tuple[int, ...], limit: int) -> list[tuple[int, float]]:
        """Up to about `limit` entries per query number, each with its number penalty."""
        if not numbers:
            omitted = [(p, _NUMBER_OMITTED) for p in self.numbered[:limit]]
            return [(p, 0.0) for p in self.plain[:limit]] + omitted
        chosen = [(p, _NUMBER_UNEXPLAINED) for p in self.plain[:limit]]
        for number in numbers:
            at = bisect.bisect_left(self.numbers, number)
            for i in range(max(at - limit, 0), min(at + limit, len(self.numbers))):
                chosen.append((self.numbered[i], _distance_penalty(self.numbers[i] - number)))
        return chosen


class _Names:
    """The distinct base names of one language and the entries behind each."""

    def __init__(self, parsed: Iterable[Parsed]) -> None:
        groups: dict[str, _Group] = {}
        for position, (base, numbers) in enumerate(parsed):
            if not base:
                continue
            group = groups.setdefault(base, _Group())
            if not numbers:
                group.plain.append(position)
            for number in set(numbers):
                group.numbers.append(number)
                group.numbered.append(position)
        for group in groups.values():
            pairs = sorted(zip(group.numbers, group.numbered, strict=True))
            group.numbers = [number for number, _ in pairs]
            group.numbered = [position for _, position in pairs]
        self.bases = list(groups)
        self.groups = list(groups.values())

    def scores(self, base: str) -> Scores:
        """How well the query base matches each base, 0-100."""
        raise NotImplementedError

    def candidates(
        self, query: Parsed, limit: int, cutoff: float
    ) -> dict[int, tuple[float, float]]:
        """Entry position -> (score, ratio) for the entries that could be among the best."""
        base, numbers = query
        if not self.bases:
            return {}
        scores = self.scores(base)
        wanted = min(max(_CANDIDATE_BASES, 3 * limit), len(self.bases))
        top = np.argpartition(-scores, wanted - 1)[:wanted]
        found: dict[int, tuple[float, float]] = {}
        for g in top[scores[top] >= cutoff].tolist():
            ratio = fuzz.ratio(base, self.bases[g])
            for position, penalty in self.groups[g].nearest(numbers, limit):
                final = max(float(scores[g]) - penalty, 0.0)
                if final >= cutoff and (final, ratio) > found.get(position, (-1.0, -1.0)):
                    found[position] = (final, ratio)
        return found


class _HanNames(_Names):
    """Chinese names as whole strings, with their lengths for the coverage discount."""

    def __init__(self, parsed: Iterable[Parsed]) -> None:
        super().__init__(parsed)
        self.lengths = np.array([len(base) for base in self.bases], dtype=np.float32)

    def scores(self, base: str) -> Scores:
        whole = process.cdist([base], self.bases, scorer=fuzz.ratio, dtype=np.float32)[0]
        inside = process.cdist([base], self.bases, scorer=fuzz.partial_ratio, dtype=np.float32)
        # partial_ratio finds the shorter string in the longer: when the query is the shorter,
        # all of it is explained and the name only partly covered, and the other way about.
        query_coverage = np.minimum(self.lengths / len(base), 1.0)
        name_coverage = np.minimum(len(base) / self.lengths, 1.0)
        weight = _QUERY_COVERAGE * query_coverage + (1 - _QUERY_COVERAGE) * name_coverage
        best: Scores = np.maximum(whole, inside[0] * weight)
        return best


class _LatinNames(_Names):
    """English names as a base x word sparse matrix over a sorted vocabulary."""

    def __init__(self, parsed: Iterable[Parsed]) -> None:
        super().__init__(parsed)
        words = [base.split() for base in self.bases]
        self.vocabulary = sorted({word for base in words for word in base})
        self.vocabulary_lengths = np.array([len(w) for w in self.vocabulary], dtype=np.float32)
        ids = {word: i for i, word in enumerate(self.vocabulary)}
        self.word_ids = np.array([ids[w] for base in words for w in base], dtype=np.int64)
        self.word_lengths = np.array([len(w) for base in words for w in base], dtype=np.float32)
        counts = np.array([len(base) for base in words], dtype=np.int64)
        self.starts = (np.cumsum(counts) - counts).astype(np.int64)
        self.base_lengths = np.zeros(len(words), dtype=np.float32)
        if words:
            self.base_lengths = np.add.reduceat(self.word_lengths, self.starts)

    def scores(self, base: str) -> Scores:
        query = base.split()
        similar = process.cdist(query, self.vocabulary, scorer=fuzz.ratio, dtype=np.float32)
        for q, word in enumerate(query):
            self._credit_prefix(similar[q], word)
        per_word = similar[:, self.word_ids]  # query word x every word of every base
        weights = np.array([len(w) for w in query], dtype=np.float32)
        best_for_query = np.maximum.reduceat(per_word, self.starts, axis=1)
        query_coverage = weights @ best_for_query / weights.sum()
        name_covered = np.add.reduceat(per_word.max(axis=0) * self.word_lengths, self.starts)
        name_coverage = name_covered / self.base_lengths
        by_word = _QUERY_COVERAGE * query_coverage + (1 - _QUERY_COVERAGE) * name_coverage
        whole = process.cdist([base], self.bases, scorer=fuzz.ratio, dtype=np.float32)[0]
        best: Scores = np.maximum(by_word.astype(np.float32), whole)
        return best

    def _credit_prefix(self, similar: Scores, word: str) -> None:
        """Raise the score of vocabulary words that start with the typed word."""
        if len(word) < _MIN_PREFIX:
            return
        first = bisect.bisect_left(self.vocabulary, word)
        last = bisect.bisect_left(self.vocabulary, word + "\U0010ffff")
        credit = _PREFIX_FLOOR + (100 - _PREFIX_FLOOR) * len(word) / self.vocabulary_lengths
        similar[first:last] = np.maximum(similar[first:last], credit[first:last])


def _distance_penalty(distance: int) -> float:
    """Nothing for the same number; 8 for the next door, growing slowly to 20 far away."""
    if distance == 0:
        return 0.0
    return 8.0 + min(12.0, 4.0 * math.log10(1 + abs(distance)))


def parse_latin(text: str) -> Parsed:
    """Lower-case words without punctuation or number markers, and the numbers apart."""
    text = _DIGIT_LETTER.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    text = text.replace("'", "").replace("\u2019", "")  # "Farmers' Market" is one word
    words: list[str] = []
    numbers: list[int] = []
    for token in _WORD.findall(text):
        if token.isdecimal():
            numbers.append(int(token))
        elif word := _SYNONYMS.get(token, token):
            words.append(word)
    return " ".join(words), tuple(numbers)


def parse_han(text: str) -> Parsed:
    """Chinese characters and letters without spaces or punctuation, and the numbers apart."""
    text = unicodedata.normalize("NFKC", text)
    text = _HAN_NUMERAL.sub(lambda m: str(han_number(m.group(1))), text)
    numbers = tuple(int(n) for n in _NUMBER_AND_MARK.findall(text))
    text = _NUMBER_AND_MARK.sub("", text)
    return "".join(_WORD.findall(text.casefold())), numbers


def han_number(numeral: str) -> int:
    """A Chinese numeral as an int: "十二" -> 12, "一百零五" -> 105, "三〇八" -> 308."""
    if not any(ch in _HAN_UNITS for ch in numeral):
        return int("".join(str(_HAN_DIGITS[ch]) for ch in numeral))
    total = digit = 0
    for ch in numeral:
        if ch in _HAN_UNITS:
            total += (digit or 1) * _HAN_UNITS[ch]
            digit = 0
        else:
            digit = _HAN_DIGITS[ch]
    return total + digit
