"""The flow engine: (flow, state, input) -> (next state, what the caller hears and does).

Pure on purpose: no Twilio, no database, no clock, no speech engine. The webhook adapter
stores the state, recognises speech, performs actions (create the case, look up a status)
and renders the outputs as TwiML, so the same flow can be unit-tested, simulated and
served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hotline.voice.flows import Flow, Node, Transition

EMERGENCY = "emergency"  # the value a grammar gives an emergency word


@dataclass(frozen=True)
class Say:
    text: str
    language: str


@dataclass(frozen=True)
class Listen:
    """Speech the step also accepts: the grammar to recognise with, in which language."""

    grammar: str
    language: str


@dataclass(frozen=True)
class Gather:
    max_digits: int
    finish_on_key: str
    timeout: int
    prompts: tuple[Say, ...]
    listen: Listen | None = None


@dataclass(frozen=True)
class Record:
    max_length: int
    prompts: tuple[Say, ...]


@dataclass(frozen=True)
class Dial:
    number: str


@dataclass(frozen=True)
class Hangup:
    pass


Output = Say | Gather | Record | Dial | Hangup


@dataclass(frozen=True)
class State:
    node: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    tries: int = 0  # failed attempts at the current node
    done: bool = False
    pending: Mapping[str, Any] | None = None  # a speech answer waiting for "yes"

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "vars": dict(self.vars),
            "tries": self.tries,
            "done": self.done,
            "pending": dict(self.pending) if self.pending is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        pending = data.get("pending")
        return cls(
            data["node"],
            dict(data.get("vars", {})),
            int(data.get("tries", 0)),
            bool(data.get("done", False)),
            dict(pending) if pending is not None else None,
        )


@dataclass(frozen=True)
class Step:
    """What to do now: say `outputs`, then wait for input, run `action`, or end."""

    state: State
    outputs: tuple[Output, ...]
    action: str | None = None


@dataclass(frozen=True)
class Digits:
    value: str


@dataclass(frozen=True)
class Speech:
    """What the recogniser heard: `value` is the grammar's meaning (None: nothing it knows),
    `label` how to say it back to the caller ("broken street light")."""

    text: str
    value: str | None
    confidence: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class NoInput:
    pass


@dataclass(frozen=True)
class Recorded:
    url: str | None
    sid: str | None
    duration: int


@dataclass(frozen=True)
class ActionDone:
    """An action's result; `failed` follows the node's `on_fail` instead of `next`."""

    result: Mapping[str, Any]
    failed: bool = False


Event = Digits | Speech | NoInput | Recorded | ActionDone
# A check turns keyed-in or spoken values into variables, or None when not acceptable.
Check = Callable[[str], Mapping[str, Any] | None]

_MAX_HOPS = 50  # a flow that loops through say-nodes without input is a flow bug
_EMERGENCY_PENDING = "_emergency"  # marks a pending answer as "is this an emergency?"
_YES_KEYS = {"1"}
_NO_KEYS = {"2"}


def start(flow: Flow, variables: Mapping[str, Any] | None = None) -> Step:
    """The first step of a new call; `variables` are known before it (the caller's number,
    an open case of theirs)."""
    return _run(flow, State(flow.start, dict(variables or {})), ())


def receive(
    flow: Flow, state: State, event: Event, checks: Mapping[str, Check] | None = None
) -> Step:
    """Apply the caller's input (or an action's result) to the node waiting for it."""
    if state.done:
        return Step(state, (Hangup(),))
    node = flow.nodes[state.node]
    if isinstance(event, ActionDone):
        move = (node.on_fail or node.next_transition) if event.failed else node.next_transition
        number = event.result.get("dial")
        return _follow(flow, state, move, event.result, (Dial(str(number)),) if number else ())
    if isinstance(event, Speech) and event.value == EMERGENCY and flow.emergency:
        values = {"emergency_words": event.text}
        if not flow.emergency_confirm:
            return _follow(flow, state, Transition(flow.emergency), values, ())
        # Spotting a word like "fire" in phone audio misfires on ordinary reports ("five"):
        # one yes costs a real emergency two seconds and spares everyone else a false alarm.
        asked = replace(state, pending={**values, _EMERGENCY_PENDING: True})
        return _ask_confirmation(flow, asked, flow.emergency_confirm, node.timeout)
    if state.pending is not None:
        return _confirm(flow, state, node, event)
    if node.type == "record":
        return _recorded(flow, state, node, event)
    if isinstance(event, Speech):
        return _heard(flow, state, node, event, checks or {})
    digits = event.value.strip() if isinstance(event, Digits) else ""
    if not digits:
        return _retry(flow, state, node, "no_input")
    option = node.options.get(digits)
    if option is not None:
        return _follow(flow, state, option, {}, ())
    if node.type == "ask":
        accepted = _checked(node.check, digits, checks or {})
        if accepted is not None:
            values = {node.store: digits} if node.store else {}
            return _follow(flow, state, node.next_transition, {**values, **accepted}, ())
    return _retry(flow, state, node, "no_match")


def _recorded(flow: Flow, state: State, node: Node, event: Event) -> Step:
    recorded = event if isinstance(event, Recorded) else Recorded(None, None, 0)
    result = {
        node.store or "recording": {
            "url": recorded.url,
            "sid": recorded.sid,
            "duration": recorded.duration,
        }
    }
    return _follow(flow, state, node.next_transition, result, ())


def _checked(name: str | None, value: str, checks: Mapping[str, Check]) -> Mapping[str, Any] | None:
    check = checks.get(name) if name else None
    return check(value) if check else {}


def _heard(
    flow: Flow, state: State, node: Node, event: Speech, checks: Mapping[str, Check]
) -> Step:
    """A spoken answer: a menu intent, or an ask's value (checked, maybe confirmed)."""
    if event.value is None:
        return _retry(flow, state, node, "no_match" if event.text.strip() else "no_input")
    if node.type == "menu":
        key = node.intents.get(event.value)
        if key is None:
            return _retry(flow, state, node, "no_match")
        return _follow(flow, state, node.options[key], {}, ())
    accepted = _checked(node.speech_check, event.value, checks)
    if accepted is None:
        return _retry(flow, state, node, "no_match")
    values = {**({node.store: event.value} if node.store else {}), **accepted}
    values["heard"] = event.label or event.value
    if not node.confirm:
        return _follow(flow, state, node.next_transition, values, ())
    return _ask_confirmation(flow, replace(state, pending=values), node.confirm, node.timeout)


