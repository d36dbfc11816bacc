"""The flow engine: (flow, state, event) -> transition. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ivr.flows.model import (
    AskNode,
    BranchNode,
    Effect,
    EndNode,
    EscalateNode,
    Event,
    Flow,
    FlowOutcome,
    FlowState,
    Gather,
    Hangup,
    IdentityChecked,
    Input,
    OptOut,
    Prompt,
    RaiseEscalation,
    SaveAnswer,
    SayNode,
    Start,
    Step,
    TransferNode,
    Transition,
    VerifyNode,
)

# A graph that loops through say/escalate nodes without asking anything would never return;
# the loader rejects such flows, and this bound guards against a state saved by another version.
_MAX_HOPS = 100

REQUESTED_AGENT = "requested_agent"

# What a verify entry may hold once the finish key is stripped ("*" stands for a letter).
_ENTRY_KEYS = frozenset("0123456789*")

Verify = Callable[[str, str], bool]
"""verify(item, entry) -> match: the shell's compare against the case's keyed hash of the fact."""


class FlowStateError(Exception):
    """The event does not fit the saved state (e.g. keys for a flow that has ended)."""


def start(flow: Flow) -> Transition:
    """Begin a flow at its start node."""
    return advance(flow, None, Start())


def advance(
    flow: Flow, state: FlowState | None, event: Event, *, verify: Verify | None = None
) -> Transition:
    """Apply one event to a flow's state and say what the call does next.

    verify compares an identity entry at a verify node; only a flow with verify nodes needs it.
    """
    if isinstance(event, Start):
        if state is not None:
            raise FlowStateError("the flow has already started")
        return _run(flow, FlowState(node=flow.start), flow.start, (), ())
    if state is None:
        raise FlowStateError("the flow has not started")
    if isinstance(event, Hangup):
        return _hangup(flow, state)
    if state.done:
        raise FlowStateError("the flow has ended; no more input is taken")
    node = flow.node(state.node)
    if isinstance(node, VerifyNode):
        return _verify(flow, state, node, event, verify)
    if not isinstance(node, AskNode):
        raise FlowStateError(f"node {node.id!r} takes no input")
    return _answer(flow, state, node, event)


def current_step(flow: Flow, state: FlowState) -> Step:
    """What the call hears at the current node again (used when the provider replays a request)."""
    node = flow.node(state.node)
    if isinstance(node, AskNode) and not state.done:
        return _ask_step(flow, node, ())
    if isinstance(node, VerifyNode) and not state.done:
        return _verify_step(node, ())
    if isinstance(node, EndNode) and node.prompt is not None:
        return Step(prompts=(node.prompt,), gather=None)
    if isinstance(node, TransferNode):
        return Step(prompts=(node.prompt,), gather=None, dial=node.to)
    return Step(prompts=(), gather=None)


def _agent_requested(flow: Flow, state: FlowState, digits: str) -> Transition | None:
    if flow.agent_key is None or flow.agent_node is None or digits != flow.agent_key:
        return None
    reached = replace(state, reached=True, tries=0)
    effects: tuple[Effect, ...] = (RaiseEscalation(REQUESTED_AGENT, priority=2),)
    return _run(flow, reached, flow.agent_node, (), effects)


def _opted_out(flow: Flow, state: FlowState, digits: str) -> Transition | None:
    # Honoured at once, at any question, whoever answered: the number asks not to be called.
    if flow.opt_out_key is None or flow.opt_out_node is None or digits != flow.opt_out_key:
        return None
    reached = replace(state, reached=True, tries=0)
    return _run(flow, reached, flow.opt_out_node, (), (OptOut(),))


def _answer(flow: Flow, state: FlowState, node: AskNode, event: Input) -> Transition:
    digits = event.digits.strip()
    special = _agent_requested(flow, state, digits) or _opted_out(flow, state, digits)
    if special is not None:
        return special

    choice = node.choices.get(digits)
    if choice is not None:
        answers = dict(state.answers)
        effects: tuple[Effect, ...] = ()
        if node.answer is not None:
            answers[node.answer] = choice.value
            effects += (SaveAnswer(node.answer, choice.value),)
        if choice.escalate is not None:
            effects += (RaiseEscalation(choice.escalate),)
        chosen = replace(
            state,
            answers=answers,
            tries=0,
            reached=True,
            identified=state.identified or choice.identified,
        )
        return _run(flow, chosen, choice.next, (), effects)

    if state.tries < node.retries:
        again = replace(state, tries=state.tries + 1)
        return Transition(again, _ask_step(flow, node, (flow.reprompt,)), ())

    # Re-prompts used up: move on, keeping the question visibly unanswered.
    answers = dict(state.answers)
    effects = ()
    if node.answer is not None:
        answers[node.answer] = None
        effects = (SaveAnswer(node.answer, None),)
    moved = replace(state, answers=answers, tries=0)
    return _run(flow, moved, node.on_no_input, (), effects)


def _verify(
    flow: Flow, state: FlowState, node: VerifyNode, event: Input, verify: Verify | None
) -> Transition:
    # The entry is identity data: it goes to verify() and nowhere else. No state field, effect,
    # step or exception message below may contain it.
    entry = event.digits.strip().rstrip("#")
    special = _agent_requested(flow, state, entry) or _opted_out(flow, state, entry)
    if special is not None:
        return special
    if verify is None:
        raise FlowStateError(f"node {node.id!r} needs a verify function")
    silent = entry == ""
    matched = False
    if not silent and len(entry) <= node.max_digits and set(entry) <= _ENTRY_KEYS:
        if node.star_as is not None:
            entry = entry.replace("*", node.star_as)
        matched = verify(node.item, entry)

    if matched:
        verified = state.verified if node.item in state.verified else (*state.verified, node.item)
        passed = replace(state, tries=0, reached=True, verified=verified)
        return _run(flow, passed, node.next, (), (IdentityChecked(node.item, True),))

    effects: tuple[Effect, ...] = () if silent else (IdentityChecked(node.item, False),)
    if state.tries < node.retries:
        again = replace(state, tries=state.tries + 1, reached=state.reached or not silent)
        before = flow.reprompt if silent or node.wrong is None else node.wrong
        return Transition(again, _verify_step(node, (before,)), effects)
    failed = replace(state, tries=0, reached=state.reached or not silent)
    return _run(flow, failed, node.silent_next if silent else node.on_fail, (), effects)


def _hangup(flow: Flow, state: FlowState) -> Transition:
    if state.done:
        return Transition(state, None, ())
    if state.identified:
        ended = replace(state, outcome=FlowOutcome.PARTIAL)
        return Transition(ended, None, (RaiseEscalation(flow.hangup_reason),))
    return Transition(replace(state, outcome=FlowOutcome.NO_RESPONSE), None, ())


def _run(
    flow: Flow,
    state: FlowState,
    node_id: str,
    prompts: tuple[Prompt, ...],
    effects: tuple[Effect, ...],
) -> Transition:
    """Walk say, branch and escalate nodes, collecting prompts and effects, up to input or end."""
    for _ in range(_MAX_HOPS):
        node = flow.node(node_id)
        state = replace(state, node=node_id)
        if isinstance(node, SayNode):
            prompts += (node.prompt,)
            node_id = node.next
        elif isinstance(node, EscalateNode):
            effects += (RaiseEscalation(node.reason, node.priority),)
            node_id = node.next
        elif isinstance(node, BranchNode):
            node_id = next(
                (c.next for c in node.cases if c.holds(state.answers, state.verified)),
                node.otherwise,
            )
        elif isinstance(node, AskNode):
            return Transition(state, _ask_step(flow, node, prompts), effects)
        elif isinstance(node, VerifyNode):
            return Transition(state, _verify_step(node, prompts), effects)
        elif isinstance(node, TransferNode):
            step = Step((*prompts, node.prompt), gather=None, dial=node.to)
            return Transition(replace(state, outcome=node.outcome), step, effects)
        else:
            assert isinstance(node, EndNode)
            if node.prompt is not None:
                prompts += (node.prompt,)
            return Transition(
                replace(state, outcome=node.outcome), Step(prompts, gather=None), effects
            )
    raise FlowStateError(f"flow {flow.id!r} loops without asking anything")


def _ask_step(flow: Flow, node: AskNode, before: tuple[Prompt, ...]) -> Step:
    width = max(len(key) for key in node.choices)
    flow_keys = (flow.agent_key, flow.opt_out_key)
    keys = [*node.choices, *(key for key in flow_keys if key is not None)]
    finish_on_key = "" if any("#" in key for key in keys) else "#"
    return Step(prompts=(*before, node.prompt), gather=Gather(width, node.timeout_s, finish_on_key))


def _verify_step(node: VerifyNode, before: tuple[Prompt, ...]) -> Step:
    gather = Gather(node.max_digits, node.timeout_s, node.finish_on_key)
    return Step(prompts=(*before, node.prompt), gather=gather, sensitive=True)
