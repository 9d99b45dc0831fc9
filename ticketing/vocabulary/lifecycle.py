"""Case statuses and the only moves allowed between them.

The table is the single authority: services call `transition` before every status change
so a forbidden move fails loudly instead of silently corrupting the case history.
"""

from __future__ import annotations

import enum

from ticketing.exceptions import InvalidTransition


class TicketStatus(enum.StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    MERGED = "merged"  # a duplicate, folded into another case that carries on


_S = TicketStatus

TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    _S.NEW: frozenset({_S.ASSIGNED, _S.CANCELLED, _S.MERGED}),
    # assigned -> assigned is a reassignment to someone else.
    _S.ASSIGNED: frozenset({_S.ASSIGNED, _S.ACCEPTED, _S.RETURNED, _S.CANCELLED, _S.MERGED}),
    _S.ACCEPTED: frozenset({_S.ASSIGNED, _S.RESOLVED, _S.RETURNED, _S.CANCELLED, _S.MERGED}),
    # A resident or supervisor may find the work unfinished: back to the same assignee.
    _S.RESOLVED: frozenset({_S.CLOSED, _S.ACCEPTED}),
    _S.RETURNED: frozenset({_S.ASSIGNED, _S.CANCELLED, _S.MERGED}),
    _S.CLOSED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.MERGED: frozenset(),
}

OPEN_STATUSES = frozenset({_S.NEW, _S.ASSIGNED, _S.ACCEPTED, _S.RETURNED})


def can_transition(current: TicketStatus, target: TicketStatus) -> bool:
    """Tell whether the table allows the move, for callers that only want to ask."""
    return target in TRANSITIONS[current]


def transition(current: TicketStatus, target: TicketStatus) -> TicketStatus:
    """Return `target` if the table allows the move, else raise InvalidTransition."""
    if not can_transition(current, target):
        raise InvalidTransition(f"a case cannot go from {current} to {target}")
    return target
