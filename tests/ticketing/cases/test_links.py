"""Signed case links: what they grant, and every way a changed or stale one is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ticketing.cases.links import (
    CaseLink,
    CaseLinks,
    ExpiredLink,
    MalformedLink,
    TamperedLink,
    form_token,
    form_token_ok,
    make_token,
    read_token,
)

pytestmark = pytest.mark.unit

SECRET = "unit-secret"
NOW = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=14)


def _b36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


def test_a_token_round_trips_the_case_the_member_and_the_expiry() -> None:
    token = make_token(SECRET, "2611270012", 7, EXPIRES)
    assert read_token(SECRET, token, NOW) == CaseLink("2611270012", 7, EXPIRES)


def test_a_token_is_short_enough_for_an_sms_and_url_safe() -> None:
    token = make_token(SECRET, "2611271234", 12345, EXPIRES)
    assert len(token) < 60
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in token)
    assert token[-1].isalnum() or token[-1] in "_-"  # nothing a phone strips off the end


def test_leading_zeros_of_a_case_number_survive() -> None:
    token = make_token(SECRET, "0001270001", 1, EXPIRES)
    assert read_token(SECRET, token, NOW).number == "0001270001"


@pytest.mark.parametrize("field", [0, 1, 2])
def test_changing_any_signed_field_is_tampering(field: int) -> None:
    parts = make_token(SECRET, "2611270012", 7, EXPIRES).split(".")
    replacements = [
        _b36(int("1" + "2611270013")),  # the next case
        _b36(8),  # another member
        _b36(int((EXPIRES + timedelta(days=365)).timestamp())),  # a longer life
    ]
    assert parts[field] != replacements[field]
    parts[field] = replacements[field]
    with pytest.raises(TamperedLink):
        read_token(SECRET, ".".join(parts), NOW)


def test_a_changed_signature_is_tampering() -> None:
    token = make_token(SECRET, "2611270012", 7, EXPIRES)
    last = token[-1]
    changed = token[:-1] + ("A" if last != "A" else "B")
    with pytest.raises(TamperedLink):
        read_token(SECRET, changed, NOW)


def test_a_token_of_another_installation_is_tampering() -> None:
    token = make_token("another-secret", "2611270012", 7, EXPIRES)
    with pytest.raises(TamperedLink):
        read_token(SECRET, token, NOW)


def test_the_link_works_until_the_second_before_its_expiry() -> None:
    token = make_token(SECRET, "2611270012", 7, EXPIRES)
    assert read_token(SECRET, token, EXPIRES - timedelta(seconds=1)).staff_id == 7
    with pytest.raises(ExpiredLink):
        read_token(SECRET, token, EXPIRES)
    with pytest.raises(ExpiredLink):
        read_token(SECRET, token, EXPIRES + timedelta(days=1))


def test_an_expired_forgery_is_tampering_not_expiry() -> None:
    parts = make_token(SECRET, "2611270012", 7, EXPIRES).split(".")
    parts[2] = _b36(int((NOW - timedelta(days=1)).timestamp()))
    with pytest.raises(TamperedLink):
        read_token(SECRET, ".".join(parts), NOW)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b.c",
        "a.b.c.d.e",
        "2v8qk9a.7.tgk1sq",  # the signature cut off by a phone
        "2v8qk9a.7.tgk1sq.q0X3d9Ryv-4H_0m",  # one character short
        "2V8QK9A.7.tgk1sq.q0X3d9Ryv-4H_0mB",  # upper case where base36 is lower
        "2v8qk9a..tgk1sq.q0X3d9Ryv-4H_0mB",
        "2v8qk9a.7.tgk1sq.q0X3d9Ryv+4H/0mB",  # base64, not base64url
        "2v8qk9a.7.tgk1sq.q0X3d9Ryv-4H_0mB%",
        "读.7.tgk1sq.q0X3d9Ryv-4H_0mB",
        "1" * 14 + ".7.tgk1sq.q0X3d9Ryv-4H_0mB",
    ],
)
def test_malformed_tokens_are_told_apart(token: str) -> None:
    with pytest.raises(MalformedLink):
        read_token(SECRET, token, NOW)


def test_a_well_formed_token_with_an_invented_signature_is_tampering() -> None:
    with pytest.raises(TamperedLink):
        read_token(SECRET, "zzz.7.tgk1sq.q0X3d9Ryv-4H_0mB", NOW)


def test_only_digit_case_numbers_and_real_staff_ids_are_signed() -> None:
    with pytest.raises(ValueError, match="digits only"):
        make_token(SECRET, "26-1127", 7, EXPIRES)
    with pytest.raises(ValueError, match="staff ids"):
        make_token(SECRET, "2611270012", 0, EXPIRES)


def test_the_form_token_belongs_to_one_link_and_is_not_the_link_signature() -> None:
    token = make_token(SECRET, "2611270012", 7, EXPIRES)
    other = make_token(SECRET, "2611270012", 8, EXPIRES)
    csrf = form_token(SECRET, token)
    assert form_token_ok(SECRET, token, csrf)
    assert not form_token_ok(SECRET, other, csrf)
    assert not form_token_ok(SECRET, token, "")
    assert not form_token_ok(SECRET, token, "é" * 16)
    assert csrf != token.split(".")[3]


def test_case_links_make_a_url_that_expires_after_the_lifetime() -> None:
    links = CaseLinks("https://hotline.example.org", SECRET, timedelta(days=3))
    url = links.url("2611270012", 7, NOW)
    prefix = "https://hotline.example.org/m/"
    assert url.startswith(prefix)
    link = read_token(SECRET, url.removeprefix(prefix), NOW)
    assert link.expires == NOW + timedelta(days=3)
