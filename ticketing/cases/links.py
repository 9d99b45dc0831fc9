"""Signed links that open one case for one member without a password.

A link is `<PUBLIC_BASE_URL>/m/<token>`, sent in the assignment SMS. The token binds the
case number, the staff id of the recipient and an expiry, signed with HMAC-SHA256 under
the installation's secret. It is built to fit a cheap phone's SMS:

    <number>.<staff>.<expiry>.<mac>      e.g.  5skfa7w.7.tpv0a0.tDgbLfCKw9iTb0AY  (33 characters)

* number, staff and expiry are lower-case base36: a case number (digits only) is read as
  the integer "1" + number, so leading zeros survive, and takes 7 characters; a staff id
  1 to 3; the expiry (Unix seconds) 6. Lower-case letters and digits survive SMS
  gateways, link detectors and phones that change the case of what they show.
* the MAC is HMAC-SHA256 over the first three parts, truncated to 12 bytes (96 bits) and
  written in unpadded base64url: 16 characters. 96 bits is far beyond what anyone can
  guess online (each guess costs a request) and keeps the token near 35 characters;
  a full 32-byte MAC would add 27 characters and a second SMS segment for nothing.
* the MAC is last so the link ends on it, and none of its characters is punctuation a
  phone would strip from the end of a link.

The key is derived from the secret with a purpose label, so a link MAC can never be
replayed as the form token (`form_token`) or anything else signed with the same secret.

Pure: standard library only, no clock of its own (`now` is a parameter).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAC_BYTES = 12
# A fixed lifetime from the assignment rather than the case's resolve deadline: the SMS is
# written before the deadlines are computed, and a paused or reopened case outlives its
# first deadline. 14 days cover the usual 7 working days to resolve, across a holiday.
DEFAULT_LIFETIME = timedelta(days=14)

_PART = re.compile(r"[0-9a-z]{1,13}\Z")
_MAC = re.compile(r"[A-Za-z0-9_-]{16}\Z")  # 12 bytes in unpadded base64url
_DIGITS = re.compile(r"[0-9]{1,18}\Z")


class LinkError(ValueError):
    """A signed link that cannot be honoured; the subclasses say why."""


class MalformedLink(LinkError):
    """Not a token this system makes: cut short by the phone, mistyped, garbage."""


class TamperedLink(LinkError):
    """Well-formed, but the signature does not match: changed, or from another install."""


class ExpiredLink(LinkError):
    """Authentic, but past its expiry."""


@dataclass(frozen=True)
class CaseLink:
    """What an authentic token says: this case, for this member, until then."""

    number: str
    staff_id: int
    expires: datetime


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"hotline:{purpose}".encode(), hashlib.sha256).digest()


def _mac(secret: str, purpose: str, message: str) -> str:
    digest = hmac.new(_key(secret, purpose), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode().rstrip("=")


def _b36(value: int) -> str:
    if value < 0:
        raise ValueError("base36 here is for whole numbers of 0 or more")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


def make_token(secret: str, number: str, staff_id: int, expires: datetime) -> str:
    """The signed token for `number`, usable by staff `staff_id` until `expires`."""
    if not _DIGITS.match(number):
        raise ValueError(f"case numbers are digits only, not {number!r}")
    if staff_id < 1:
        raise ValueError("staff ids start at 1")
    payload = ".".join((_b36(int("1" + number)), _b36(staff_id), _b36(int(expires.timestamp()))))
    return f"{payload}.{_mac(secret, 'case-link', payload)}"


def read_token(secret: str, token: str, now: datetime) -> CaseLink:
    """Check a token and say what it grants; raise MalformedLink, TamperedLink or
    ExpiredLink. The signature is checked before the expiry, so only an authentic token
    is ever called expired."""
    parts = token.split(".")
    if len(parts) != 4 or not all(_PART.match(p) for p in parts[:3]) or not _MAC.match(parts[3]):
        raise MalformedLink("not a case link")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _mac(secret, "case-link", payload)):
        raise TamperedLink("the link's signature does not match")
    number, staff_id, expiry = (int(p, 36) for p in parts[:3])
    digits = str(number)
    if not digits.startswith("1") or len(digits) < 2 or staff_id < 1:
        raise TamperedLink("the link names no case")  # signed by us, so never in practice
    expires = datetime.fromtimestamp(expiry, UTC)
    if now >= expires:
        raise ExpiredLink(f"the link expired at {expires.isoformat()}")
    return CaseLink(digits[1:], staff_id, expires)


def form_token(secret: str, token: str) -> str:
    """The CSRF token of the forms on a link's page: bound to that link, so a form
    posted from anywhere that does not know the link is refused."""
    return _mac(secret, "mobile-form", token)


def form_token_ok(secret: str, token: str, candidate: str) -> bool:
    """Whether a posted form token belongs to this link."""
    return hmac.compare_digest(form_token(secret, token).encode(), candidate.encode())


@dataclass(frozen=True)
class CaseLinks:
    """How to make the link of the assignment SMS: given by the composition root to the
    unit of work, since only the edge knows the public address and the secret."""

    base_url: str
    secret: str
    lifetime: timedelta = DEFAULT_LIFETIME

    def url(self, number: str, staff_id: int, now: datetime) -> str:
        """The link for `staff_id` to open case `number`, valid for `lifetime` from now."""
        token = make_token(self.secret, number, staff_id, now + self.lifetime)
        return f"{self.base_url}/m/{token}"
