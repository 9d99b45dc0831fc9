"""PocketSphinx: the offline English engine of the embedded default and the tests.

Its PyPI package ships a US English acoustic model and dictionary, so it needs no
download. A decoder is not thread-safe and takes a fraction of a second to load, so the
engine keeps a capped pool: each utterance borrows a decoder and gives it back when
finished. Grammars become JSGF rules (digits, choices) or keyphrase spotting (phrases in
a sentence, emergency words boosted); free decoding with the bundled language model
happens only without a grammar. Then the grammar maps the text to its value.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pocketsphinx

from hotline.speech.audio import DEFAULT_MAX_SECONDS, Resampler, decode_wav
from hotline.speech.exceptions import ModelNotFound, SpeechError
from hotline.speech.grammars import Grammar, Mode
from hotline.speech.recognizers import Recognition, Word, mean_confidence

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100  # PocketSphinx's default frame rate
FREE = "_free"  # the search over the bundled language model
DEFAULT_MAX_DECODERS = 4 * (os.cpu_count() or 2)  # beyond it, streams buffer their audio
MAX_SEARCHES = 12  # grammar searches one decoder keeps (a few steps' worth)
BOOST = 8  # powers of ten a boosted keyphrase's threshold is lowered (see keyphrase_line)


def bundled_model() -> Path:
    """The en-US model inside the pocketsphinx package."""
    return Path(pocketsphinx.get_model_path()) / "en-us"


class PocketSphinxRecognizer:
    """A `SpeechRecognizer` over a PocketSphinx acoustic model, dictionary and LM.

    `model_dir` holds the acoustic model folder `en-us/` (or is it), a `*.dict`
    pronunciation dictionary and a `*.lm.bin` language model, as the bundled one does.

    Memory is what limits concurrent calls: a decoder with the whole 134,000-word
    dictionary and the language model costs about 90 MB. Grammar decoders here load a
    one-word dictionary and get only their grammar's words (from the lexicon, parsed once
    per process), about 6 MB each; the language model is loaded only by the decoders of
    free dictation (no grammar). At most `max_decoders` grammar decoders are kept: a
    stream that finds none idle buffers its audio and decodes it when it can.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        model_dir: Path | None = None,
        language: str = "en-US",
        max_seconds: float = DEFAULT_MAX_SECONDS,
        sample_rate: int = 16000,
        max_decoders: int = DEFAULT_MAX_DECODERS,
    ) -> None:
        self.model_dir = model_dir or bundled_model()
        self.language = language
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self.max_decoders = max_decoders
        self._config, self._lm_file = _decoder_config(self.model_dir, sample_rate)
        self.lexicon = Lexicon(Path(self._config["dict"]))
        self._folder = tempfile.TemporaryDirectory(prefix="sphinx-")
        self._tiny_dict = Path(self._folder.name) / "one.dict"
        self._tiny_dict.write_text("__placeholder__ AH\n")  # a dictionary may not be empty
        self._pool: list[_Decoder] = []  # idle grammar decoders
        self._free_pool: list[_Decoder] = []  # idle dictation decoders (dictionary + LM)
        self._made = 0  # grammar decoders in existence, idle or lent
        self._lock = threading.Lock()
        self._give_back(self._new_decoder())  # fail at start-up, not on the first call

    @property
    def decoders(self) -> int:
        """Grammar decoders loaded so far (never more than `max_decoders`)."""
        return self._made

    def recognize(self, audio: bytes, grammar: Grammar | None = None) -> Recognition:
        pcm = decode_wav(audio, self.sample_rate, self.max_seconds)
        stream = self.stream(grammar, self.sample_rate)
        stream.feed(pcm, whole=True)
        return stream.finish()

    def stream(self, grammar: Grammar | None = None, sample_rate: int = 8000) -> SphinxStream:
        return SphinxStream(self, grammar, sample_rate)

    def borrow(self, grammar: Grammar | None, beyond_cap: bool = False) -> _Decoder | None:
        """A decoder with the grammar's search active, or None when `max_decoders` are lent.

        An idle decoder that already holds the grammar's search is preferred (building a
        search for hundreds of place names takes a while); a new one is loaded while
        fewer than `max_decoders` exist. `beyond_cap` loads one anyway, for a stream that
        must finish now: waiting would block a decode thread that the streams holding the
        decoders may need to finish (measured: a deadlock at 40 calls). Such extra decoders
        are dropped when given back, so the pool stays at the cap.
        """
        if grammar is None:
            return self._borrow_free()
        search = f"{grammar.name}_{abs(hash(grammar))}"
        with self._lock:
            slot = next((s for s in self._pool if search in s.searches), None)
            slot = slot or (self._pool[-1] if self._pool else None)
            if slot is not None:
                self._pool.remove(slot)
            elif self._made < self.max_decoders or beyond_cap:
                self._made += 1
            else:
                return None
        try:
            slot = slot or self._new_decoder(counted=True)
            if search not in slot.searches:
                self._add_search(slot, search, grammar)
            slot.searches.move_to_end(search)
            slot.decoder.activate_search(search)
        except BaseException:
            if slot is not None:
                self._give_back(slot)
            else:
                with self._lock:
                    self._made -= 1
            raise
        return slot

    def _borrow_free(self) -> _Decoder:
        with self._lock:
            slot = self._free_pool.pop() if self._free_pool else None
        if slot is None:
            decoder = pocketsphinx.Decoder(**self._config)
            decoder.add_lm_file(FREE, self._lm_file)
            slot = _Decoder(decoder, OrderedDict(), set(), free=True)
        slot.decoder.activate_search(FREE)
        return slot

    def _add_search(self, slot: _Decoder, name: str, grammar: Grammar) -> None:
        known = [p for p in grammar.texts() if self.lexicon.knows(p)]
        if not known:
            raise SpeechError(f"no phrase of grammar {grammar.name!r} is in the dictionary")
        self._add_words(slot, (w for p in known for w in p.split()))
        if grammar.mode is Mode.SPOT:
            # Keyphrase spotting finds "street light" inside a whole sentence; free decoding
            # with the language model garbles telephone audio too much to find it, and a
            # JSGF loop of phrases and filler words or phones was measured 10-100x slower
            # and no more accurate.
            boosted = {p for p, value in grammar.phrases if value in grammar.boost}
            lines = [f"{p} {keyphrase_line(self.lexicon.phones(p), p in boosted)}\n" for p in known]
            path = Path(self._folder.name) / f"{name}.kws"
            path.write_text("".join(lines))
            slot.decoder.add_kws(name, str(path))
        else:
            slot.decoder.add_jsgf_string(name, jsgf(grammar, known))
        slot.searches[name] = None
        while len(slot.searches) > MAX_SEARCHES:  # a refreshed gazetteer leaves old ones
            old, _ = slot.searches.popitem(last=False)
            slot.decoder.remove_search(old)

    def _add_words(self, slot: _Decoder, words: Iterable[str]) -> None:
        """Give the decoder the pronunciations it lacks (alternates as word(2), ...)."""
        entries = [
            (key, phones)
            for word in dict.fromkeys(words)
            if word not in slot.words
            for key, phones in self.lexicon.entries(word)
        ]
        if not entries:
            return
        for i, (key, phones) in enumerate(entries):
            slot.decoder.add_word(key, phones, i == len(entries) - 1)
            slot.words.add(key.split("(")[0])

    def _give_back(self, slot: _Decoder) -> None:
        with self._lock:
            if slot.free:
                self._free_pool.append(slot)
            elif self._made > self.max_decoders:
                self._made -= 1  # an extra one lent beyond the cap: let it go
            else:
                self._pool.append(slot)

    def _new_decoder(self, counted: bool = False) -> _Decoder:
        config = {**self._config, "dict": str(self._tiny_dict)}
        try:
            decoder = pocketsphinx.Decoder(**config)
        except RuntimeError as exc:
            raise ModelNotFound(f"PocketSphinx cannot load {self.model_dir}: {exc}") from exc
        if not counted:
            with self._lock:
                self._made += 1
        return _Decoder(decoder, OrderedDict(), set())


