"""The caller's recorded description: fetched, kept, and transcribed for the agent.

Twilio's recording URL needs the account's Basic auth and may 404 for a moment after the
call; the simulator's recordings are files of the file store's recordings area, named by
file URL. The audio is kept in the file store (`case_key`), which every host mounts, so
the console of any host plays what a worker fetched. The transcript is a help for the
agent, never a condition: audio that cannot be read is logged and recorded on the case,
and the case carries on.
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
from hotline.storage.files import FileStore
from ticketing.cases import transcripts

if TYPE_CHECKING:
    from hotline.bootstrap import Services

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # 10 minutes of 16 kHz audio; a recording is at most 2
AREA = "recordings"


class RecordingUnavailable(Exception):
    """The recording cannot be fetched (yet): worth retrying later."""


class RecordingRefused(Exception):
    """The recording's address is not one we fetch from: never worth retrying."""


def case_key(number: str) -> str:
    """The file store key of a case's kept recording."""
    return f"{AREA}/cases/{number}.wav"


def fetch(url: str, settings: Settings, files: FileStore) -> bytes:
    """The recording's WAV bytes, from Twilio (Basic auth) or the simulator's folder."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        return _local(Path(urllib.parse.unquote(parts.path)), files)
    if parts.scheme != "https":
        raise RecordingRefused(f"recordings are fetched over https, not {parts.scheme!r}")
    wav_url = url if url.endswith(".wav") else url + ".wav"
    credentials = None
    if settings.twilio_account_sid and settings.twilio_auth_token:
        credentials = (settings.twilio_account_sid, settings.twilio_auth_token)
    return download(wav_url, credentials)


def download(url: str, credentials: tuple[str, str] | None) -> bytes:
    """GET a recording with Basic auth, at most MAX_BYTES.

    Twilio may answer a recording's URL with a redirect (docs/TWILIO.md, Recordings); the
    account's credentials are for Twilio alone, so they go with the first request only
    (`add_unredirected_header`: urllib copies every other header onto the redirect).
    """
    request = urllib.request.Request(url)  # noqa: S310 - the caller checked the scheme
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            data: bytes = answer.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecordingUnavailable(f"cannot fetch {url}: {exc}") from exc
    if len(data) > MAX_BYTES:
        raise RecordingRefused(f"{url} is larger than {MAX_BYTES} bytes")
    return data


def _local(path: Path, files: FileStore) -> bytes:
    """Only the file store's recordings area: a file URL must not read anything else."""
    key = files.key_of(path)
    if key is None or not key.startswith(f"{AREA}/"):
        raise RecordingRefused(
            f"file recordings are read only from {files.root / AREA}, not {path}"
        )
    try:
        return files.read(key)
    except OSError as exc:
        raise RecordingUnavailable(f"cannot read {path}: {exc}") from exc


def keep(ticket_number: str, data: bytes, files: FileStore) -> str:
    """Store the audio with the case, so it outlives Twilio's copy; its key."""
    key = case_key(ticket_number)
    files.put(key, data)
    return key


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
        audio = fetch(url, services.settings, services.files)
        keep(number, audio, services.files)
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
