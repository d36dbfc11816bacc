"""YAML -> Flow, refusing anything that could fail at call time.

The YAML form::

    id: post-discharge
    languages: [zh-CN, en-US]
    start: identify
    agent_key: "0"            # optional: this key at any question hands over to a human
    agent_node: agent_end
    reprompt: {zh-CN: ..., en-US: ...}
    nodes:
      identify:
        kind: ask             # say | ask | escalate | end
        prompt: {zh-CN: ..., en-US: ...}
        answer: recovery      # optional: the key the answer is saved under
        keys:
          "1": {value: better, next: medication, escalate: clinical_concern, identified: true}
          "2": same           # shorthand: value only, next = the node's `next`
        next: medication      # default target of the keys
        on_no_input: medication
        retries: 1
        timeout: 6
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ivr.flows.model import (
    AskNode,
    Choice,
    EndNode,
    EscalateNode,
    Flow,
    FlowOutcome,
    Node,
    Prompt,
    SayNode,
)

VALID_KEYS = set("0123456789*#")
# What prompts may name; identity facts are deliberately not among them.
PLACEHOLDERS = frozenset({"name", "organisation", "department", "discharge_date"})
LANGUAGES = frozenset({"zh-CN", "en-US"})


class FlowError(Exception):
    """A flow definition is invalid: names the file, the node and the problem."""

    def __init__(self, path: str, node_id: str | None, reason: str) -> None:
        self.path = path
        self.node_id = node_id
        self.reason = reason
        where = f"{path}: node {node_id!r}" if node_id else path
        super().__init__(f"{where}: {reason}")


def shipped_flow_path(flow_id: str) -> Path:
    """Path of a flow shipped with the product."""
    return Path(str(resources.files("ivr.flows") / "definitions" / f"{flow_id}.yaml"))


def load_shipped_flow(flow_id: str) -> Flow:
    """Load one of the product's own flows by id."""
    path = shipped_flow_path(flow_id)
    if not path.is_file():
        raise FlowError(str(path), None, f"no shipped flow named {flow_id!r}")
    return load_flow_file(path)


