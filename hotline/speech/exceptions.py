"""Errors of speech recognition, said so a caller's flow can fall back to the keypad."""


class SpeechError(Exception):
    """Recognition could not run; the call goes on with the keypad."""


class AudioError(SpeechError):
    """The audio is empty, not a WAV, in a format a phone line never carries, or too long."""


class ModelNotFound(SpeechError):
    """A configured speech model is missing: raised at start-up, not on the first call."""
