"""Short answers to SMS commands, in the member's language (one SMS segment each)."""

from __future__ import annotations

ZH = "zh-CN"


def _zh(language: str) -> bool:
    return language.lower().startswith("zh")


def reply(key: str, language: str, number: str = "") -> str:
    """Short answers to a member's SMS command."""
    zh, en = _REPLIES[key]
    return (zh if _zh(language) else en).format(number=number)


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
    "help": (
        "回复 A 工单号 接单；D 工单号 处理情况 办结；R 工单号 原因 退回。",
        "Reply A <case> to accept, D <case> <note> when done, R <case> <reason> to return it.",
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
}