class Lexicon:
    """The pronunciation dictionary, parsed once per engine and shared by its decoders."""

    def __init__(self, path: Path) -> None:
        self._entries: dict[str, list[str]] = {}
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                word, _, phones = line.strip().partition(" ")
                if phones:
                    self._entries.setdefault(word.split("(")[0], []).append(phones.strip())

    def knows(self, phrase: str) -> bool:
        missing = [w for w in phrase.split() if w not in self._entries]
        if missing:
            log.warning("pocketsphinx dictionary lacks %s: phrase %r left out", missing, phrase)
        return not missing

    def phones(self, phrase: str) -> int:
        """The phrase's length in phones (first pronunciations)."""
        return sum(len(self._entries[w][0].split()) for w in phrase.split())

    def entries(self, word: str) -> list[tuple[str, str]]:
        """(dictionary key, phones) for each pronunciation: word, word(2), ..."""
        prons = self._entries.get(word, [])
        return [(word if i == 0 else f"{word}({i + 1})", p) for i, p in enumerate(prons)]


def jsgf(grammar: Grammar, phrases: list[str]) -> str:
    """A JSGF grammar: one of the phrases, or (digits) a run of them, of a fixed length if known."""
    one = f"( {' | '.join(phrases)} )"
    rule = one
    if grammar.mode is Mode.SEQUENCE:
        rule = " ".join([one] * grammar.length) if grammar.length else f"{one}+"
    return f"#JSGF V1.0;\ngrammar {grammar.name};\npublic <answer> = {rule};\n"


