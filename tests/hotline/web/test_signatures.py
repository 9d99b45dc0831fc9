"""Our simulator signs exactly as Twilio does: the published test vector."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

pytestmark = pytest.mark.unit

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_twilio_signature_test_vector() -> None:
    validator = RequestValidator("12345")
    assert validator.compute_signature(URL, PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert validator.validate(URL, PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not validator.validate(URL, {**PARAMS, "Digits": "1235"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
