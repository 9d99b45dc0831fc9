"""Reading flow files (YAML) into checked, immutable flows.

A mistake in a flow file would otherwise surface as a caller stuck in silence at 3 a.m.,
so every file is checked when the app starts and each error names its file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NODE_TYPES = frozenset({"say", "menu", "ask", "record", "action", "branch", "hangup"})
INPUTS = frozenset({"dtmf", "speech"})
_LINE = "__line__"


class FlowError(ValueError):
    """A flow file that cannot be served, with the file and line to fix."""


@dataclass(frozen=True)
class Transition:
    next: str
    set: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Branch:
    """Go to `move` when `variable` is set (or, with `equals`, has that value)."""

    variable: str
    equals: str | None
    move: Transition


@dataclass(frozen=True)
class Node:
    name: str
    type: str
    line: int
    say: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Transition] = field(default_factory=dict)
    next_transition: Transition = Transition("")
    on_fail: Transition | None = None
    reprompt: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    store: str | None = None
    check: str | None = None
    action: str | None = None
    retries: int = 2
    max_digits: int = 1
    finish_on_key: str = ""
    timeout: int = 5
    max_length: int = 120
    inputs: tuple[str, ...] = ("dtmf",)
    grammar: str | None = None  # the speech grammar, when `inputs` has speech
    speech_check: str | None = None  # turns a spoken value into variables (a place)
    confirm: Mapping[str, str] = field(default_factory=dict)  # "I heard: {heard} ..."
    intents: Mapping[str, str] = field(default_factory=dict)  # spoken value -> option key
    branches: tuple[Branch, ...] = ()


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: Mapping[str, Node]
    voices: Mapping[str, Mapping[str, str]]
    path: str
    emergency: str = ""  # where any emergency word spoken at any step goes
    emergency_confirm: Mapping[str, str] = field(default_factory=dict)  # "is it?" first
    listen_language: str = "en-US"  # what speech steps listen for before a language is chosen


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers on which line each mapping starts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping[_LINE] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if k != _LINE}
    return value


def _transition(raw: Any, where: str) -> Transition:
    if isinstance(raw, str):
        return Transition(raw)
    if isinstance(raw, dict) and isinstance(raw.get("next"), str):
        return Transition(raw["next"], _plain(raw.get("set") or {}))
    raise FlowError(f"{where}: a transition is a node name or {{next: NODE, set: {{...}}}}")


def _branches(raw: Any, where: str) -> tuple[Branch, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FlowError(f"{where}: `branches` is a list of {{if: VARIABLE, next: NODE}}")
    found = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("if"), str):
            raise FlowError(f"{where}: each branch needs `if: VARIABLE` and `next`")
        equals = item.get("equals")
        move = _transition({k: v for k, v in item.items() if k in {"next", "set"}}, where)
        found.append(Branch(item["if"], None if equals is None else str(equals), move))
    return tuple(found)


def _inputs(raw: Any, where: str) -> tuple[str, ...]:
    values = tuple(raw) if isinstance(raw, list) else (raw,) if raw else ("dtmf",)
    unknown = [v for v in values if v not in INPUTS]
    if unknown:
        raise FlowError(f"{where}: input must be among {sorted(INPUTS)}, not {unknown}")
    return tuple(str(v) for v in values)


def _node(name: str, raw: dict[str, Any], path: str) -> Node:
    line = int(raw.get(_LINE, 0))
    where = f"{path}:{line}: node {name!r}"
    kind = raw.get("type")
    if kind not in NODE_TYPES:
        raise FlowError(f"{where}: type must be one of {sorted(NODE_TYPES)}, not {kind!r}")
    options = {str(k): _transition(v, where) for k, v in _plain(raw.get("options") or {}).items()}
    is_ask = kind == "ask"
    return Node(
        name=name,
        type=kind,
        line=line,
        say=_plain(raw.get("say") or {}),
        options=options,
        next_transition=_transition(raw["next"], where) if "next" in raw else Transition(""),
        on_fail=_transition(raw["on_fail"], where) if "on_fail" in raw else None,
        reprompt=_plain(raw.get("reprompt") or {}),
        store=raw.get("store"),
        check=raw.get("check"),
        action=raw.get("action"),
        retries=int(raw.get("retries", 2)),
        max_digits=int(raw.get("max_digits", 10 if is_ask else 1)),
        finish_on_key=str(raw.get("finish_on_key", "#" if is_ask else "")),
        timeout=int(raw.get("timeout", 5)),
        max_length=int(raw.get("max_length", 120)),
        inputs=_inputs(raw.get("input"), where),
        grammar=raw.get("grammar"),
        speech_check=raw.get("speech_check"),
        confirm=_plain(raw.get("confirm") or {}),
        intents={str(k): str(v) for k, v in _plain(raw.get("intents") or {}).items()},
        branches=_branches(raw.get("branches"), where),
    )


def _targets(node: Node) -> list[Transition]:
    moves = [*node.options.values(), *(b.move for b in node.branches), node.next_transition]
    return moves + ([node.on_fail] if node.on_fail else [])


@dataclass(frozen=True)
class Vocabulary:
    """What the application offers flow files: its actions, checks and speech grammars."""

    actions: frozenset[str]
    checks: frozenset[str]
    grammars: frozenset[str] = frozenset()


def _check(flow: Flow, known: Vocabulary) -> None:
    if flow.start not in flow.nodes:
        raise FlowError(f"{flow.path}: start node {flow.start!r} is not defined")
    if flow.emergency and flow.emergency not in flow.nodes:
        raise FlowError(f"{flow.path}: emergency node {flow.emergency!r} is not defined")
    missing = [lang for lang in flow.voices if flow.emergency_confirm and lang not in
               flow.emergency_confirm]  # fmt: skip
    if missing:
        raise FlowError(f"{flow.path}: emergency_confirm has no prompt in {', '.join(missing)}")
    for node in flow.nodes.values():
        where = f"{flow.path}:{node.line}: node {node.name!r}"
        needs_next = node.type not in {"menu", "hangup"}
        if needs_next and not node.next_transition.next:
            raise FlowError(f"{where}: a {node.type} node needs `next`")
        if node.type == "menu" and not node.options:
            raise FlowError(f"{where}: a menu needs `options`")
        for move in _targets(node):
            if move.next and move.next not in flow.nodes:
                raise FlowError(f"{where}: goes to undefined node {move.next!r}")
        if node.type == "action" and node.action not in known.actions:
            raise FlowError(
                f"{where}: unknown action {node.action!r}; known: {sorted(known.actions)}"
            )
        for check in (node.check, node.speech_check):
            if check is not None and check not in known.checks:
                raise FlowError(f"{where}: unknown check {check!r}; known: {sorted(known.checks)}")
        _check_speech(node, where, known)
        _check_prompts(flow, node, where)
    _check_reachable(flow)


def _check_speech(node: Node, where: str, known: Vocabulary) -> None:
    if "speech" in node.inputs:
        if node.type not in {"menu", "ask"}:
            raise FlowError(f"{where}: only menu and ask nodes listen for speech")
        if node.grammar is None or node.grammar.partition(":")[0] not in known.grammars:
            raise FlowError(
                f"{where}: a speech input needs `grammar`, one of {sorted(known.grammars)}"
                f", not {node.grammar!r}"
            )
    for value, key in node.intents.items():
        if key not in node.options:
            raise FlowError(f"{where}: intent {value!r} goes to option {key!r}, not defined")
    if node.type == "branch" and not node.branches:
        raise FlowError(f"{where}: a branch node needs `branches`")


def _check_prompts(flow: Flow, node: Node, where: str) -> None:
    """Every prompt speaks every language the flow offers: a caller who chose English must
    never meet silence because one node was only written in Chinese."""
    prompts = [
        ("say", node.say),
        ("confirm", node.confirm),
        *((f"reprompt {k}", v) for k, v in node.reprompt.items()),
    ]
    for label, prompt in prompts:
        if not prompt:
            continue
        missing = [lang for lang in flow.voices if lang not in prompt]
        if missing:
            raise FlowError(f"{where}: {label} has no prompt in {', '.join(missing)}")


def _check_reachable(flow: Flow) -> None:
    roots = [flow.start, *([flow.emergency] if flow.emergency else [])]
    seen, todo = set(roots), list(roots)
    while todo:
        for move in _targets(flow.nodes[todo.pop()]):
            if move.next and move.next not in seen:
                seen.add(move.next)
                todo.append(move.next)
    for node in flow.nodes.values():
        if node.name not in seen:
            raise FlowError(
                f"{flow.path}:{node.line}: node {node.name!r} cannot be reached from {flow.start!r}"
            )


def mermaid(flow: Flow) -> str:
    """The flow as a Mermaid diagram, for reviewing a flow change before it goes live."""
    lines = ["flowchart TD"]
    for node in flow.nodes.values():
        shape = ("([", "])") if node.type in {"hangup"} else ("[", "]")
        lines.append(f'    {node.name}{shape[0]}"{node.name}<br/>{node.type}"{shape[1]}')
    for node in flow.nodes.values():
        for key, move in node.options.items():
            lines.append(f'    {node.name} -- "{key}" --> {move.next}')
        if node.next_transition.next:
            lines.append(f"    {node.name} --> {node.next_transition.next}")
        for branch in node.branches:
            condition = branch.variable + (f" = {branch.equals}" if branch.equals else "")
            lines.append(f'    {node.name} -- "{condition}" --> {branch.move.next}')
        if node.on_fail and node.on_fail.next:
            lines.append(f'    {node.name} -. "no input / no match" .-> {node.on_fail.next}')
    return "\n".join(lines) + "\n"


def load_flow(path: Path, known: Vocabulary) -> Flow:
    """Read and check one flow file; raise FlowError naming the file and line."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        raise FlowError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), dict):
        raise FlowError(f"{path}:1: a flow needs `name`, `start` and a `nodes` mapping")
    nodes = {
        str(name): _node(str(name), body, str(path))
        for name, body in raw["nodes"].items()
        if name != _LINE and isinstance(body, dict)
    }
    flow = Flow(
        name=str(raw.get("name", path.stem)),
        start=str(raw.get("start", "")),
        nodes=nodes,
        voices=_plain(raw.get("voices") or {}),
        path=str(path),
        emergency=str(raw.get("emergency") or ""),
        emergency_confirm=_plain(raw.get("emergency_confirm") or {}),
        listen_language=str(raw.get("listen_language") or "en-US"),
    )
    _check(flow, known)
    return flow


def load_flows(directory: Path, known: Vocabulary) -> dict[str, Flow]:
    """Every flow in a directory, by name; the first broken file stops start-up."""
    flows = [load_flow(p, known) for p in sorted(directory.glob("*.yaml"))]
    return {flow.name: flow for flow in flows}
