"""Phone numbers: stored in E.164, and only mobiles are sent SMS."""

from __future__ import annotations

import pytest

from ticketing.exceptions import InvalidInput
from ticketing.people.phones import is_mobile, to_e164, try_e164

pytestmark = pytest.mark.unit


def test_phones_are_stored_in_e164() -> None:
    assert to_e164("139 0371 0001") == "+8613903710001"
    assert to_e164("+86 139-0371-0001") == "+8613903710001"
    with pytest.raises(InvalidInput):
        to_e164("anonymous")
    assert try_e164("anonymous") is None
    assert try_e164(None) is None


def test_only_mobiles_get_sms() -> None:
    assert is_mobile("+8613903710001")
    assert not is_mobile("+863716000000")  # a Zhengzhou landline
