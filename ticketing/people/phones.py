"""Phone numbers in one canonical form (E.164) so a caller ID matches a staff record."""

from __future__ import annotations

import phonenumbers

from ticketing.exceptions import InvalidInput

DEFAULT_REGION = "CN"


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """Parse a number as people write it and return it as +CCNNN...; raise InvalidInput."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {raw!r}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput(f"not a possible phone number: {raw!r}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def is_mobile(e164: str) -> bool:
    """Tell whether an SMS to this number can be delivered (mobile, or can't tell)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    kind = phonenumbers.number_type(parsed)
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def try_e164(raw: str | None) -> str | None:
    """Like to_e164, but None for anything unusable (withheld caller IDs, 'anonymous')."""
    if not raw:
        return None
    try:
        return to_e164(raw)
    except InvalidInput:
        return None
