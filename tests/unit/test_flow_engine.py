"""The flow engine on the shipped flows: every branch, retry rules, branch, transfer, misuse."""

from __future__ import annotations

import json

import pytest

from ivr.flows.engine import FlowStateError, advance, current_step, start
from ivr.flows.loader import load_shipped_flow, parse_flow
from ivr.flows.model import (
    AskNode,
    Choice,
    EndNode,
    Flow,
    FlowOutcome,
    FlowState,
    Gather,
    Hangup,
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
)

FLOW = load_shipped_flow("post-discharge")


def prompt_of(node_id: str) -> Prompt:
    """The prompt of a node of the shipped flow."""
    node = FLOW.node(node_id)
    assert isinstance(node, AskNode | EndNode | SayNode)
    assert node.prompt is not None
    return node.prompt


def run(*keys: str) -> list[Transition]:
    """Start the flow and press each entry of keys in turn ("" is silence)."""
    transitions = [start(FLOW)]
    for digits in keys:
        transitions.append(advance(FLOW, transitions[-1].state, Input(digits)))
    return transitions


def ask_step(node_id: str, *before: Prompt) -> Step:
    """The step that asks a node's question of the shipped flow."""
    node = FLOW.node(node_id)
    assert isinstance(node, AskNode)
    return Step((*before, node.prompt), Gather(num_digits=1, timeout_s=node.timeout_s))


def end_step(node_id: str) -> Step:
    """The step that says an end node's prompt and hangs up."""
    return Step((prompt_of(node_id),), gather=None)


def effects_of(transitions: list[Transition]) -> list[object]:
    """Every effect of a run, in order."""
    return [effect for t in transitions for effect in t.effects]


def test_start_asks_who_answered_with_a_one_key_gather() -> None:
    """The flow opens on the identity question, gathering one key, with a blank state."""
    transition = start(FLOW)
    assert ask_step("identify") == transition.step
    assert FlowState(node="identify") == transition.state
    assert () == transition.effects
    assert not transition.state.done


def test_confirming_identity_moves_to_recovery_and_marks_identified() -> None:
    """Key 1 at the identity question identifies the contact and asks about recovery."""
    _, after = run("1")
    assert ask_step("recovery") == after.step
    assert after.state.identified
    assert after.state.reached
    assert "recovery" == after.state.node
    assert () == after.effects  # "are you X?" keeps no answer


@pytest.mark.parametrize(
    ("keys", "answers", "escalations"),
    [
        (
            ("1", "1", "1", "5"),
            {"recovery": "better", "medication": "yes", "satisfaction": "5"},
            [],
        ),
        (("1", "2", "1", "4"), {"recovery": "same", "medication": "yes", "satisfaction": "4"}, []),
        (
            ("1", "1", "1", "3"),
            {"recovery": "better", "medication": "yes", "satisfaction": "3"},
            [],
        ),
        (
            ("1", "3", "1", "5"),
            {"recovery": "worse", "medication": "yes", "satisfaction": "5"},
            ["clinical_concern"],
        ),
        (
            ("1", "1", "2", "5"),
            {"recovery": "better", "medication": "no", "satisfaction": "5"},
            ["clinical_concern"],
        ),
        (
            # A low rating is followed by the offer of a call back, here declined.
            ("1", "1", "1", "2", "2"),
            {
                "recovery": "better",
                "medication": "yes",
                "satisfaction": "2",
                "callback_wanted": "no",
            },
            ["low_satisfaction"],
        ),
        (
            ("1", "3", "2", "1", "1"),
            {
                "recovery": "worse",
                "medication": "no",
                "satisfaction": "1",
                "callback_wanted": "yes",
            },
            ["clinical_concern", "clinical_concern", "low_satisfaction", "requested_agent"],
        ),
    ],
)
def test_answered_survey_completes_with_answers_and_escalations(
    keys: tuple[str, ...], answers: dict[str, str], escalations: list[str]
) -> None:
    """Each key of each question saves its value and raises the escalations the flow names."""
    transitions = run(*keys)
    last = transitions[-1]
    assert FlowOutcome.COMPLETED == last.state.outcome
    assert answers == dict(last.state.answers)
    wanted_callback = answers.get("callback_wanted") == "yes"
    assert end_step("callback_closing" if wanted_callback else "closing") == last.step
    effects = effects_of(transitions)
    assert [SaveAnswer(q, v) for q, v in answers.items()] == [
        e for e in effects if isinstance(e, SaveAnswer)
    ]
    assert escalations == [e.reason for e in effects if isinstance(e, RaiseEscalation)]


