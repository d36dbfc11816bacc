"""The flow engine: (flow, state, event) -> transition. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import replace

from ivr.flows.model import (
    AskNode,
    Effect,
    EndNode,
    EscalateNode,
    Event,
    Flow,
    FlowOutcome,
    FlowState,
    Gather,
    Hangup,
    Input,
    Prompt,
    RaiseEscalation,
    SaveAnswer,
    SayNode,
    Start,
    Step,
    Transition,
)

# A graph that loops through say/escalate nodes without asking anything would never return;
# the loader rejects such flows, and this bound guards against a state saved by another version.
_MAX_HOPS = 100

REQUESTED_AGENT = "requested_agent"


class FlowStateError(Exception):
    """The event does not fit the saved state (e.g. keys for a flow that has ended)."""


def start(flow: Flow) -> Transition:
    """Begin a flow at its start node."""
    return advance(flow, None, Start())


def advance(flow: Flow, state: FlowState | None, event: Event) -> Transition:
    """Apply one event to a flow's state and say what the call does next."""
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
    return _input(flow, state, event)


def current_step(flow: Flow, state: FlowState) -> Step:
    """What the call hears at the current node again (used when the provider replays a request)."""
    node = flow.node(state.node)
    if isinstance(node, AskNode) and not state.done:
        return _ask_step(flow, node, ())
    if isinstance(node, EndNode) and node.prompt is not None:
        return Step(prompts=(node.prompt,), gather=None)
    return Step(prompts=(), gather=None)


def _input(flow: Flow, state: FlowState, event: Input) -> Transition:
    node = flow.node(state.node)
    if not isinstance(node, AskNode):
        raise FlowStateError(f"node {node.id!r} takes no input")
    digits = event.digits.strip()

    if flow.agent_key is not None and flow.agent_node is not None and digits == flow.agent_key:
        reached = replace(state, reached=True, tries=0)
        effects: tuple[Effect, ...] = (RaiseEscalation(REQUESTED_AGENT, priority=2),)
        return _run(flow, reached, flow.agent_node, (), effects)

    choice = node.choices.get(digits)
    if choice is not None:
        answers = dict(state.answers)
        effects = ()
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
    """Walk say and escalate nodes, collecting prompts and effects, up to an ask or an end."""
    for _ in range(_MAX_HOPS):
        node = flow.node(node_id)
        state = replace(state, node=node_id)
        if isinstance(node, SayNode):
            prompts += (node.prompt,)
            node_id = node.next
        elif isinstance(node, EscalateNode):
            effects += (RaiseEscalation(node.reason, node.priority),)
            node_id = node.next
        elif isinstance(node, AskNode):
            return Transition(state, _ask_step(flow, node, prompts), effects)
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
    keys = [*node.choices, *([flow.agent_key] if flow.agent_key is not None else [])]
    finish_on_key = "" if any("#" in key for key in keys) else "#"
    return Step(prompts=(*before, node.prompt), gather=Gather(width, node.timeout_s, finish_on_key))
