"""The words of every SMS the system sends, in the recipient's language.

SMS are paid per 70-character segment in Chinese and 160 in English, so texts are short,
and each carries the case number and the one command the recipient most likely needs.
"""

from __future__ import annotations

from dataclasses import dataclass

ZH = "zh-CN"


@dataclass(frozen=True)
class CaseFacts:
    number: str
    category_en: str
    category_zh: str
    place: str
    caller: str | None


def _zh(language: str) -> bool:
    return language.lower().startswith("zh")


def assignment(facts: CaseFacts, language: str) -> str:
    """The SMS that hands a case to a grid member or a department's dispatcher."""
    caller = facts.caller or "-"
    if _zh(language):
        return (
            f"【热线】新工单{facts.number}：{facts.category_zh}，{facts.place}，"
            f"来电{caller}。回复 A {facts.number} 接单。"
        )
    return (
        f"[Hotline] New case {facts.number}: {facts.category_en}, {facts.place}, "
        f"caller {caller}. Reply A {facts.number} to accept."
    )


def caller_receipt(facts: CaseFacts, language: str) -> str:
    """The SMS that gives a resident their case number."""
    if _zh(language):
        return f"【热线】您反映的{facts.category_zh}已受理，工单号{facts.number}。办结后短信告知。"
    return (
        f"[Hotline] We registered your report ({facts.category_en}). Case number "
        f"{facts.number}. We will text you when it is done."
    )


def caller_done(facts: CaseFacts, note: str, language: str) -> str:
    """The SMS that tells a resident their case was handled, with the member's note."""
    if _zh(language):
        return f"【热线】您的工单{facts.number}已办结：{note}。感谢您的反映。"
    return f"[Hotline] Your case {facts.number} has been resolved: {note}. Thank you."


def escalation(facts: CaseFacts, clock: str, level: str, due_local: str, language: str) -> str:
    """The SMS of one rung of the escalation ladder."""
    if _zh(language):
        what = "接单" if clock == "accept" else "办结"
        if level == "reminder":
            return f"【热线】工单{facts.number}（{facts.category_zh}）请于{due_local}前{what}。"
        return (
            f"【热线】督办：工单{facts.number}（{facts.category_zh}，{facts.place}）"
            f"{what}已超时（时限{due_local}），请跟进。"
        )
    what = "accepted" if clock == "accept" else "resolved"
    if level == "reminder":
        return f"[Hotline] Case {facts.number} ({facts.category_en}) must be {what} by {due_local}."
    return (
        f"[Hotline] Overdue: case {facts.number} ({facts.category_en}, {facts.place}) was due "
        f"to be {what} by {due_local}. Please follow up."
    )


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