def test_someone_else_answering_ends_as_wrong_person() -> None:
    """Key 2 at the identity question thanks, hangs up and raises wrong_person."""
    _, after = run("2")
    assert FlowOutcome.WRONG_PERSON == after.state.outcome
    assert end_step("wrong_person_end") == after.step
    assert (RaiseEscalation("wrong_person"),) == after.effects
    assert not after.state.identified
    assert after.state.reached


def test_invalid_key_reprompts_then_moves_on_when_retries_are_used_up() -> None:
    """A key the question does not know re-asks once (with the apology), then gives up."""
    _, first, second = run("7", "8")
    assert ask_step("identify", FLOW.reprompt) == first.step
    assert 1 == first.state.tries
    assert "identify" == first.state.node
    assert () == first.effects
    assert FlowOutcome.NO_RESPONSE == second.state.outcome
    assert end_step("no_response_end") == second.step
    assert not second.state.reached


def test_valid_key_after_an_invalid_one_resets_the_tries() -> None:
    """After a re-prompt a valid key is taken and the next question gets fresh retries."""
    transitions = run("7", "1", "8")
    assert "recovery" == transitions[2].state.node
    assert 0 == transitions[2].state.tries
    assert ask_step("recovery", FLOW.reprompt) == transitions[3].step
    assert 1 == transitions[3].state.tries


def test_silence_at_a_question_reprompts_then_saves_no_answer_and_moves_on() -> None:
    """Silence counts like an invalid key; once used up, the answer is kept as None."""
    *_, reprompted, moved = run("1", "", "")
    assert ask_step("recovery", FLOW.reprompt) == reprompted.step
    assert ask_step("medication") == moved.step
    assert (SaveAnswer("recovery", None),) == moved.effects
    assert {"recovery": None} == dict(moved.state.answers)
    assert 0 == moved.state.tries


def test_silence_at_identity_ends_as_no_response() -> None:
    """Nobody pressing anything at the identity question goes to on_no_input (no_response)."""
    *_, last = run("", "")
    assert FlowOutcome.NO_RESPONSE == last.state.outcome
    assert () == last.effects


def test_silence_through_every_question_still_completes_with_blank_answers() -> None:
    """An identified caller who never answers hears every question and completes blank."""
    last = run("1", "", "", "", "", "", "")[-1]
    assert FlowOutcome.COMPLETED == last.state.outcome
    assert {"recovery": None, "medication": None, "satisfaction": None} == dict(last.state.answers)


@pytest.mark.parametrize("keys", [("0",), ("1", "0"), ("1", "2", "1", "0")])
def test_agent_key_at_any_question_hands_over_to_a_person(keys: tuple[str, ...]) -> None:
    """Key 0 ends the flow as requested_agent and raises a priority-2 escalation."""
    last = run(*keys)[-1]
    assert FlowOutcome.REQUESTED_AGENT == last.state.outcome
    assert (RaiseEscalation("requested_agent", priority=2),) == last.effects
    assert end_step("agent_end") == last.step
    assert last.state.reached


def test_agent_key_after_a_reprompt_still_hands_over() -> None:
    """The agent key wins even when the question was just re-asked."""
    last = run("1", "8", "0")[-1]
    assert FlowOutcome.REQUESTED_AGENT == last.state.outcome