def _ask_confirmation(flow: Flow, state: State, prompt: Mapping[str, str], timeout: int) -> Step:
    said = _say(flow, prompt, {**state.vars, **(state.pending or {})})
    language = str(state.vars.get("language") or flow.listen_language)
    return Step(state, (Gather(1, "", timeout, said, Listen("yesno", language)),))


def _confirm(flow: Flow, state: State, node: Node, event: Event) -> Step:
    """The caller's yes or no to "I heard: ..."; no counts as a miss at the node."""
    answer = event.value if isinstance(event, Speech) else None
    if isinstance(event, Digits):
        answer = "yes" if event.value in _YES_KEYS else "no" if event.value in _NO_KEYS else None
    pending = dict(state.pending or {})
    emergency = bool(pending.pop(_EMERGENCY_PENDING, False))
    if answer == "yes":
        move = Transition(flow.emergency) if emergency else node.next_transition
        return _follow(flow, state, move, pending, ())
    silent = answer is None and not isinstance(event, Speech | Digits)
    if silent and (emergency or state.tries + 1 <= node.retries):
        # Silence: ask the same question again (an emergency's as long as it takes).
        prompt = flow.emergency_confirm if emergency else node.confirm
        tries = state.tries if emergency else state.tries + 1
        return _ask_confirmation(flow, replace(state, tries=tries), prompt, node.timeout)
    if emergency:  # not an emergency after all: back to the question it interrupted
        return _run(flow, replace(state, pending=None), ())
    return _retry(flow, replace(state, pending=None), node, "rejected")


def _retry(flow: Flow, state: State, node: Node, why: str) -> Step:
    if state.tries + 1 > node.retries:
        fail = node.on_fail or node.next_transition
        return _follow(flow, state, fail, {"last_failure": why}, ())
    prompt = node.reprompt.get(why) or node.reprompt.get("no_match") or {}
    said = _say(flow, prompt, state.vars) if why != "no_input" or prompt else ()
    return _run(flow, replace(state, tries=state.tries + 1, pending=None), said)


def _follow(
    flow: Flow,
    state: State,
    move: Transition,
    values: Mapping[str, Any],
    outputs: tuple[Output, ...],
) -> Step:
    new_vars = {**state.vars, **values, **move.set}
    return _run(flow, State(move.next, new_vars), outputs)


def _say(flow: Flow, prompt: Mapping[str, str], variables: Mapping[str, Any]) -> tuple[Say, ...]:
    """The prompt in the caller's language, or every language before one is chosen."""
    chosen = str(variables.get("language"))
    languages = [chosen] if chosen in prompt else list(prompt)
    return tuple(Say(prompt[lang].format_map(_Blank(variables)), lang) for lang in languages)


class _Blank(dict[str, Any]):
    """Lets a prompt mention a variable that is not set yet without failing the call."""

    def __missing__(self, key: str) -> str:
        return ""


def _branch(node: Node, variables: Mapping[str, Any]) -> Transition:
    """The first branch whose condition holds: a variable set (truthy) or equal to a value."""
    for branch in node.branches:
        value = variables.get(branch.variable)
        if (branch.equals is None and value) or (
            branch.equals is not None and str(value) == branch.equals
        ):
            return branch.move
    return node.next_transition


def _listen(flow: Flow, node: Node, variables: Mapping[str, Any]) -> Listen | None:
    if "speech" not in node.inputs or node.grammar is None:
        return None
    return Listen(node.grammar, str(variables.get("language") or flow.listen_language))


def _run(flow: Flow, state: State, outputs: tuple[Output, ...]) -> Step:
    for _ in range(_MAX_HOPS):
        node = flow.nodes[state.node]
        said = _say(flow, node.say, state.vars)
        if node.type == "menu" or node.type == "ask":
            listen = _listen(flow, node, state.vars)
            wait = Gather(node.max_digits, node.finish_on_key, node.timeout, said, listen)
            return Step(state, (*outputs, wait))
        if node.type == "record":
            return Step(state, (*outputs, Record(node.max_length, said)))
        if node.type == "action":
            return Step(state, outputs + said, action=node.action)
        if node.type == "hangup":
            return Step(replace(state, done=True), (*outputs, *said, Hangup()))
        if node.type == "branch":
            outputs = outputs + said
            move = _branch(node, state.vars)
        else:  # "say": speak and move on
            outputs = outputs + said
            move = node.next_transition
        state = State(move.next, {**state.vars, **move.set})
    raise RuntimeError(f"flow {flow.name} loops without waiting for the caller")
