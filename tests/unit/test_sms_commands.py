from __future__ import annotations

import pytest

from ticketing.sms_commands import CommandKind, SmsCommand, parse_command


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("A 2611270012", SmsCommand(CommandKind.ACCEPT, "2611270012")),
        ("  a   2611270012 ", SmsCommand(CommandKind.ACCEPT, "2611270012")),
        ("A 261127-0012", SmsCommand(CommandKind.ACCEPT, "2611270012")),
        ("D 2611270012 bulb replaced", SmsCommand(CommandKind.DONE, "2611270012", "bulb replaced")),
        ("D 2611270012 3 lamps fixed", SmsCommand(CommandKind.DONE, "2611270012", "3 lamps fixed")),
        ("D 2611270012", SmsCommand(CommandKind.DONE, "2611270012")),
        ("R 2611270012 not my grid", SmsCommand(CommandKind.RETURN, "2611270012", "not my grid")),
        ("?", SmsCommand(CommandKind.HELP)),
        ("？", SmsCommand(CommandKind.HELP)),
    ],
)
def test_commands_members_send(body: str, expected: SmsCommand) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    "body", ["", "hello", "A", "A case", "X 2611270012", "R 2611270012", "A2611270012"]
)
def test_anything_else_is_unknown(body: str) -> None:
    assert parse_command(body).kind is CommandKind.UNKNOWN