@pytest.mark.parametrize("keys", [("9",), ("1", "9"), ("1", "2", "1", "9"), ("1", "8", "9")])
def test_opt_out_key_at_any_question_lists_the_number_and_hangs_up(keys: tuple[str, ...]) -> None:
    """Key 9, even after a re-prompt, ends as opted_out with one OptOut effect and a goodbye."""
    last = run(*keys)[-1]
    assert FlowOutcome.OPTED_OUT == last.state.outcome
    assert (OptOut(),) == last.effects
    assert end_step("opt_out_end") == last.step
    assert last.state.reached


def test_opt_out_after_answers_keeps_them_and_raises_nothing_more() -> None:
    """Answers saved before the key stay in the state; opting out escalates nothing."""
    transitions = run("1", "3", "9")
    assert {"recovery": "worse"} == dict(transitions[-1].state.answers)
    assert [RaiseEscalation("clinical_concern")] == [
        e for t in transitions for e in t.effects if isinstance(e, RaiseEscalation)
    ]


def test_hangup_before_identification_is_no_response() -> None:
    """A hang-up at the identity question: not reached, nothing escalated, nothing said."""
    state = start(FLOW).state
    transition = advance(FLOW, state, Hangup())
    assert FlowOutcome.NO_RESPONSE == transition.state.outcome
    assert transition.step is None
    assert () == transition.effects


def test_hangup_after_identification_is_partial_and_escalates() -> None:
    """A hang-up mid-survey keeps the answers, ends as partial and raises the hang-up reason."""
    state = run("1", "3")[-1].state
    transition = advance(FLOW, state, Hangup())
    assert FlowOutcome.PARTIAL == transition.state.outcome
    assert (RaiseEscalation(FLOW.hangup_reason),) == transition.effects
    assert {"recovery": "worse"} == dict(transition.state.answers)
    assert transition.step is None


def test_hangup_after_the_flow_ended_changes_nothing() -> None:
    """The final status callback of a completed call leaves its outcome alone."""
    state = run("1", "1", "1", "5")[-1].state
    transition = advance(FLOW, state, Hangup())
    assert state == transition.state
    assert () == transition.effects
    assert transition.step is None


@pytest.mark.parametrize(
    ("state", "event", "message"),
    [
        (FlowState(node="identify"), Start(), "already started"),
        (None, Input("1"), "not started"),
        (None, Hangup(), "not started"),
        (FlowState(node="closing", outcome=FlowOutcome.COMPLETED), Input("1"), "has ended"),
        (FlowState(node="closing"), Input("1"), "takes no input"),
    ],
)
def test_events_that_do_not_fit_the_state_raise(
    state: FlowState | None, event: Start | Input | Hangup, message: str
) -> None:
    """Misuse is a FlowStateError, never a silent change."""
    with pytest.raises(FlowStateError, match=message):
        advance(FLOW, state, event)


def test_a_say_loop_without_questions_is_refused() -> None:
    """A graph that never asks (which the loader rejects) cannot make the engine spin."""
    hello = Prompt({"en-US": "hi"})
    flow = Flow(
        id="loop",
        languages=("en-US",),
        start="a",
        nodes={"a": SayNode("a", hello, "b"), "b": SayNode("b", hello, "a")},
        reprompt=hello,
    )
    with pytest.raises(FlowStateError, match="loops"):
        start(flow)


def test_say_nodes_before_a_question_are_said_in_order() -> None:
    """Say nodes on the way to a question put their prompts before the question's."""
    one, two, question = (Prompt({"en-US": t}) for t in ("one", "two", "q?"))
    flow = Flow(
        id="say",
        languages=("en-US",),
        start="s1",
        nodes={
            "s1": SayNode("s1", one, "s2"),
            "s2": SayNode("s2", two, "ask"),
            "ask": AskNode("ask", question, {"12": Choice("x", "end")}, "end", timeout_s=4),
            "end": EndNode("end", FlowOutcome.COMPLETED),
        },
        reprompt=one,
    )
    transition = start(flow)
    assert Step((one, two, question), Gather(num_digits=2, timeout_s=4)) == transition.step
    assert Step((), None) == advance(flow, transition.state, Input("12")).step


