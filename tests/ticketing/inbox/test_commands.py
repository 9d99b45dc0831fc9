from __future__ import annotations

import pytest

from ticketing.inbox.commands import (
    CommandKind,
    CommandParser,
    SmsCommand,
    Spelling,
    Text,
    parse_rating,
)
from ticketing.inbox.replies import CaseLine, list_reply, segments, status_reply
from ticketing.inbox.services import COMMANDS, OnCase, parse_command

pytestmark = pytest.mark.unit

K = CommandKind
CASE = "2611270012"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("A 2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("  a   2611270012 ", SmsCommand(K.ACCEPT, CASE)),
        ("A 261127-0012", SmsCommand(K.ACCEPT, CASE)),
        ("D 2611270012 bulb replaced", SmsCommand(K.DONE, CASE, "bulb replaced")),
        ("D 2611270012 3 lamps fixed", SmsCommand(K.DONE, CASE, "3 lamps fixed")),
        ("D 2611270012", SmsCommand(K.DONE, CASE)),
        ("D 2611270012 fixed.", SmsCommand(K.DONE, CASE, "fixed")),
        ("R 2611270012 not my grid", SmsCommand(K.RETURN, CASE, "not my grid")),
        ("N 2611270012 parts ordered", SmsCommand(K.NOTE, CASE, "parts ordered")),
        ("n 2611270012 back Monday", SmsCommand(K.NOTE, CASE, "back Monday")),
        ("S 2611270012", SmsCommand(K.STATUS, CASE)),
        ("s 261127-0012 ", SmsCommand(K.STATUS, CASE)),
        ("L", SmsCommand(K.LIST)),
        ("l", SmsCommand(K.LIST)),
        ("?", SmsCommand(K.HELP)),
        ("？", SmsCommand(K.HELP)),
        ("help", SmsCommand(K.HELP)),
    ],
)
def test_commands_members_send(body: str, expected: SmsCommand) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("接 2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("接2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("接单 2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("接单2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("接：2611270012", SmsCommand(K.ACCEPT, CASE)),
        ("完成 2611270012 已修好", SmsCommand(K.DONE, CASE, "已修好")),
        ("完成2611270012已修好。", SmsCommand(K.DONE, CASE, "已修好")),
        ("办结 2611270012，路灯已更换", SmsCommand(K.DONE, CASE, "路灯已更换")),
        ("办结2611270012", SmsCommand(K.DONE, CASE)),
        ("退回 2611270012 不是本网格", SmsCommand(K.RETURN, CASE, "不是本网格")),
        ("退回2611270012不是本网格", SmsCommand(K.RETURN, CASE, "不是本网格")),
        ("备注 2611270012 已联系物业，明天维修", SmsCommand(K.NOTE, CASE, "已联系物业，明天维修")),
        ("查询 2611270012", SmsCommand(K.STATUS, CASE)),
        ("查询2611270012。", SmsCommand(K.STATUS, CASE)),
        ("列表", SmsCommand(K.LIST)),
        ("我的", SmsCommand(K.LIST)),
        (" 帮助 ", SmsCommand(K.HELP)),
    ],
)
def test_chinese_keywords(body: str, expected: SmsCommand) -> None:
    assert parse_command(body) == expected


def test_full_width_digits_and_spaces_from_a_chinese_keyboard() -> None:
    assert parse_command("接\u3000２６１１２７００１２") == SmsCommand(K.ACCEPT, CASE)
    # The note keeps what the member typed, full-width punctuation included.
    assert parse_command("Ｄ ２６１１２７００１２ 好了，谢谢") == SmsCommand(
        K.DONE, CASE, "好了，谢谢"
    )


@pytest.mark.parametrize(
    "body",
    [
        "",
        "hello",
        "A",
        "A case",
        "X 2611270012",
        "R 2611270012",  # a return needs its reason
        "退回2611270012",
        "N 2611270012",  # a note needs its text
        "备注 2611270012，",
        "S 2611270012 please",  # a status query takes nothing more
        "查询",
        "L 2611270012",
        "A2611270012",  # a Latin letter needs its space
        "A 2611270012abc",
        "接 单2611270012",
        "5",
    ],
)
def test_anything_else_is_unknown(body: str) -> None:
    assert parse_command(body).kind is K.UNKNOWN


