"""Whole-flow checks the loader runs once every node has parsed: references, reachability,
a way to end, loops that never ask, and branch tests that can never hold."""

from __future__ import annotations

import string

from ivr.flows.model import (
    AskNode,
    BranchNode,
    EndNode,
    EscalateNode,
    Flow,
    Node,
    Prompt,
    SayNode,
    TransferNode,
    VerifyNode,
)

Problem = tuple[str | None, str]  # (node id or None for the flow itself, reason)


def placeholders(text: str) -> list[str]:
    """The {fields} a prompt text names (ValueError on an unmatched brace)."""
    return [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]


def targets(node: Node) -> list[str]:
    """The nodes a node can lead to."""
    if isinstance(node, SayNode | EscalateNode):
        return [node.next]
    if isinstance(node, AskNode):
        return [c.next for c in node.choices.values()] + [node.on_no_input]
    if isinstance(node, VerifyNode):
        return [node.next, node.on_fail] + ([node.on_no_input] if node.on_no_input else [])
    if isinstance(node, BranchNode):
        return [c.next for c in node.cases] + [node.otherwise]
    return []  # end and transfer nodes end the flow


def find_problem(flow: Flow) -> Problem | None:
    """The first thing wrong with a flow's graph, or None."""
    return (
        _references(flow)
        or _unreachable(flow)
        or _endless(flow)
        or _silent_loop(flow)
        or _branch_tests(flow)
        or _verified_items_said(flow)
    )


def _references(flow: Flow) -> Problem | None:
    if flow.start not in flow.nodes:
        return None, f"start names unknown node {flow.start!r}"
    if flow.agent_node is not None and flow.agent_node not in flow.nodes:
        return None, f"agent_node names unknown node {flow.agent_node!r}"
    if flow.opt_out_node is not None and flow.opt_out_node not in flow.nodes:
        return None, f"opt_out_node names unknown node {flow.opt_out_node!r}"
    for node in flow.nodes.values():
        for target in targets(node):
            if target not in flow.nodes:
                return node.id, f"refers to unknown node {target!r}"
        if isinstance(node, AskNode) and flow.agent_key in node.choices:
            return node.id, f"key {flow.agent_key!r} is reserved for the agent"
        if isinstance(node, AskNode) and flow.opt_out_key in node.choices:
            return node.id, f"key {flow.opt_out_key!r} is reserved for opting out"
    return None


def _unreachable(flow: Flow) -> Problem | None:
    roots = [flow.start] + [n for n in (flow.agent_node, flow.opt_out_node) if n is not None]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(targets(flow.nodes[current]))
    for node_id in flow.nodes:
        if node_id not in seen:
            return node_id, "is unreachable from the start"
    return None


def _endless(flow: Flow) -> Problem | None:
    can_end = {n.id for n in flow.nodes.values() if isinstance(n, EndNode | TransferNode)}
    changed = True
    while changed:
        changed = False
        for node in flow.nodes.values():
            if node.id not in can_end and any(t in can_end for t in targets(node)):
                can_end.add(node.id)
                changed = True
    for node_id in flow.nodes:
        if node_id not in can_end:
            return node_id, "has no way to reach an end node"
    return None


def _silent_loop(flow: Flow) -> Problem | None:
    # The engine walks say, escalate and branch nodes without waiting for the caller; a cycle
    # among them would spin (a branch's test cannot change on the way round).
    passing = {
        n.id: targets(n)
        for n in flow.nodes.values()
        if isinstance(n, SayNode | EscalateNode | BranchNode)
    }
    done: set[str] = set()

    def visit(node_id: str, path: tuple[str, ...]) -> str | None:
        if node_id in path:
            return node_id
        if node_id in done or node_id not in passing:
            return None
        for target in passing[node_id]:
            looped = visit(target, (*path, node_id))
            if looped is not None:
                return looped
        done.add(node_id)
        return None

    for node_id in passing:
        looped = visit(node_id, ())
        if looped is not None:
            return looped, "loops back to itself without asking anything"
    return None


def _branch_tests(flow: Flow) -> Problem | None:
    saved: dict[str, set[str]] = {}
    for node in flow.nodes.values():
        if isinstance(node, AskNode) and node.answer is not None:
            saved.setdefault(node.answer, set()).update(c.value for c in node.choices.values())
    checked = {n.item for n in flow.nodes.values() if isinstance(n, VerifyNode)}
    for node in flow.nodes.values():
        if not isinstance(node, BranchNode):
            continue
        for case in node.cases:
            if case.answer is not None:
                if case.answer not in saved:
                    return node.id, f"tests answer {case.answer!r}, which no question saves"
                never = sorted(case.values - saved[case.answer])
                if never:
                    return node.id, f"answer {case.answer!r} is never {never[0]!r}"
            for item in case.verified_all:
                if item not in checked:
                    return node.id, f"tests item {item!r}, which no verify node checks"
    return None


def _verified_items_said(flow: Flow) -> Problem | None:
    # A fact the flow asks the caller to prove must not be read out to them anywhere.
    checked = {n.item for n in flow.nodes.values() if isinstance(n, VerifyNode)}
    for node in flow.nodes.values():
        for prompt in (getattr(node, "prompt", None), getattr(node, "wrong", None)):
            if not isinstance(prompt, Prompt):
                continue
            for part in prompt.texts.values():
                said = set(placeholders(part)) & checked if isinstance(part, str) else set()
                if said:
                    return node.id, f"prompt says {{{min(said)}}}, which this flow verifies"
    return None