@pytest.mark.parametrize("keys", [(), ("1",), ("1", "8"), ("1", "3", ""), ("1", "3", "2", "1")])
def test_state_survives_a_json_round_trip(keys: tuple[str, ...]) -> None:
    """The state saved on the attempt reads back equal, at every point of a call."""
    state = run(*keys)[-1].state
    assert state == FlowState.from_json(json.loads(json.dumps(state.to_json())))


def test_current_step_repeats_the_question_without_the_apology() -> None:
    """A replayed request hears the current question again."""
    state = run("1", "8")[-1].state
    assert ask_step("recovery") == current_step(FLOW, state)


def test_current_step_after_the_end_repeats_the_goodbye() -> None:
    """A replay after the flow ended says goodbye again and hangs up."""
    state = run("2")[-1].state
    assert end_step("wrong_person_end") == current_step(FLOW, state)


def test_post_discharge_questions_keep_the_default_finish_key() -> None:
    """No post-discharge key uses "#", so Twilio's default finish key stays on."""
    gather = start(FLOW).step
    assert gather is not None and gather.gather is not None
    assert "#" == gather.gather.finish_on_key


def test_a_question_that_takes_hash_turns_the_finish_key_off() -> None:
    """Twilio drops a finishing "#" from Digits; a "#" choice needs finishOnKey="" to arrive."""
    question = Prompt({"en-US": "press hash"})
    flow = Flow(
        id="hash",
        languages=("en-US",),
        start="ask",
        nodes={
            "ask": AskNode("ask", question, {"#": Choice("hash", "end")}, "end"),
            "end": EndNode("end", FlowOutcome.COMPLETED),
        },
        reprompt=question,
    )
    transition = start(flow)
    assert Gather(num_digits=1, timeout_s=6, finish_on_key="") == (
        transition.step.gather if transition.step else None
    )
    assert FlowOutcome.COMPLETED == advance(flow, transition.state, Input("#")).state.outcome


def test_key_escalations_leave_the_priority_to_the_reasons_terms() -> None:
    """A key's escalation carries no priority of its own (clinical concern is urgent by terms)."""
    _, _, worse = run("1", "3")
    expected = (SaveAnswer("recovery", "worse"), RaiseEscalation("clinical_concern", priority=None))
    assert expected == worse.effects


# Branch and transfer nodes, on a small flow built from YAML.

BRANCHING = parse_flow(
    {
        "id": "branching",
        "languages": ["en-US"],
        "start": "q1",
        "reprompt": {"en-US": "Sorry."},
        "nodes": {
            "q1": {
                "kind": "ask",
                "answer": "q1",
                "prompt": {"en-US": "Rate 1 to 3."},
                "keys": {"1": "1", "2": "2", "3": "3"},
                "next": "route",
                "on_no_input": "no_input",
            },
            "route": {
                "kind": "branch",
                "cases": [
                    {"answer": "q1", "in": ["2", "3"], "next": "handover"},
                    {"answer": "q1", "in": ["1"], "next": "thanks"},
                ],
                "else": "fallback",
            },
            "thanks": {"kind": "say", "prompt": {"en-US": "Thanks."}, "next": "done"},
            "handover": {
                "kind": "transfer",
                "prompt": {"en-US": "Connecting you."},
                "to": "{transfer_number}",
            },
            "no_input": {"kind": "escalate", "reason": "partial", "next": "fallback"},
            "fallback": {"kind": "end", "outcome": "partial"},
            "done": {"kind": "end", "outcome": "completed"},
        },
    },
    "branching.yaml",
)