@pytest.mark.parametrize(
    ("kind", "word"), [(kind, word) for kind, c in COMMANDS.items() for word in c.words]
)
def test_every_word_of_the_command_table_parses(kind: CommandKind, word: str) -> None:
    command = COMMANDS[kind]
    if not isinstance(command, OnCase):
        assert parse_command(word) == parse_command(f" {word.lower()} ") == SmsCommand(kind)
        assert parse_command(f"{word} {CASE}").kind is K.UNKNOWN
        return
    note = "" if command.text is Text.NONE else "on the way"
    assert parse_command(f"{word} {CASE} {note}") == SmsCommand(kind, CASE, note)
    assert parse_command(word).kind is K.UNKNOWN
    wrong = "on the way" if command.text is Text.NONE else ""
    if command.text is not Text.OPTIONAL:
        assert parse_command(f"{word} {CASE} {wrong}").kind is K.UNKNOWN


def test_a_parser_reads_only_the_words_of_its_table() -> None:
    parser = CommandParser(
        {
            K.ACCEPT: Spelling(("OK", "好")),
            K.NOTE: Spelling(("NB",), text=Text.REQUIRED),
            K.LIST: Spelling(("MINE",), case_number=False),
        }
    )
    assert parser.parse(f"ok {CASE}") == parser.parse(f"好{CASE}") == SmsCommand(K.ACCEPT, CASE)
    assert parser.parse(f"NB {CASE} parts") == SmsCommand(K.NOTE, CASE, "parts")
    assert parser.parse(f"NB {CASE}").kind is K.UNKNOWN
    assert parser.parse("mine") == SmsCommand(K.LIST)
    assert parser.parse(f"A {CASE}").kind is K.UNKNOWN
    assert parser.parse("L").kind is K.UNKNOWN


def test_a_word_spelling_two_commands_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' spells both ACCEPT and NOTE"):
        CommandParser({K.ACCEPT: Spelling(("A",)), K.NOTE: Spelling(("a",))})


@pytest.mark.parametrize(
    ("body", "expected"),
    [("5", 5), ("1", 1), (" 0 ", 0), ("５", 5), ("０", 0), ("3\n", 3)],
)
def test_ratings_are_one_digit_from_zero_to_five(body: str, expected: int) -> None:
    assert parse_rating(body) == expected


@pytest.mark.parametrize("body", ["6", "10", "-1", "5分", "five", "", "4 good", "A 2611270012"])
def test_anything_else_is_no_rating(body: str) -> None:
    assert parse_rating(body) is None


def _line(n: int, accept: str | None = None, resolve: str | None = "12-08 10:30") -> CaseLine:
    return CaseLine(f"26112700{n:02d}", "accepted", "Wang Wei", "Wang Wei", accept, resolve)


def test_status_reply_names_status_assignee_and_running_deadlines() -> None:
    assigned = CaseLine(CASE, "assigned", "Wang Wei", "Wang Wei", "11-27 14:30", "12-08 10:30")
    assert status_reply(assigned, "en-US") == (
        "Case 2611270012: awaiting acceptance; assignee Wang Wei; "
        "accept by 11-27 14:30, resolve by 12-08 10:30."
    )
    assert status_reply(assigned, "zh-CN") == (
        "工单2611270012：待接单；承办：Wang Wei；接单时限11-27 14:30，办结时限12-08 10:30。"
    )
    closed = CaseLine(CASE, "closed", "", "", None, None)
    assert status_reply(closed, "en-US") == "Case 2611270012: closed; assignee nobody yet."


def test_list_reply_says_how_many_more_when_they_do_not_fit() -> None:
    lines = [_line(n) for n in range(1, 9)]
    zh = list_reply(lines, 12, "zh-CN")
    en = list_reply(lines, 12, "en-US")
    assert segments(zh) <= 2
    assert segments(en) <= 2
    assert zh.startswith("在办12件：2611270001 办结12-08 10:30；")
    shown_zh = zh.count("办结")
    assert zh.endswith(f"另{12 - shown_zh}件")
    assert en.startswith("12 open: 2611270001 resolve by 12-08 10:30; ")
    assert en.endswith(f"+{12 - en.count('resolve by')} more")
    assert shown_zh < en.count("resolve by") <= 8  # Chinese segments hold fewer characters


def test_list_reply_short_and_empty() -> None:
    two = [_line(1, accept="11-27 14:30"), _line(2)]
    assert list_reply(two, 2, "en-US") == (
        "2 open: 2611270001 accept by 11-27 14:30; 2611270002 resolve by 12-08 10:30"
    )
    assert list_reply([], 0, "zh-CN") == "您目前没有在办工单。"
    assert list_reply([], 0, "en-US") == "You have no open cases."


def test_segments_count_like_a_phone() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 161) == 2
    assert segments("好" * 70) == 1
    assert segments("好" * 71) == 2
    assert segments("好" * 134) == 2
    assert segments("好" * 135) == 3
