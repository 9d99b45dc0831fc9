from __future__ import annotations

import pytest

from ticketing.exceptions import InvalidTransition
from ticketing.vocabulary.lifecycle import OPEN_STATUSES, TRANSITIONS, TicketStatus, transition

pytestmark = pytest.mark.unit

S = TicketStatus


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.ASSIGNED),
        (S.ASSIGNED, S.ACCEPTED),
        (S.ASSIGNED, S.ASSIGNED),
        (S.ACCEPTED, S.RESOLVED),
        (S.RESOLVED, S.CLOSED),
        (S.RESOLVED, S.ACCEPTED),
        (S.ASSIGNED, S.RETURNED),
        (S.RETURNED, S.ASSIGNED),
        (S.NEW, S.CANCELLED),
    ],
)
def test_allowed_moves(current: TicketStatus, target: TicketStatus) -> None:
    assert transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.RESOLVED),  # nobody accepted it
        (S.NEW, S.ACCEPTED),  # nobody was assigned
        (S.CLOSED, S.ACCEPTED),
        (S.CANCELLED, S.ASSIGNED),
        (S.RESOLVED, S.RETURNED),
        (S.ACCEPTED, S.ACCEPTED),
    ],
)
def test_forbidden_moves_raise(current: TicketStatus, target: TicketStatus) -> None:
    with pytest.raises(InvalidTransition, match=f"from {current} to {target}"):
        transition(current, target)


def test_every_status_has_a_row_and_terminal_ones_lead_nowhere() -> None:
    assert set(TRANSITIONS) == set(TicketStatus)
    assert TRANSITIONS[S.CLOSED] == TRANSITIONS[S.CANCELLED] == frozenset()
    assert S.RESOLVED not in OPEN_STATUSES
