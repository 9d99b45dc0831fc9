"""The caller's recorded description: fetched, kept, and transcribed for the agent.

Twilio's recording URL needs the account's Basic auth and may 404 for a moment after the
call; the simulator's recordings are files under var/recordings. The transcript is a help
for the agent, never a condition: audio that cannot be read is logged and recorded on the
case, and the case carries on.
"""

from __future__ import annotations

import base64
import logging
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from hotline import logs, metrics
from hotline.jobs import context
from hotline.jobs.queue import job_name
from hotline.settings import Settings
from hotline.speech.exceptions import SpeechError
from ticketing.cases import transcripts

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # 10 minutes of 16 kHz audio; a recording is at most 2


class RecordingUnavailable(Exception):
    """The recording cannot be fetched (yet): worth retrying later."""


class RecordingRefused(Exception):
    """The recording's address is not one we fetch from: never worth retrying."""


def fetch(url: str, settings: Settings) -> bytes:
    """The recording's WAV bytes, from Twilio (Basic auth) or the simulator's folder."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return _local(Path(urllib.parse.unquote(parts.path)), settings)
    if parts.scheme != "https":
        raise RecordingRefused(f"recordings are fetched over https, not {parts.scheme!r}")
    wav_url = url if url.endswith(".wav") else url + ".wav"
    request = urllib.request.Request(wav_url)  # noqa: S310 - https checked above
    if settings.twilio_account_sid and settings.twilio_auth_token:
        token = f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(token).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            data: bytes = answer.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecordingUnavailable(f"cannot fetch {wav_url}: {exc}") from exc
    if len(data) > MAX_BYTES:
        raise RecordingRefused(f"{wav_url} is larger than {MAX_BYTES} bytes")
    return data


def _local(path: Path, settings: Settings) -> bytes:
    """Only the simulator's own folder: a file URL must not read anything else on disk."""
    allowed = (settings.var_dir / "recordings").resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(allowed):
        raise RecordingRefused(f"file recordings are read only from {allowed}, not {path}")
    try:
        return resolved.read_bytes()
    except OSError as exc:
        raise RecordingUnavailable(f"cannot read {path}: {exc}") from exc


def keep(ticket_number: str, data: bytes, settings: Settings) -> Path:
    """Store the audio with the case, so it outlives Twilio's copy."""
    folder = settings.var_dir / "recordings" / "cases"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ticket_number}.wav"
    path.write_bytes(data)
    return path


def transcribe_recording(ticket_id: int, call_sid: str | None = None) -> None:
    """Fetch a case's recording, keep it, and attach its transcript. Unreadable audio is
    recorded on the case and not retried; an unreachable recording raises so rq retries.
    `call_sid` (absent from jobs queued before it was passed) only names the log lines."""
    services = context.current()
    with services.uow() as uow:
        recording = transcripts.recording_to_transcribe(uow, ticket_id)
    if recording is None:
        return  # no recording, or a repeated job
    with logs.scope(case_number=recording.number, call_sid=call_sid):
        _transcribe(services, ticket_id, recording)


def _transcribe(services: Services, ticket_id: int, recording: transcripts.Recording) -> None:
    url, number, language = recording.url, recording.number, recording.language
    try:
        audio = fetch(url, services.settings)
        keep(number, audio, services.settings)
        recognizer = services.recognizer(language)
        if recognizer is None:
            raise SpeechError(f"no speech recogniser is configured for {language}")
        started = time.perf_counter()
        heard = recognizer.recognize(audio)
        metrics.recognised("recording", language, time.perf_counter() - started)
    except (RecordingRefused, SpeechError) as exc:
        log.warning("case %s: recording not transcribed: %s", number, exc)
        with services.uow() as uow:
            transcripts.note_transcription_failure(uow, ticket_id, str(exc), services.clock())
        return
    with services.uow() as uow:
        transcripts.attach_transcript(
            uow, ticket_id, heard.text, heard.confidence, recognizer.name, services.clock()
        )


TRANSCRIBE_JOB = job_name(transcribe_recording)
