"""Offline speech recognition for the IVR: Vosk, PocketSphinx and a scripted fake.

Everything outside this package uses `SpeechRecognizer`, `Recognition`, the grammars and
`load_recognizer`; which engine runs is configuration.
"""

from hotline.speech.engines import EngineChoice, load_recognizer, load_recognizers, parse_config
from hotline.speech.exceptions import AudioError, ModelNotFound, SpeechError
from hotline.speech.grammars import Grammar, Mode
from hotline.speech.recognizers import Recognition, SpeechRecognizer, Stream, Word

__all__ = [
    "AudioError",
    "EngineChoice",
    "Grammar",
    "Mode",
    "ModelNotFound",
    "Recognition",
    "SpeechError",
    "SpeechRecognizer",
    "Stream",
    "Word",
    "load_recognizer",
    "load_recognizers",
    "parse_config",
]
