"""What a step's webhook parameters become for the flow engine."""

from __future__ import annotations

from typing import cast

import pytest

from hotline.bootstrap import Services
from hotline.settings import FLOWS_DIR
from hotline.voice import engine
from hotline.voice.actions import FLOW_VOCABULARY
from hotline.voice.flows import load_flow
from hotline.voice.inputs import CallRequest, event_for

pytestmark = pytest.mark.unit

URL = "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE1"


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("12", 12), ("abc", 0), ("", 0), ("-3", 0), ("1e9", 0), ("9" * 30, 0), ("٣", 0)],
)
def test_a_recording_duration_that_is_not_a_number_counts_as_unknown(
    given: str, seconds: int
) -> None:
    flow = load_flow(FLOWS_DIR / "hotline.yaml", FLOW_VOCABULARY)
    params = {"RecordingUrl": URL, "RecordingSid": "RE1", "RecordingDuration": given}
    request = CallRequest("CA1", 9, params)
    event = event_for(cast(Services, None), flow, engine.State("describe"), request)
    assert event == engine.Recorded(URL, "RE1", seconds)