def prompt_in(flow: Flow, node_id: str) -> Prompt:
    """The prompt of a node of any flow."""
    node = flow.node(node_id)
    assert isinstance(node, AskNode | EndNode | SayNode | TransferNode)
    assert node.prompt is not None
    return node.prompt


@pytest.mark.parametrize(
    ("key", "outcome", "last_prompt"),
    [
        ("1", FlowOutcome.COMPLETED, "thanks"),
        ("2", FlowOutcome.REQUESTED_AGENT, "handover"),
        ("3", FlowOutcome.REQUESTED_AGENT, "handover"),
    ],
)
def test_branch_routes_on_the_saved_answer(
    key: str, outcome: FlowOutcome, last_prompt: str
) -> None:
    """The first case whose answer test holds is taken; the branch itself says nothing."""
    after = advance(BRANCHING, start(BRANCHING).state, Input(key))
    assert outcome == after.state.outcome
    assert after.step is not None
    assert (prompt_in(BRANCHING, last_prompt),) == after.step.prompts


def test_branch_takes_else_when_no_case_holds() -> None:
    """Silence leaves q1 unanswered (None): the escalate node, then else."""
    state = start(BRANCHING).state
    state = advance(BRANCHING, state, Input("")).state
    last = advance(BRANCHING, state, Input(""))
    assert FlowOutcome.PARTIAL == last.state.outcome
    assert (SaveAnswer("q1", None), RaiseEscalation("partial")) == last.effects


def test_transfer_step_dials_after_its_prompt_and_ends_as_requested_agent() -> None:
    """A transfer is the prompt, then a Dial to what the shell fills in; no gather follows."""
    after = advance(BRANCHING, start(BRANCHING).state, Input("2"))
    expected = Step((prompt_in(BRANCHING, "handover"),), None, dial="{transfer_number}")
    assert expected == after.step
    assert expected == current_step(BRANCHING, after.state)
    assert not after.step.sensitive


def test_no_step_of_an_ask_flow_is_sensitive() -> None:
    """Only verify steps pause the recording."""
    assert not any(t.step and t.step.sensitive for t in run("1", "3", "2", "1", "1"))


# The shipped cooling-off flow, walked through.

COOLING = load_shipped_flow("cooling-off")
FACTS = {"dob": "19671123", "id_last4": "071X"}
VERIFIED = ("1", "19671123", "071*")


def cooling(*keys: str) -> list[Transition]:
    """Start the cooling-off flow and press keys, with a verify() over FACTS."""

    def verify(item: str, entry: str) -> bool:
        return FACTS[item] == entry

    transitions = [start(COOLING)]
    for digits in keys:
        transitions.append(advance(COOLING, transitions[-1].state, Input(digits), verify=verify))
    return transitions


def reasons(transitions: list[Transition]) -> list[str]:
    """Escalation reasons raised over a run."""
    return [e.reason for e in effects_of(transitions) if isinstance(e, RaiseEscalation)]


def test_cooling_off_opens_with_insurer_policy_number_recording_notice_and_identity() -> None:
    """The first step says the greeting, then asks whether the policyholder answered."""
    step = start(COOLING).step
    assert step is not None and step.gather is not None and not step.sensitive
    greeting, question = (p.text("en-US") for p in step.prompts)
    assert "{insurer}" in greeting and "{policy_number_digits}" in greeting
    assert "recorded" in greeting
    assert "{name}" in question


def test_cooling_off_verified_customer_answering_yes_completes() -> None:
    """Both items match and four yeses: completed, answers saved, nothing escalated."""
    transitions = cooling(*VERIFIED, "1", "1", "1", "1")
    last = transitions[-1]
    assert FlowOutcome.COMPLETED == last.state.outcome
    assert ("dob", "id_last4") == last.state.verified
    assert {
        "signed_personally": "yes",
        "told_cooling_off": "yes",
        "coverage_explained": "yes",
        "premium_agreed": "yes",
    } == dict(last.state.answers)
    assert [] == reasons(transitions)
    assert [False, True, True, False, False, False, False, False] == [
        bool(t.step and t.step.sensitive) for t in transitions
    ]


