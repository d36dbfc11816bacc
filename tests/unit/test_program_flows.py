"""The care-insurance, renovation and clinic flows on the engine: every branch, end, escalation."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from ivr.flows.engine import advance, start
from ivr.flows.loader import PLACEHOLDERS, load_shipped_flow, prompts_of
from ivr.flows.model import (
    AskNode,
    EndNode,
    Flow,
    FlowOutcome,
    Hangup,
    Input,
    OptOut,
    Prompt,
    RaiseEscalation,
    SayNode,
    Transition,
)
from ivr.flows.twiml import fill

FLOW_IDS = ("care-insurance", "renovation", "clinic-treated", "clinic-visitor")
FLOWS: Mapping[str, Flow] = {flow_id: load_shipped_flow(flow_id) for flow_id in FLOW_IDS}

# A person who is the contact and answers every question without raising anything.
HAPPY: Mapping[str, tuple[str, ...]] = {
    "care-insurance": ("1", "5", "4", "5", "1", "1"),
    "renovation": ("1", "5", "1", "5", "1"),
    "clinic-treated": ("1", "5", "1"),
    "clinic-visitor": ("1", "2", "2"),
}


def run(flow_id: str, *keys: str) -> list[Transition]:
    """Start a shipped flow and press each entry of keys in turn ("" is silence)."""
    flow = FLOWS[flow_id]
    transitions = [start(flow)]
    for digits in keys:
        transitions.append(advance(flow, transitions[-1].state, Input(digits)))
    return transitions


def escalations(transitions: list[Transition]) -> list[str]:
    """The reasons escalated over a run, in order."""
    return [e.reason for t in transitions for e in t.effects if isinstance(e, RaiseEscalation)]


def said(transition: Transition) -> tuple[Prompt, ...]:
    """What the call hears after a transition (nothing once the flow has hung up)."""
    return () if transition.step is None else tuple(transition.step.prompts)


def questions(flow_id: str) -> list[str]:
    """The ask nodes the happy path goes through, in order."""
    return [t.state.node for t in run(flow_id, *HAPPY[flow_id])[:-1]]


# flow, keys, end node, outcome, escalations, answers
PATHS = [
    # care-insurance: three ratings, the appointment, a complaint.
    ("care-insurance", HAPPY["care-insurance"], "closing", "completed", [], {
        "response_time": "5", "accuracy": "4", "safety": "5", "appointment_ok": "yes",
        "complaint": "no",
    }),
    ("care-insurance", ("1", "2", "4", "5", "1", "1"), "closing", "completed",
     ["low_satisfaction"], {"response_time": "2"}),
    ("care-insurance", ("1", "4", "1", "5", "1", "1"), "closing", "completed",
     ["low_satisfaction"], {"accuracy": "1"}),
    ("care-insurance", ("1", "4", "4", "2", "1", "1"), "closing", "completed",
     ["low_satisfaction"], {"safety": "2"}),
    ("care-insurance", ("1", "1", "2", "1", "1", "1"), "closing", "completed",
     ["low_satisfaction"] * 3, {}),
    ("care-insurance", ("1", "3", "3", "3", "2", "1"), "closing", "completed",
     ["reschedule"], {"appointment_ok": "change"}),
    ("care-insurance", ("1", "3", "3", "3", "1", "2"), "complaint_closing", "completed",
     ["complaint"], {"complaint": "yes"}),
    ("care-insurance", ("1", "2", "2", "2", "2", "2"), "complaint_closing", "completed",
     ["low_satisfaction"] * 3 + ["reschedule", "complaint"], {}),
    # renovation: crew, site and schedule, designer, a problem.
    ("renovation", HAPPY["renovation"], "closing", "completed", [], {
        "crew_rating": "5", "on_schedule": "yes", "designer_rating": "5", "problem": "no",
    }),
    ("renovation", ("1", "1", "1", "4", "1"), "closing", "completed", ["complaint"],
     {"crew_rating": "1"}),
    ("renovation", ("1", "2", "1", "4", "1"), "closing", "completed", ["complaint"],
     {"crew_rating": "2"}),
    ("renovation", ("1", "3", "2", "3", "1"), "closing", "completed", [],
     {"crew_rating": "3", "on_schedule": "no", "designer_rating": "3"}),
    ("renovation", ("1", "4", "1", "2", "1"), "closing", "completed", ["complaint"],
     {"designer_rating": "2"}),
    ("renovation", ("1", "4", "1", "4", "2"), "problem_closing", "completed", ["complaint"],
     {"problem": "yes"}),
    ("renovation", ("1", "1", "2", "1", "2"), "problem_closing", "completed",
     ["complaint"] * 3, {}),
    # clinic-treated: the visit, any discomfort since.
    ("clinic-treated", HAPPY["clinic-treated"], "closing", "completed", [],
     {"visit_rating": "5", "discomfort": "no"}),
    ("clinic-treated", ("1", "2", "1"), "closing", "completed", ["low_satisfaction"],
     {"visit_rating": "2"}),
    ("clinic-treated", ("1", "1", "1"), "closing", "completed", ["low_satisfaction"], {}),
    ("clinic-treated", ("1", "3", "1"), "closing", "completed", [], {"visit_rating": "3"}),
    ("clinic-treated", ("1", "4", "2"), "concern_closing", "completed", ["clinical_concern"],
     {"discomfort": "yes"}),
    ("clinic-treated", ("1", "1", "2"), "concern_closing", "completed",
     ["low_satisfaction", "clinical_concern"], {}),
    # clinic-visitor: why not, and a consultant's call-back (completed, escalated).
    ("clinic-visitor", ("1", "1", "1"), "callback_closing", "completed", ["requested_agent"],
     {"reason": "price", "callback_wanted": "yes"}),
    ("clinic-visitor", HAPPY["clinic-visitor"], "no_callback_closing", "completed", [],
     {"reason": "not_needed", "callback_wanted": "no"}),
    ("clinic-visitor", ("1", "3", "1"), "callback_closing", "completed", ["requested_agent"],
     {"reason": "thinking"}),
    ("clinic-visitor", ("1", "4", "2"), "no_callback_closing", "completed", [],
     {"reason": "other"}),
    ("clinic-visitor", ("1", "1", "", ""), "closing", "completed", [],
     {"reason": "price", "callback_wanted": None}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flow_id", "keys", "end", "outcome", "raised", "answers"),
    PATHS,
    ids=[f"{p[0]}-{''.join(p[1])}" for p in PATHS],
)
def test_each_answer_path_ends_where_the_script_says(
    flow_id: str,
    keys: tuple[str, ...],
    end: str,
    outcome: str,
    raised: list[str],
    answers: dict[str, str | None],
) -> None:
    """Keys lead to the scripted end node and outcome, raising exactly the scripted escalations."""
    transitions = run(flow_id, *keys)
    last = transitions[-1]
    assert (end, FlowOutcome(outcome)) == (last.state.node, last.state.outcome)
    assert raised == escalations(transitions)
    assert answers == {k: last.state.answers[k] for k in answers}
    assert last.step is not None and last.step.gather is None  # a goodbye, then hang up


def test_every_node_of_every_flow_is_reached_by_a_tested_path() -> None:
    """The path table and the generic runs below leave no node of the four flows untested."""
    reached: dict[str, set[str]] = {flow_id: set() for flow_id in FLOW_IDS}
    runs = [(p[0], p[1]) for p in PATHS]
    runs += [(f, ("2",)) for f in FLOW_IDS] + [(f, ("", "")) for f in FLOW_IDS]
    runs += [(f, ("1", "0")) for f in FLOW_IDS] + [(f, ("1", "9")) for f in FLOW_IDS]
    for flow_id, keys in runs:
        for transition in run(flow_id, *keys):
            reached[flow_id].add(transition.state.node)
            flow = FLOWS[flow_id]
            # Say nodes are walked through within one transition: find them by their prompt.
            heard = said(transition)
            reached[flow_id] |= {
                n.id for n in flow.nodes.values() if isinstance(n, SayNode) and n.prompt in heard
            }
    assert {f: set(FLOWS[f].nodes) for f in FLOW_IDS} == reached


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_someone_else_answering_ends_as_wrong_person(flow_id: str) -> None:
    """Key 2 at "are you <name>?" thanks, ends as wrong_person and escalates it."""
    transitions = run(flow_id, "2")
    assert FlowOutcome.WRONG_PERSON == transitions[-1].state.outcome
    assert ["wrong_person"] == escalations(transitions)
    assert not transitions[-1].state.identified


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_silence_at_the_identity_question_twice_is_no_response(flow_id: str) -> None:
    """Silence is re-prompted once; silence again ends as no_response (called again later)."""
    transitions = run(flow_id, "", "")
    assert FLOWS[flow_id].reprompt == said(transitions[1])[0]
    assert FlowOutcome.NO_RESPONSE == transitions[-1].state.outcome
    assert [] == escalations(transitions)


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_the_agent_key_at_every_question_hands_over_to_a_person(flow_id: str) -> None:
    """0 at any question, identity included, ends as requested_agent with that escalation."""
    happy = HAPPY[flow_id]
    for position in range(len(happy)):
        transitions = run(flow_id, *happy[:position], "0")
        assert FlowOutcome.REQUESTED_AGENT == transitions[-1].state.outcome, position
        assert ["requested_agent"] == escalations(transitions), position


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_the_opt_out_key_at_every_question_ends_the_call_as_opted_out(flow_id: str) -> None:
    """9 at any question, identity included, asks for the number to be listed and says goodbye."""
    happy = HAPPY[flow_id]
    for position in range(len(happy)):
        transitions = run(flow_id, *happy[:position], "9")
        last = transitions[-1]
        assert FlowOutcome.OPTED_OUT == last.state.outcome, position
        assert (OptOut(),) == last.effects, position
        assert last.step is not None and last.step.gather is None


@pytest.mark.parametrize("flow_id", FLOW_IDS)
@pytest.mark.parametrize("wrong", ["8", ""], ids=["invalid key", "silence"])
def test_a_question_not_answered_twice_is_left_blank_and_the_call_goes_on(
    flow_id: str, wrong: str
) -> None:
    """At each question after identity: re-prompted once, then no answer and the next question."""
    flow = FLOWS[flow_id]
    happy = HAPPY[flow_id]
    for position, node_id in enumerate(questions(flow_id)[1:], start=1):
        node = flow.node(node_id)
        assert isinstance(node, AskNode)
        transitions = run(flow_id, *happy[:position], wrong)
        assert (flow.reprompt, node.prompt) == said(transitions[-1])
        transitions = run(flow_id, *happy[:position], wrong, wrong, *happy[position + 1 :])
        last = transitions[-1].state
        assert FlowOutcome.COMPLETED == last.outcome, node_id
        assert node.answer is not None and last.answers[node.answer] is None
        assert [] == escalations(transitions)


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_hanging_up_after_identification_is_partial_and_escalated(flow_id: str) -> None:
    """Once the contact said "it is me", a hang-up mid-flow escalates partial."""
    flow = FLOWS[flow_id]
    identified = run(flow_id, "1")[-1].state
    assert identified.identified
    transition = advance(flow, identified, Hangup())
    assert FlowOutcome.PARTIAL == transition.state.outcome
    assert [RaiseEscalation("partial")] == list(transition.effects)


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_hanging_up_before_identification_is_no_response(flow_id: str) -> None:
    """A hang-up at "are you <name>?" is not a reached contact and escalates nothing."""
    flow = FLOWS[flow_id]
    transition = advance(flow, start(flow).state, Hangup())
    assert FlowOutcome.NO_RESPONSE == transition.state.outcome
    assert () == transition.effects


def test_care_says_the_reschedule_note_and_the_precautions_before_the_complaint_question() -> None:
    """Asking to change the date is acknowledged, then the precautions, then the last question."""
    flow = FLOWS["care-insurance"]
    heard = said(run("care-insurance", "1", "5", "5", "5", "2")[-1])
    expected = [flow.node(n) for n in ("reschedule_noted", "precautions", "complaint")]
    assert [n.prompt for n in expected if isinstance(n, SayNode | AskNode)] == list(heard)


def test_care_says_the_precautions_after_a_confirmed_appointment() -> None:
    """A confirmed date goes straight to the precautions reminder and the complaint question."""
    flow = FLOWS["care-insurance"]
    heard = said(run("care-insurance", "1", "5", "5", "5", "1")[-1])
    expected = [flow.node(n) for n in ("precautions", "complaint")]
    assert [n.prompt for n in expected if isinstance(n, SayNode | AskNode)] == list(heard)


PROMPT_CONTEXT = {name: f"<{name}>" for name in PLACEHOLDERS}


@pytest.mark.parametrize("flow_id", FLOW_IDS)
@pytest.mark.parametrize("language", ["zh-CN", "en-US"])
def test_every_prompt_renders_in_both_languages(flow_id: str, language: str) -> None:
    """Each prompt has text in the language and every placeholder it names is filled."""
    for node_id, prompt in prompts_of(FLOWS[flow_id]):
        text = fill(prompt.text(language), PROMPT_CONTEXT)
        assert text.strip() and "{" not in text and "}" not in text, node_id


@pytest.mark.parametrize("flow_id", FLOW_IDS)
def test_flows_speak_mandarin_by_default_and_take_0_for_a_person(flow_id: str) -> None:
    """zh-CN comes first (the default), en-US is there, and 0 hands over at any question."""
    flow = FLOWS[flow_id]
    assert ("zh-CN", "en-US") == flow.languages
    assert ("0", "partial") == (flow.agent_key, flow.hangup_reason)
    agent_end = flow.node(flow.agent_node or "")
    assert isinstance(agent_end, EndNode) and agent_end.outcome is FlowOutcome.REQUESTED_AGENT
