"""PocketSphinx: the offline English engine of the embedded default and the tests.

Its PyPI package ships a US English acoustic model and dictionary, so it needs no
download. A decoder is not thread-safe and takes a fraction of a second to load, so the
engine keeps a pool: each utterance borrows a decoder and gives it back when finished.
Grammars become JSGF rules (digits, choices) or free decoding with the bundled language
model (phrases spotted in a sentence), then the grammar maps the text to its value.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
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


def bundled_model() -> Path:
    """The en-US model inside the pocketsphinx package."""
    return Path(pocketsphinx.get_model_path()) / "en-us"


class PocketSphinxRecognizer:
    """A `SpeechRecognizer` over a PocketSphinx acoustic model, dictionary and LM.

    `model_dir` holds the acoustic model folder `en-us/` (or is it), a `*.dict`
    pronunciation dictionary and a `*.lm.bin` language model, as the bundled one does.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        model_dir: Path | None = None,
        language: str = "en-US",
        max_seconds: float = DEFAULT_MAX_SECONDS,
        sample_rate: int = 16000,
    ) -> None:
        self.model_dir = model_dir or bundled_model()
        self.language = language
        self.sample_rate = sample_rate
        self.max_seconds = max_seconds
        self._config, self._lm_file = _decoder_config(self.model_dir, sample_rate)
        self._pool: list[_Decoder] = []
        self._lock = threading.Lock()
        self._give_back(self._new_decoder())  # fail at start-up, not on the first call

    def recognize(self, audio: bytes, grammar: Grammar | None = None) -> Recognition:
        pcm = decode_wav(audio, self.sample_rate, self.max_seconds)
        stream = self.stream(grammar, self.sample_rate)
        stream.feed(pcm, whole=True)
        return stream.finish()

    def stream(self, grammar: Grammar | None = None, sample_rate: int = 8000) -> SphinxStream:
        return SphinxStream(self, grammar, sample_rate)

    def borrow(self, grammar: Grammar | None) -> _Decoder:
        """A decoder with the grammar's search active, from the pool or freshly loaded."""
        with self._lock:
            slot = self._pool.pop() if self._pool else None
        slot = slot or self._new_decoder()
        search = FREE
        if grammar is not None:
            search = f"{grammar.name}_{abs(hash(grammar))}"
            if search not in slot.searches:
                try:
                    self._add_search(slot.decoder, search, grammar)
                except SpeechError:
                    self._give_back(slot)
                    raise
                slot.searches.add(search)
        slot.decoder.activate_search(search)
        return slot

    def _add_search(self, decoder: Any, name: str, grammar: Grammar) -> None:
        known = [p for p in grammar.texts() if _in_dictionary(decoder, p)]
        if not known:
            raise SpeechError(f"no phrase of grammar {grammar.name!r} is in the dictionary")
        if grammar.mode is Mode.SPOT:
            # Keyphrase spotting finds "street light" inside a whole sentence; free decoding
            # with the language model garbles telephone audio too much to find it.
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "keyphrases.txt"
                path.write_text("".join(_keyphrase_line(decoder, p) for p in known))
                decoder.add_kws(name, str(path))
        else:
            decoder.add_jsgf_string(name, jsgf(grammar, known))

    def _give_back(self, slot: _Decoder) -> None:
        with self._lock:
            self._pool.append(slot)

    def _new_decoder(self) -> _Decoder:
        decoder = pocketsphinx.Decoder(**self._config)
        decoder.add_lm_file(FREE, self._lm_file)
        return _Decoder(decoder, {FREE})


def jsgf(grammar: Grammar, phrases: list[str]) -> str:
    """A JSGF grammar: one of the phrases, or (digits) a run of them, of a fixed length if known."""
    one = f"( {' | '.join(phrases)} )"
    rule = one
    if grammar.mode is Mode.SEQUENCE:
        rule = " ".join([one] * grammar.length) if grammar.length else f"{one}+"
    return f"#JSGF V1.0;\ngrammar {grammar.name};\npublic <answer> = {rule};\n"


def _keyphrase_line(decoder: Any, phrase: str) -> str:
    """A keyphrase with a threshold that falls with its length in phones.

    Longer phrases score lower by nature; a fixed threshold would either miss them or
    fire on every short word (PocketSphinx's advice: 1e-1 for short, down to 1e-50).
    """
    phones = sum(len(decoder.lookup_word(w).split()) for w in phrase.split())
    # 4 per phone less 10 did best of a few slopes on espeak-ng sentences at 8 kHz.
    exponent = min(40, max(1, 4 * phones - 10))
    return f"{phrase} /1e-{exponent}/\n"


@dataclass
class _Decoder:
    """A pooled decoder and the searches (one per grammar) already built on it."""

    decoder: Any
    searches: set[str]


def _in_dictionary(decoder: Any, phrase: str) -> bool:
    missing = [w for w in phrase.split() if decoder.lookup_word(w) is None]
    if missing:
        log.warning("pocketsphinx dictionary lacks %s: phrase %r left out", missing, phrase)
    return not missing


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
    """One utterance on a borrowed decoder, given back by `finish`."""

    def __init__(
        self, engine: PocketSphinxRecognizer, grammar: Grammar | None, sample_rate: int
    ) -> None:
        self._engine = engine
        self._grammar = grammar
        self._resampler = Resampler(sample_rate, engine.sample_rate)
        self._slot: _Decoder | None = engine.borrow(grammar)
        self._fed = False
        self._slot.decoder.start_utt()

    def feed(self, pcm: bytes, whole: bool = False) -> None:
        """Decode a chunk; `whole` says it is the entire utterance (a file).

        Given the whole utterance, PocketSphinx normalises the cepstral mean over all of it;
        a live stream must estimate it as it goes, and a fresh decoder's first words suffer.
        """
        if self._slot is None:
            raise RuntimeError("stream already finished")
        converted = self._resampler.convert(pcm)
        if converted:
            self._slot.decoder.process_raw(converted, False, whole)
            self._fed = True

    def finish(self) -> Recognition:
        slot, self._slot = self._slot, None
        if slot is None:
            raise RuntimeError("stream already finished")
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
