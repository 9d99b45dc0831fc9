"""What a case's history and the audit log say happened, and who did it.

Both are stored as the plain strings they always were (`ticket_events.kind` "assigned",
`ticket_events.actor` and `audit_log.actor` "staff:12"), so no row changes; code writes
and reads them through these types instead of formatting and splitting strings.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace


class EventKind(enum.StrEnum):
    """One kind of row in a case's history."""

    CREATED = "created"
    TRIAGE = "triage"  # routing found nobody: an agent must place the case
    ASSIGNED = "assigned"
    POSSIBLE_DUPLICATE = "possible_duplicate"
    RECORDING = "recording"  # the caller's recorded description arrived
    TRANSCRIBED = "transcribed"
    TRANSCRIPTION_FAILED = "transcription_failed"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    REROUTED = "rerouted"
    RECATEGORISED = "recategorised"
    PRIORITY_CHANGED = "priority_changed"
    PLACE_CHANGED = "place_changed"
    NOTE = "note"
    CALLBACK_REQUESTED = "callback_requested"
    REFUSED_COMMAND = "refused_command"  # an SMS command from someone not holding the case
    PAUSED = "paused"
    RESUMED = "resumed"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    MERGED = "merged"  # on the duplicate
    ABSORBED = "absorbed"  # on the case the duplicate was merged into


class ActorKind(enum.StrEnum):
    """Who can sign an event or an audit row."""

    STAFF = "staff"  # a grid member or dispatcher, by SMS or their phone page
    USER = "user"  # a console account
    CALLER = "caller"  # the resident, by phone or SMS
    SYSTEM = "system"  # routing, the sweep, the jobs; "system:demo" loads the demo
    CLI = "cli"  # a command-line run, by login name
    OTHER = "other"  # a stored form none of the above reads: kept as it is


UNKNOWN = "unknown"  # the reference when there is none: "caller:unknown", "cli:unknown"
_WRITTEN = frozenset(ActorKind) - {ActorKind.OTHER}
_NUMBER = re.compile(r"[0-9]+")
_PHONE = re.compile(r"\+?[0-9]+")


@dataclass(frozen=True)
class Actor:
    """Who did something: a kind and, for most kinds, a reference (an id, a phone number,
    a login name). `str()` is the stored form, and `parse` reads any stored form back."""

    kind: ActorKind
    ref: str = ""  # for OTHER, the whole stored text
    # The network address the actor came from, for one who came over the network (a
    # console user); the audit log keeps it, `str()` and equality leave it out: it says
    # where from, not who.
    source: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.kind is ActorKind.OTHER:
            return self.ref
        return f"{self.kind}:{self.ref}" if self.ref else str(self.kind)

    @classmethod
    def parse(cls, text: str) -> Actor:
        """The actor a stored string names; never raises, since old rows must still
        display: a form this module would not write back unchanged becomes OTHER."""
        prefix, _, ref = text.partition(":")
        if prefix in _WRITTEN:
            actor = cls(ActorKind(prefix), ref)
            if str(actor) == text:
                return actor
        return cls(ActorKind.OTHER, text)

    @classmethod
    def staff(cls, staff_id: int) -> Actor:
        return cls(ActorKind.STAFF, str(staff_id))

    @classmethod
    def user(cls, user_id: int) -> Actor:
        return cls(ActorKind.USER, str(user_id))

    @classmethod
    def caller(cls, phone: str | None) -> Actor:
        """The resident calling or texting from `phone` (None: the number was withheld)."""
        return cls(ActorKind.CALLER, phone or UNKNOWN)

    @classmethod
    def system(cls, part: str = "") -> Actor:
        """The hotline itself; `part` names a part that wants to be told apart ("demo")."""
        return cls(ActorKind.SYSTEM, part)

    @classmethod
    def cli(cls, login: str | None) -> Actor:
        """Whoever ran a command, by login name (None: the system has no name for them)."""
        return cls(ActorKind.CLI, login or UNKNOWN)

    def coming_from(self, address: str) -> Actor:
        """The same actor, seen arriving from `address`."""
        return replace(self, source=address)

    @property
    def staff_id(self) -> int | None:
        return self._number(ActorKind.STAFF)

    @property
    def user_id(self) -> int | None:
        return self._number(ActorKind.USER)

    @property
    def phone(self) -> str | None:
        """A caller's number; None for anyone else and for a caller without one."""
        if self.kind is ActorKind.CALLER and _PHONE.fullmatch(self.ref):
            return self.ref
        return None

    def _number(self, kind: ActorKind) -> int | None:
        return int(self.ref) if self.kind is kind and _NUMBER.fullmatch(self.ref) else None