def keyphrase_line(phones: int, boosted: bool = False) -> str:
    """The threshold of a keyphrase `phones` long: it falls with the length in phones.

    Longer phrases score lower by nature; a fixed threshold would either miss them or
    fire on every short word (PocketSphinx's advice: 1e-1 for short, down to 1e-50).
    A boosted phrase (an emergency word) gets a threshold BOOST powers of ten lower:
    missing "fire" costs far more than a false "fire", which the caller can correct.
    """
    # 4 per phone less 10 did best of a few slopes on espeak-ng sentences at 8 kHz.
    exponent = min(40, max(1, 4 * phones - 10)) + (BOOST if boosted else 0)
    return f"/1e-{exponent}/"


@dataclass
class _Decoder:
    """A pooled decoder, the searches (one per grammar) and the words it holds."""

    decoder: Any
    searches: OrderedDict[str, None]
    words: set[str] = field(default_factory=set)
    free: bool = False  # a dictation decoder (whole dictionary and language model)


def _decoder_config(model_dir: Path, sample_rate: int) -> tuple[dict[str, Any], str]:
    """The Decoder's settings, and the language model file for free decoding."""
    hmm = model_dir / "en-us" if (model_dir / "en-us").is_dir() else model_dir
    dictionaries = sorted(model_dir.glob("*.dict")) or sorted(hmm.parent.glob("*.dict"))
    models = sorted(p for p in model_dir.glob("*.lm.bin") if "phone" not in p.name)
    if not (hmm / "mdef").exists() or not dictionaries or not models:
        raise ModelNotFound(
            f"{model_dir} is not a PocketSphinx model (needs an acoustic model with mdef, "
            "a *.dict and a *.lm.bin)"
        )
    config = {
        "hmm": str(hmm),
        "dict": str(dictionaries[0]),
        "lm": None,
        "samprate": sample_rate,
        "bestpath": True,  # gives word posteriors, our confidence
        "loglevel": "FATAL",
    }
    return config, str(models[0])


class SphinxStream:
    """One utterance on a borrowed decoder, given back by `finish`.

    When every decoder is lent, the stream keeps the audio (32 kB a second) and takes a
    decoder as soon as one is idle, at the latest when it finishes, and decodes what it
    kept in one go: memory stays bounded however many calls speak at once.
    """

    def __init__(
        self, engine: PocketSphinxRecognizer, grammar: Grammar | None, sample_rate: int
    ) -> None:
        self._engine = engine
        self._grammar = grammar
        self._resampler = Resampler(sample_rate, engine.sample_rate)
        self._kept: list[bytes] = []
        self._fed = False
        self._done = False
        self._slot: _Decoder | None = None
        self._take()

    def _take(self, beyond_cap: bool = False) -> None:
        slot = self._engine.borrow(self._grammar, beyond_cap)
        if slot is None:
            return
        self._slot = slot
        slot.decoder.start_utt()
        if self._kept:
            slot.decoder.process_raw(b"".join(self._kept), False, False)
            self._kept = []

    def feed(self, pcm: bytes, whole: bool = False) -> None:
        """Decode a chunk; `whole` says it is the entire utterance (a file).

        Given the whole utterance, PocketSphinx normalises the cepstral mean over all of it;
        a live stream must estimate it as it goes, and a fresh decoder's first words suffer.
        """
        if self._done:
            raise RuntimeError("stream already finished")
        converted = self._resampler.convert(pcm)
        if not converted:
            return
        self._fed = True
        if self._slot is None:
            self._take()
        if self._slot is None:
            self._kept.append(converted)
        else:
            self._slot.decoder.process_raw(converted, False, whole)

    def finish(self) -> Recognition:
        if self._done:
            raise RuntimeError("stream already finished")
        self._done = True
        if self._slot is None:
            if not self._fed:
                return Recognition("", 0.0, (), None)
            whole = b"".join(self._kept)
            self._kept = []
            slot = self._engine.borrow(self._grammar, beyond_cap=True)
            assert slot is not None  # beyond_cap always lends one
            self._slot = slot
            slot.decoder.start_utt()
            slot.decoder.process_raw(whole, False, True)
        slot, self._slot = self._slot, None
        try:
            slot.decoder.end_utt()
            hypothesis = slot.decoder.hyp() if self._fed else None
            words = _words(slot.decoder) if hypothesis else ()
        finally:
            self._engine._give_back(slot)
        text = " ".join(w.text for w in words)
        value = self._grammar.interpret(text) if self._grammar else None
        return Recognition(text, mean_confidence(words), words, value)


def _words(decoder: Any) -> tuple[Word, ...]:
    """Real words only: fillers like <sil>, <s>, [NOISE] and alternates' (2) are dropped."""
    words = []
    for seg in decoder.seg():
        word = seg.word.split("(")[0].strip()
        if word.startswith(("<", "[")) or not word:
            continue
        words.append(
            Word(
                word,
                seg.start_frame / FRAMES_PER_SECOND,
                (seg.end_frame + 1) / FRAMES_PER_SECOND,
                min(1.0, float(seg.prob)),
            )
        )
    return tuple(words)
