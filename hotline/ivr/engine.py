"""The flow engine: (flow, state, input) -> (next state, what the caller hears and does).

Pure on purpose: no Twilio, no database, no clock. The webhook adapter stores the state,
performs actions (create the case) and renders the outputs as TwiML, so the same flow
can be unit-tested, simulated and served.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from hotline.ivr.flows import Flow, Node, Transition


@dataclass(frozen=True)
class Say:
    text: str
    language: str


@dataclass(frozen=True)
class Gather:
    max_digits: int
    finish_on_key: str
    timeout: int
    prompts: tuple[Say, ...]


@dataclass(frozen=True)
class Record:
    max_length: int
    prompts: tuple[Say, ...]


@dataclass(frozen=True)
class Hangup:
    pass


Output = Say | Gather | Record | Hangup


@dataclass(frozen=True)
class State:
    node: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    tries: int = 0  # failed attempts at the current node
    done: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "vars": dict(self.vars), "tries": self.tries, "done": self.done}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        return cls(
            data["node"],
            dict(data.get("vars", {})),
            int(data.get("tries", 0)),
            bool(data.get("done", False)),
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
class NoInput:
    pass


@dataclass(frozen=True)
class Recorded:
    url: str | None
    sid: str | None
    duration: int


@dataclass(frozen=True)
class ActionDone:
    result: Mapping[str, Any]


Event = Digits | NoInput | Recorded | ActionDone
# A check turns keyed-in text into variables, or None when the text is not acceptable.
Check = Callable[[str], Mapping[str, Any] | None]

_MAX_HOPS = 50  # a flow that loops through say-nodes without input is a flow bug


def start(flow: Flow) -> Step:
    """The first step of a new call."""
    return _run(flow, State(flow.start), ())


def receive(
    flow: Flow, state: State, event: Event, checks: Mapping[str, Check] | None = None
) -> Step:
    """Apply the caller's input (or an action's result) to the node waiting for it."""
    if state.done:
        return Step(state, (Hangup(),))
    node = flow.nodes[state.node]
    if isinstance(event, ActionDone):
        return _follow(flow, state, node.next_transition, event.result, ())
    if node.type == "record":
        recorded = event if isinstance(event, Recorded) else Recorded(None, None, 0)
        result = {
            node.store or "recording": {
                "url": recorded.url,
                "sid": recorded.sid,
                "duration": recorded.duration,
            }
        }
        return _follow(flow, state, node.next_transition, result, ())
    digits = event.value.strip() if isinstance(event, Digits) else ""
    if not digits:
        return _retry(flow, state, node, "no_input")
    option = node.options.get(digits)
    if option is not None:
        return _follow(flow, state, option, {}, ())
    if node.type == "ask":
        check = (checks or {}).get(node.check) if node.check else None
        accepted = check(digits) if check else {}
        if accepted is not None:
            values = {node.store: digits} if node.store else {}
            return _follow(flow, state, node.next_transition, {**values, **accepted}, ())
    return _retry(flow, state, node, "no_match")


def _retry(flow: Flow, state: State, node: Node, why: str) -> Step:
    if state.tries + 1 > node.retries:
        fail = node.on_fail or node.next_transition
        return _follow(flow, state, fail, {"last_failure": why}, ())
    prompt = node.reprompt.get(why) or {}
    said = _say(flow, prompt, state.vars)
    return _run(flow, replace(state, tries=state.tries + 1), said)


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


def _run(flow: Flow, state: State, outputs: tuple[Output, ...]) -> Step:
    for _ in range(_MAX_HOPS):
        node = flow.nodes[state.node]
        said = _say(flow, node.say, state.vars)
        if node.type == "menu" or node.type == "ask":
            wait = Gather(node.max_digits, node.finish_on_key, node.timeout, said)
            return Step(state, (*outputs, wait))
        if node.type == "record":
            return Step(state, (*outputs, Record(node.max_length, said)))
        if node.type == "action":
            return Step(state, outputs + said, action=node.action)
        if node.type == "hangup":
            return Step(replace(state, done=True), (*outputs, *said, Hangup()))
        outputs = outputs + said  # "say": speak and move on
        state = State(node.next_transition.next, {**state.vars, **node.next_transition.set})
    raise RuntimeError(f"flow {flow.name} loops without waiting for the caller")
