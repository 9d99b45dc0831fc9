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


def assignment(facts: CaseFacts, language: str, link: str | None = None) -> str:
    """The SMS that hands a case to a grid member or a department's dispatcher, with the
    signed link to its mobile page when the site has one (last, after a space, so no
    phone takes the text around it for part of the address)."""
    caller = facts.caller or "-"
    if _zh(language):
        text = (
            f"【热线】新工单{facts.number}：{facts.category_zh}，{facts.place}，"
            f"来电{caller}。回复 A {facts.number} 接单。"
        )
        return f"{text}详情： {link}" if link else text
    text = (
        f"[Hotline] New case {facts.number}: {facts.category_en}, {facts.place}, "
        f"caller {caller}. Reply A {facts.number} to accept."
    )
    return f"{text} Open: {link}" if link else text


def caller_receipt(facts: CaseFacts, language: str) -> str:
    """The SMS that gives a resident their case number."""
    if _zh(language):
        return f"【热线】您反映的{facts.category_zh}已受理，工单号{facts.number}。办结后短信告知。"
    return (
        f"[Hotline] We registered your report ({facts.category_en}). Case number "
        f"{facts.number}. We will text you when it is done."
    )


def caller_done(facts: CaseFacts, note: str, language: str, ask_rating: bool = True) -> str:
    """The SMS that tells a resident their case was handled, with the member's note, and
    asks for the rating that closes it (one SMS segment: one message, not two)."""
    if _zh(language):
        done = f"【热线】您的工单{facts.number}已办结：{note}。"
        return done + ("请回复1至5评分，未解决请回复0。" if ask_rating else "感谢您的反映。")
    done = f"[Hotline] Your case {facts.number} has been resolved: {note}."
    return done + (
        " Rate it: reply 1 (poor) to 5 (very good), or 0 if not fixed."
        if ask_rating
        else " Thank you."
    )


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


def informed(facts: CaseFacts, language: str) -> str:
    """For the grid member when a department takes a case in their grid."""
    if _zh(language):
        return f"【热线】知悉：您网格内工单{facts.number}（{facts.category_zh}）已派部门处理。"
    return (
        f"[Hotline] FYI: case {facts.number} ({facts.category_en}) in your grid went to the "
        "responsible department."
    )


def urgent_alert(facts: CaseFacts, language: str) -> str:
    """For the community supervisor, at once, when an urgent case arrives."""
    if _zh(language):
        return (
            f"【热线】紧急：工单{facts.number}（{facts.category_zh}，{facts.place}），"
            "已派部门，请关注。"
        )
    return (
        f"[Hotline] URGENT: case {facts.number} ({facts.category_en}, {facts.place}) was "
        "dispatched; please follow it."
    )


def reopened(facts: CaseFacts, language: str) -> str:
    """For the assignee when the resident says a resolved case is not fixed."""
    if _zh(language):
        return (
            f"【热线】工单{facts.number}（{facts.category_zh}）来电人反映问题未解决，"
            f"已重新交您办理。完成后回复 D {facts.number} 处理情况。"
        )
    return (
        f"[Hotline] Case {facts.number} ({facts.category_en}) is reopened: the caller says "
        f"it is not fixed. Reply D {facts.number} <note> when done."
    )
