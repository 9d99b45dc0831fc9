"""Log lines carry the request id, CallSid and case number of the work they belong to,
as text or JSON, and nothing bound in one scope leaks into the next."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from hotline import logs
from tests.factories import NOW
from ticketing.unit_of_work import CaseEvent, SmsQueued
from ticketing.vocabulary.events import Actor, EventKind

pytestmark = pytest.mark.unit


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back as the test found it (pytest's handlers on it)."""
    logger = logging.getLogger()
    handlers, level = logger.handlers[:], logger.level
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _case_event(number: str) -> CaseEvent:
    return CaseEvent(EventKind.ACCEPTED, Actor.staff(1), 1, number, "phone", "street_light", NOW)


def test_a_json_line_carries_the_three_fields_known_or_null(root: logging.Logger) -> None:
    stream = io.StringIO()
    assert logs.configure_logging("json", force=True, stream=stream)
    log = logging.getLogger("hotline.test")
    log.info("outside any request")
    with logs.scope(request_id="req-1"):
        logs.bind(call_sid="CA" + "a" * 32)
        logs.bind(case_number="2611270001")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("a failure, 中文 kept as it is")
    first, second = _json_lines(stream)
    assert (first["request_id"], first["call_sid"], first["case_number"]) == (None, None, None)
    assert first["message"] == "outside any request"
    assert first["level"] == "INFO"
    assert first["logger"] == "hotline.test"
    assert second["request_id"] == "req-1"
    assert second["call_sid"] == "CA" + "a" * 32
    assert second["case_number"] == "2611270001"
    assert second["message"] == "a failure, 中文 kept as it is"
    assert "RuntimeError: boom" in str(second["exception"])
    assert "中文" in stream.getvalue()  # not \\u-escaped


def test_the_text_format_appends_what_is_known(root: logging.Logger) -> None:
    stream = io.StringIO()
    logs.configure_logging("text", force=True, stream=stream)
    log = logging.getLogger("hotline.test")
    log.warning("plain")
    with logs.scope(request_id="r2", case_number="2611270002"):
        log.warning("in a request")
    plain, inside = stream.getvalue().splitlines()
    assert plain.endswith("WARNING hotline.test: plain")
    assert inside.endswith("in a request [request_id=r2 case_number=2611270002]")


def test_a_scope_undoes_what_was_bound_inside_it_and_a_nested_one_keeps_the_rest() -> None:
    assert logs.current() == {"request_id": None, "call_sid": None, "case_number": None}
    with logs.scope(request_id="outer"):
        logs.bind(call_sid="CA1", case_number=None)  # empty values are ignored
        with logs.scope(case_number="2611270003"):  # a job run inside the request
            assert logs.current() == {
                "request_id": "outer",
                "call_sid": "CA1",
                "case_number": "2611270003",
            }
            logs.bind(call_sid="CA2")
        assert logs.current() == {"request_id": "outer", "call_sid": "CA1", "case_number": None}
    assert logs.current() == {"request_id": None, "call_sid": None, "case_number": None}
    with pytest.raises(TypeError):
        logs.bind(phone="+8613812345678")


def test_the_first_case_committed_in_a_scope_names_its_lines_and_none_outside() -> None:
    logs.note_case(_case_event("2611270004"))  # a bare thread: nothing would undo it
    assert logs.current()["case_number"] is None
    with logs.scope(request_id="r"):
        logs.note_case(SmsQueued(1))
        assert logs.current()["case_number"] is None
        logs.note_case(_case_event("2611270005"))
        logs.note_case(_case_event("2611270006"))  # the sweep's later cases do not replace it
        assert logs.current()["case_number"] == "2611270005"
    assert logs.current()["case_number"] is None


def test_a_proxys_request_id_is_kept_only_when_it_is_a_plain_token() -> None:
    assert logs.request_id("abc-123.XYZ") == "abc-123.XYZ"
    made = logs.request_id("forged\nINFO admin logged in")
    assert len(made) == 32
    assert made.isalnum()
    assert logs.request_id(None) != logs.request_id(None)


def test_configuring_leaves_a_host_s_logging_alone_and_twice_is_once(root: logging.Logger) -> None:
    root.handlers[:] = [logging.NullHandler()]
    assert not logs.configure_logging("json")  # someone else set logging up
    root.handlers[:] = []
    assert logs.configure_logging("json")
    assert logs.configure_logging("text")
    assert [type(h) for h in root.handlers] == [logs.LogHandler]
    assert root.level == logging.INFO


def test_a_format_other_than_text_or_json_is_refused() -> None:
    assert logs.log_format(env={}) == "text"
    assert logs.log_format(env={"HOTLINE_LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(ValueError, match="HOTLINE_LOG_FORMAT"):
        logs.log_format(env={"HOTLINE_LOG_FORMAT": "yaml"})


def test_gunicorns_own_lines_go_through_the_same_handler(root: logging.Logger) -> None:
    error = logging.getLogger("gunicorn.error")
    access = logging.getLogger("gunicorn.access")
    saved = [(lg, lg.handlers[:], lg.propagate, lg.level) for lg in (error, access)]
    try:
        logging.config.dictConfig(logs.gunicorn_logconfig("json"))
        (handler,) = root.handlers
        assert isinstance(handler, logs.LogHandler)
        assert isinstance(handler.formatter, logs.JsonFormatter)
        assert error.propagate
        assert not error.handlers
        assert not access.propagate  # no access log: the proxy logs requests
    finally:
        for logger, handlers, propagate, level in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.setLevel(level)
