"""Short answers to SMS sent to the hotline: members' commands in the member's language,
residents' ratings in the case's language. One SMS segment each, except the list of a
member's cases, which is capped to two."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ZH = "zh-CN"

LIST_CAP = 8  # cases named in one list reply; the rest are counted
LIST_SEGMENTS = 2


def _zh(language: str) -> bool:
    return language.lower().startswith("zh")


def reply(key: str, language: str, number: str = "") -> str:
    """Short answers to a member's SMS command, or to a resident's rating."""
    zh, en = _REPLIES[key]
    return (zh if _zh(language) else en).format(number=number)


def segments(text: str) -> int:
    """How many SMS segments a text takes: 160/153 characters in the GSM alphabet (taken
    here as ASCII), 70/67 in UCS-2 as soon as one character is outside it."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)


@dataclass(frozen=True)
class CaseLine:
    """What a member may read about one case; deadlines already in local "MM-DD HH:MM"."""

    number: str
    status: str
    assignee_en: str
    assignee_zh: str
    accept_by: str | None
    resolve_by: str | None


def status_reply(case: CaseLine, language: str) -> str:
    """The answer to S <case>: status, assignee and the deadlines still running."""
    zh = _zh(language)
    status = _status_label(case.status, zh)
    due = _deadlines(case, zh)
    if zh:
        who = case.assignee_zh or "未指派"
        return f"工单{case.number}：{status}；承办：{who}" + (f"；{due}" if due else "") + "。"
    who = case.assignee_en or "nobody yet"
    return f"Case {case.number}: {status}; assignee {who}" + (f"; {due}" if due else "") + "."


def _deadlines(case: CaseLine, zh: bool) -> str:
    parts = []
    if case.accept_by:
        parts.append(f"接单时限{case.accept_by}" if zh else f"accept by {case.accept_by}")
    if case.resolve_by:
        parts.append(f"办结时限{case.resolve_by}" if zh else f"resolve by {case.resolve_by}")
    return ("，" if zh else ", ").join(parts)


def list_reply(cases: Sequence[CaseLine], total: int, language: str) -> str:
    """The answer to L: the first open cases (nearest deadline first) of `total`, as
    many as fit in two SMS segments, then how many more there are."""
    zh = _zh(language)
    if not total:
        return "您目前没有在办工单。" if zh else "You have no open cases."
    head = f"在办{total}件：" if zh else f"{total} open: "
    entries = [_entry(case, zh) for case in cases[:LIST_CAP]]
    for shown in range(len(entries), 0, -1):
        text = _listing(head, entries, shown, total, zh)
        if segments(text) <= LIST_SEGMENTS:
            return text
    return _listing(head, entries, 0, total, zh)


def _entry(case: CaseLine, zh: bool) -> str:
    """A case and the deadline it must meet next: acceptance first, then resolution."""
    if case.accept_by:
        due = f"接单{case.accept_by}" if zh else f"accept by {case.accept_by}"
    elif case.resolve_by:
        due = f"办结{case.resolve_by}" if zh else f"resolve by {case.resolve_by}"
    else:  # a clock paused while the case waits on the resident, or no SLA at all
        due = "无时限" if zh else "no deadline"
    return f"{case.number} {due}"


def _listing(head: str, entries: Sequence[str], shown: int, total: int, zh: bool) -> str:
    rest = total - shown
    parts = list(entries[:shown])
    if rest:
        parts.append(f"另{rest}件" if zh else f"+{rest} more")
    return head + ("；" if zh else "; ").join(parts)


def status_label(status: str, language: str) -> str:
    """A case status in words, for an SMS or a voice read-back."""
    return _status_label(status, _zh(language))


def _status_label(status: str, zh: bool) -> str:
    zh_label, en_label = _STATUS.get(status, (status, status))
    return zh_label if zh else en_label


_STATUS: dict[str, tuple[str, str]] = {
    "new": ("待派单", "new"),
    "assigned": ("待接单", "awaiting acceptance"),
    "accepted": ("办理中", "in progress"),
    "resolved": ("已办结，待评价", "resolved, awaiting the caller's rating"),
    "closed": ("已结案", "closed"),
    "returned": ("已退回", "returned"),
    "cancelled": ("已撤销", "cancelled"),
    "merged": ("已合并", "merged into another case"),
}

_REPLIES: dict[str, tuple[str, str]] = {
    "accepted": (
        "已接单{number}。完成后回复 D {number} 处理情况。",
        "Case {number} accepted. Reply D {number} <note> when done.",
    ),
    "resolved": (
        "工单{number}已办结，已通知来电人。",
        "Case {number} resolved; the caller is told.",
    ),
    "returned": ("工单{number}已退回派单员。", "Case {number} returned to the agents."),
    "noted": ("工单{number}已记录备注。", "Note added to case {number}."),
    "help": (
        "接/A 工单号；完成/D 工单号 情况；退回/R 工单号 原因；备注/N 工单号 内容；"
        "查询/S 工单号；列表/L",
        "Reply A <case> to accept, D <case> <note> when done, R <case> <reason> to return, "
        "N <case> <note> to add a note, S <case> for its status, L for your cases.",
    ),
    "unknown": (
        "没看懂这条短信。回复 ? 查看用法。",
        "Sorry, we could not read that. Reply ? for the commands.",
    ),
    "not_registered": (
        "本号码未登记为网格员，无法办理。请联系社区。",
        "This phone is not registered with the hotline. Please call your community office.",
    ),
    "not_found": ("未找到工单{number}，请核对。", "No case {number}. Please check the number."),
    "not_yours": (
        "工单{number}不是派给您的，未做更改。",
        "Case {number} is not assigned to you; nothing was changed.",
    ),
    "bad_state": ("工单{number}当前状态不能这样办理。", "Case {number} cannot do that now."),
    # To residents, in the language of their case.
    "rated": (
        "感谢您的评价！工单{number}已结案。",
        "Thank you for your rating. Case {number} is now closed.",
    ),
    "reopened": (
        "抱歉问题仍未解决，工单{number}已重新交承办人办理。",
        "Sorry it is not fixed. Case {number} is reopened and back with the same team.",
    ),
    "rate_hint": (
        "请回复1至5为工单{number}评分（5为非常满意），未解决请回复0。反映新问题请拨打热线。",
        "Please reply 1 to 5 to rate case {number} (5 is best), or 0 if it is not fixed. "
        "To report something new, please call the hotline.",
    ),
}


def caller_reply(number: str, status: str, language: str) -> str:
    """For a resident whose SMS has nothing to rate: where their latest case stands."""
    label = _status_label(status, _zh(language))
    if _zh(language):
        return f"您的工单{number}{label}。短信不受理新问题，请拨打热线反映。"
    return f"Your case {number} is {label}. To report something new, please call the hotline."
