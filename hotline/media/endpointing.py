"""When has the caller finished speaking? Energy-based endpointing over 20 ms frames.

Recognising a step's answer can only end once the caller stops talking, and Twilio never
says when that is: the stream just carries on. So: once speech has been heard (a run of
frames loud enough), a stretch of quiet (700 ms by default) ends the utterance.

Calibrated on the fixtures (tests/hotline/media/test_endpointing.py): espeak-ng and FSDD speech
frames have an RMS of 1,500-5,000 on 16-bit PCM, the noisy fixtures' background 300-1,050
and a phone line's silence near 0. A threshold of 1,100 with a run of three frames (60 ms)
to count as speech keeps noise bursts and clicks from starting an utterance; once speech
was heard, two loud frames in a row (a short unstressed syllable, as in a real voice's
"se-ven") restart the silence count but a lone click does not.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # see hotline/speech/audio.py
    import audioop

SPEECH_RMS = 1100
SPEECH_FRAMES = 3
MORE_SPEECH_FRAMES = 2
SILENCE_MS = 700


def rms(pcm: bytes) -> int:
    """The loudness of a chunk of 16-bit PCM."""
    return int(audioop.rms(pcm, 2)) if pcm else 0


class Endpointer:
    """Feed it each frame's loudness; it says when an utterance has ended."""

    def __init__(
        self,
        threshold: int = SPEECH_RMS,
        speech_frames: int = SPEECH_FRAMES,
        silence_ms: int = SILENCE_MS,
    ) -> None:
        self.threshold = threshold
        self.speech_frames = speech_frames
        self.silence_ms = silence_ms
        self.heard = False  # speech has been heard in this utterance
        self.quiet_ms = 0
        self._run = 0

    def push(self, loudness: int, ms: int) -> bool:
        """Take one frame of `ms` milliseconds; True once speech was heard then quiet."""
        self._run = self._run + 1 if loudness >= self.threshold else 0
        if self._run >= (MORE_SPEECH_FRAMES if self.heard else self.speech_frames):
            self.heard = True
            self.quiet_ms = 0
        elif self.heard:
            self.quiet_ms += ms
        return self.heard and self.quiet_ms >= self.silence_ms