def test_cooling_off_wrong_dob_twice_escalates_identity_failed_without_policy_detail() -> None:
    """Two wrong dates of birth: identity_failed, and a goodbye naming nothing of the policy."""
    transitions = cooling("1", "19991231", "20000101")
    last = transitions[-1]
    assert ["identity_failed"] == reasons(transitions)
    assert FlowOutcome.IDENTITY_FAILED == last.state.outcome
    assert last.step is not None
    for language in COOLING.languages:
        (goodbye,) = (p.text(language) for p in last.step.prompts)
        assert "{" not in goodbye


def test_cooling_off_wrong_id_last4_twice_escalates_identity_failed() -> None:
    """The second item also gets one more try, then fails identity."""
    assert ["identity_failed"] == reasons(cooling("1", "19671123", "0719", "0718"))


@pytest.mark.parametrize("question", range(4))
@pytest.mark.parametrize("key", ["2", "3"])
def test_cooling_off_no_or_unsure_at_any_question_escalates_missell(
    question: int, key: str
) -> None:
    """A 2 or 3 at any of the four questions raises missell_suspected; the call completes."""
    answers = ["1"] * 4
    answers[question] = key
    transitions = cooling(*VERIFIED, *answers)
    assert ["missell_suspected"] == reasons(transitions)
    assert FlowOutcome.COMPLETED == transitions[-1].state.outcome


def test_cooling_off_not_explained_escalates_missell_suspected() -> None:
    """ "2" at the coverage question (not explained) is saved as no and escalates."""
    transitions = cooling(*VERIFIED, "1", "1", "2", "1")
    assert "no" == transitions[-1].state.answers["coverage_explained"]
    assert ["missell_suspected"] == reasons(transitions)


@pytest.mark.parametrize("at", range(1, 8))
def test_cooling_off_zero_anywhere_requests_an_agent(at: int) -> None:
    """0 at the identity question, an identity entry or any question hands over."""
    keys = [*VERIFIED, "1", "1", "1", "1"][:at]
    last = cooling(*keys[:-1], "0")[-1]
    assert FlowOutcome.REQUESTED_AGENT == last.state.outcome
    assert (RaiseEscalation("requested_agent", priority=2),) == last.effects


@pytest.mark.parametrize("at", range(1, 8))
def test_cooling_off_nine_anywhere_opts_out_without_checking_identity(at: int) -> None:
    """9 alone at the identity question, an identity entry or any question opts out at once."""
    keys = [*VERIFIED, "1", "1", "1", "1"][:at]
    last = cooling(*keys[:-1], "9#" if at in (2, 3) else "9")[-1]
    assert FlowOutcome.OPTED_OUT == last.state.outcome
    assert (OptOut(),) == last.effects


@pytest.mark.parametrize("bad", ["", "7"])
def test_cooling_off_invalid_key_twice_at_a_question_escalates_partial_and_ends(bad: str) -> None:
    """Silence or an invalid key re-prompts once, then escalates partial and ends the call."""
    transitions = cooling(*VERIFIED, "1", bad, bad)
    assert transitions[-2].step is not None
    assert COOLING.reprompt == transitions[-2].step.prompts[0]
    assert ["partial"] == reasons(transitions)
    assert FlowOutcome.PARTIAL == transitions[-1].state.outcome


def test_cooling_off_someone_else_answering_ends_as_wrong_person_without_escalation() -> None:
    """2 at the identity question: wrong_person; the shell decides on a retry or escalation."""
    transitions = cooling("2")
    assert FlowOutcome.WRONG_PERSON == transitions[-1].state.outcome
    assert [] == reasons(transitions)


def test_cooling_off_silence_at_the_identity_question_is_not_reached() -> None:
    """Nobody confirming who answered is no_response, retried by the shell."""
    assert FlowOutcome.NO_RESPONSE == cooling("", "")[-1].state.outcome