def load_flow_file(path: Path) -> Flow:
    """Load and validate a flow file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FlowError(str(path), None, f"bad YAML: {exc}") from exc
    except OSError as exc:
        raise FlowError(str(path), None, f"cannot read: {exc.strerror}") from exc
    return parse_flow(raw, str(path))


def parse_flow(raw: Any, path: str = "<flow>") -> Flow:
    """Build a Flow from parsed YAML and validate the graph."""
    if not isinstance(raw, Mapping):
        raise FlowError(path, None, "a flow must be a mapping")
    for key in ("id", "languages", "start", "nodes", "reprompt"):
        if key not in raw:
            raise FlowError(path, None, f"missing top-level key {key!r}")
    languages = tuple(str(x) for x in raw["languages"])
    unknown = set(languages) - LANGUAGES
    if not languages or unknown:
        raise FlowError(path, None, f"languages must be among {sorted(LANGUAGES)}")
    nodes_raw = raw["nodes"]
    if not isinstance(nodes_raw, Mapping) or not nodes_raw:
        raise FlowError(path, None, "nodes must be a non-empty mapping")

    ctx = _Context(path, languages)
    nodes: dict[str, Node] = {
        str(node_id): ctx.node(str(node_id), spec) for node_id, spec in nodes_raw.items()
    }
    agent_key = raw.get("agent_key")
    agent_node = raw.get("agent_node")
    if (agent_key is None) != (agent_node is None):
        raise FlowError(path, None, "agent_key and agent_node go together")
    if agent_key is not None and str(agent_key) not in VALID_KEYS:
        raise FlowError(path, None, f"agent_key {agent_key!r} is not one of 0-9 * #")
    flow = Flow(
        id=str(raw["id"]),
        languages=languages,
        start=str(raw["start"]),
        nodes=nodes,
        reprompt=ctx.prompt(None, raw["reprompt"], "reprompt"),
        agent_key=None if agent_key is None else str(agent_key),
        agent_node=None if agent_node is None else str(agent_node),
        hangup_reason=str(raw.get("hangup_reason", "partial")),
    )
    _check_graph(flow, path)
    return flow


class _Context:
    def __init__(self, path: str, languages: tuple[str, ...]) -> None:
        self.path = path
        self.languages = languages

    def fail(self, node_id: str | None, reason: str) -> FlowError:
        return FlowError(self.path, node_id, reason)

    def prompt(self, node_id: str | None, raw: Any, what: str = "prompt") -> Prompt:
        if not isinstance(raw, Mapping):
            raise self.fail(node_id, f"{what} must map each language to a text")
        texts: dict[str, str] = {}
        for language in self.languages:
            text = raw.get(language)
            if not isinstance(text, str) or not text.strip():
                raise self.fail(node_id, f"{what} has no text for language {language}")
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
            except ValueError as exc:  # an unmatched brace: format() would fail at call time
                raise self.fail(node_id, f"{what} ({language}): {exc}") from None
            for field_name in fields:
                if field_name not in PLACEHOLDERS:
                    raise self.fail(
                        node_id,
                        f"{what} ({language}) names {{{field_name}}}; allowed: "
                        + ", ".join(sorted(PLACEHOLDERS)),
                    )
            texts[language] = text
        return Prompt(texts)

    def node(self, node_id: str, spec: Any) -> Node:
        if not isinstance(spec, Mapping):
            raise self.fail(node_id, "a node must be a mapping")
        kind = spec.get("kind")
        try:
            if kind == "say":
                return SayNode(node_id, self.prompt(node_id, spec.get("prompt")), str(spec["next"]))
            if kind == "ask":
                return self.ask(node_id, spec)
            if kind == "escalate":
                priority = spec.get("priority")
                return EscalateNode(
                    node_id,
                    str(spec["reason"]),
                    str(spec["next"]),
                    None if priority is None else int(priority),
                )
            if kind == "end":
                prompt = spec.get("prompt")
                return EndNode(
                    node_id,
                    FlowOutcome(spec["outcome"]),
                    None if prompt is None else self.prompt(node_id, prompt),
                )
        except KeyError as exc:
            raise self.fail(node_id, f"{kind} node needs {exc.args[0]!r}") from None
        except ValueError as exc:
            raise self.fail(node_id, str(exc)) from None
        raise self.fail(node_id, f"unknown kind {kind!r} (say, ask, escalate, end)")

    def ask(self, node_id: str, spec: Mapping[str, Any]) -> AskNode:
        keys = spec.get("keys")
        if not isinstance(keys, Mapping) or not keys:
            raise self.fail(node_id, "ask node needs keys")
        default_next = spec.get("next")
        choices: dict[str, Choice] = {}
        for key, choice_raw in keys.items():
            key = str(key)
            if not key or set(key) - VALID_KEYS:
                raise self.fail(node_id, f"key {key!r} is not made of 0-9 * #")
            if isinstance(choice_raw, str | int):
                choice_raw = {"value": str(choice_raw)}
            if not isinstance(choice_raw, Mapping):
                raise self.fail(node_id, f"key {key!r} must be a value or a mapping")
            target = choice_raw.get("next", default_next)
            if target is None:
                raise self.fail(node_id, f"key {key!r} has no next node and the node no next")
            choices[key] = Choice(
                value=str(choice_raw.get("value", key)),
                next=str(target),
                escalate=(
                    None if choice_raw.get("escalate") is None else str(choice_raw["escalate"])
                ),
                identified=bool(choice_raw.get("identified", False)),
            )
        on_no_input = spec.get("on_no_input", default_next)
        if on_no_input is None:
            raise self.fail(node_id, "ask node needs on_no_input (or next)")
        retries = int(spec.get("retries", 1))
        timeout = int(spec.get("timeout", 6))
        if not 0 <= retries <= 5 or not 1 <= timeout <= 30:
            raise self.fail(node_id, "retries must be 0-5 and timeout 1-30 seconds")
        return AskNode(
            id=node_id,
            prompt=self.prompt(node_id, spec.get("prompt")),
            choices=choices,
            on_no_input=str(on_no_input),
            answer=None if spec.get("answer") is None else str(spec["answer"]),
            retries=retries,
            timeout_s=timeout,
        )


def _targets(node: Node) -> list[str]:
    if isinstance(node, SayNode | EscalateNode):
        return [node.next]
    if isinstance(node, AskNode):
        return [c.next for c in node.choices.values()] + [node.on_no_input]
    return []


def _check_graph(flow: Flow, path: str) -> None:
    if flow.start not in flow.nodes:
        raise FlowError(path, None, f"start names unknown node {flow.start!r}")
    if flow.agent_node is not None and flow.agent_node not in flow.nodes:
        raise FlowError(path, None, f"agent_node names unknown node {flow.agent_node!r}")
    for node in flow.nodes.values():
        for target in _targets(node):
            if target not in flow.nodes:
                raise FlowError(path, node.id, f"refers to unknown node {target!r}")
        if isinstance(node, AskNode) and flow.agent_key in node.choices:
            raise FlowError(path, node.id, f"key {flow.agent_key!r} is reserved for the agent")

    roots = [flow.start] + ([flow.agent_node] if flow.agent_node else [])
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_targets(flow.nodes[current]))
    for node_id in flow.nodes:
        if node_id not in seen:
            raise FlowError(path, node_id, "is unreachable from the start")

    # Every node must be able to reach an end, and say/escalate chains must not loop.
    can_end = {n.id for n in flow.nodes.values() if isinstance(n, EndNode)}
    changed = True
    while changed:
        changed = False
        for node in flow.nodes.values():
            if node.id not in can_end and any(t in can_end for t in _targets(node)):
                can_end.add(node.id)
                changed = True
    for node_id in flow.nodes:
        if node_id not in can_end:
            raise FlowError(path, node_id, "has no way to reach an end node")
