"""Sending SMS: through Twilio's REST API, or to the log when no provider is configured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from hotline.exceptions import SmsRejected, SmsUnavailable
from ticketing.models.sms import SmsStatus

log = logging.getLogger(__name__)

# What Twilio says when it takes a message: all mean "on its way", none "delivered".
_IN_FLIGHT = {"accepted", "queued", "scheduled", "sending"}


@dataclass(frozen=True)
class SendResult:
    provider_sid: str | None
    status: SmsStatus


class SmsSender(Protocol):
    def send(self, to: str, body: str, message_id: int | None = None) -> SendResult:
        """Hand one message to the provider; `message_id` (our outbox row) goes into the
        status callback's URL, so a callback that arrives before we stored the provider's
        SID still finds its message.

        Raises SmsRejected when retrying cannot help, SmsUnavailable when it may.
        """
        ...


class LogSmsSender:
    """The embedded default: the message is kept in the outbox table and written to the log."""

    def send(self, to: str, body: str, message_id: int | None = None) -> SendResult:
        log.info("SMS to %s: %s", to, body)
        return SendResult(None, SmsStatus.LOGGED)


class TwilioSmsSender:
    """Sends through twilio's REST client; delivery updates arrive on the status webhook."""

    def __init__(self, client: Client, from_number: str, status_callback: str | None) -> None:
        self._client = client
        self._from = from_number
        self._status_callback = status_callback

    def send(self, to: str, body: str, message_id: int | None = None) -> SendResult:
        extra = {}
        if self._status_callback:
            ref = "" if message_id is None else f"?ref={message_id}"
            extra["status_callback"] = self._status_callback + ref
        try:
            message = self._client.messages.create(to=to, from_=self._from, body=body, **extra)
        except TwilioRestException as exc:
            # str(exc) is coloured when stderr is a terminal: keep only the facts.
            reason = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
            if 400 <= exc.status < 500 and exc.status != 429:
                raise SmsRejected(reason) from exc
            raise SmsUnavailable(reason) from exc
        except (TwilioException, OSError) as exc:  # connection refused, timeout
            raise SmsUnavailable(f"Twilio unreachable: {type(exc).__name__}") from exc
        status = str(message.status or "")
        known = {s.value for s in SmsStatus}
        if status in _IN_FLIGHT or status not in known:
            return SendResult(message.sid, SmsStatus.SENDING)
        return SendResult(message.sid, SmsStatus(status))


def twilio_client(account_sid: str, auth_token: str, api_base_url: str | None) -> Client:
    """A real twilio Client, optionally pointed at another API host (a test stub, a relay).

    Its HTTP client keeps one requests Session, so a worker's messages share a kept-alive
    connection (and TLS session) to Twilio: tests/hotline/telephony/test_sms.py pins it.
    """
    # twilio's default HTTP client waits forever; a stalled API must not stall a worker.
    # It logs 11 INFO lines a request (URL with the account SID, every header, the
    # answer's headers): three times what rq says of the job, for every SMS.
    http_log = logging.getLogger(f"{__name__}.twilio_http")
    http_log.setLevel(logging.WARNING)
    http_client = TwilioHttpClient(timeout=10, logger=http_log)
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base_url:
        # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite our host too.
        client.edge = client.region = None
        # Domain.base_url is where twilio-python builds every request URL from;
        # tests/hotline/telephony/test_sms.py pins this behaviour.
        client.api.base_url = api_base_url.rstrip("/")
    return client
