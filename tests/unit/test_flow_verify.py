"""Identity verification in the flow engine: the shell's verify() decides, the digits go nowhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivr.flows.engine import FlowStateError, Verify, advance, current_step, start
from ivr.flows.loader import parse_flow
from ivr.flows.model import (
    Flow,
    FlowOutcome,
    FlowState,
    Gather,
    Hangup,
    IdentityChecked,
    Input,
    RaiseEscalation,
    Step,
    Transition,
    VerifyNode,
)

DOB = "19671123"
ID_LAST4 = "071X"
FACTS = {"dob": DOB, "id_last4": ID_LAST4}


def texts(en: str) -> dict[str, str]:
    """A prompt in the flow's one language."""
    return {"en-US": en}


def flow_yaml(**dob_changes: Any) -> dict[str, Any]:
    """A flow that checks dob then id_last4 (star as X) and branches on both being verified."""
    dob = {
        "kind": "verify",
        "item": "dob",
        "prompt": texts("Date of birth, then hash."),
        "wrong": texts("That does not match."),
        "max_digits": 8,
        "retries": 1,
        "next": "id_last4",
        "on_fail": "failed",
        "on_no_input": "silent",
        **dob_changes,
    }
    return {
        "id": "verify-test",
        "languages": ["en-US"],
        "start": "dob",
        "agent_key": "0",
        "agent_node": "agent",
        "reprompt": texts("Sorry, nothing came through."),
        "nodes": {
            "dob": {k: v for k, v in dob.items() if v is not None},
            "id_last4": {
                "kind": "verify",
                "item": "id_last4",
                "prompt": texts("Last four, star for X."),
                "max_digits": 4,
                "star_as": "X",
                "retries": 0,
                "next": "check",
                "on_fail": "failed",
            },
            "check": {
                "kind": "branch",
                "cases": [{"verified_all": ["dob", "id_last4"], "next": "done"}],
                "else": "failed",
            },
            "failed": {"kind": "escalate", "reason": "identity_failed", "next": "bye"},
            "silent": {"kind": "escalate", "reason": "partial", "next": "bye"},
            "done": {"kind": "end", "outcome": "completed", "prompt": texts("Thanks.")},
            "bye": {"kind": "end", "outcome": "partial", "prompt": texts("Goodbye.")},
            "agent": {"kind": "end", "outcome": "requested_agent"},
        },
    }


FLOW = parse_flow(flow_yaml(), "verify-test.yaml")


class Checker:
    """The shell's verify(): compares with known facts and remembers what it was asked."""

    def __init__(self, facts: dict[str, str] = FACTS) -> None:
        self.facts = facts
        self.calls: list[tuple[str, str]] = []

    def __call__(self, item: str, entry: str) -> bool:
        self.calls.append((item, entry))
        return self.facts.get(item) == entry


def run(flow: Flow, *keys: str, verify: Verify | None = None) -> list[Transition]:
    """Start a flow and press each entry of keys in turn, with the given verify()."""
    transitions = [start(flow)]
    check = verify if verify is not None else Checker()
    for digits in keys:
        transitions.append(advance(flow, transitions[-1].state, Input(digits), verify=check))
    return transitions


def node(flow: Flow, node_id: str) -> VerifyNode:
    """A verify node of a flow."""
    found = flow.node(node_id)
    assert isinstance(found, VerifyNode)
    return found


def escalations(transitions: list[Transition]) -> list[str]:
    """The reasons escalated over a run, in order."""
    return [e.reason for t in transitions for e in t.effects if isinstance(e, RaiseEscalation)]


def test_verify_step_gathers_up_to_max_digits_with_the_finish_key_and_is_sensitive() -> None:
    """The first step asks for the date of birth: 8 digits, # to finish, recording paused."""
    dob = node(FLOW, "dob")
    assert Step((dob.prompt,), Gather(8, 10, "#"), sensitive=True) == start(FLOW).step


def test_both_items_matching_completes_and_records_only_item_names() -> None:
    """Two matches pass the branch; the state keeps the names verified, nothing else."""
    checker = Checker()
    transitions = run(FLOW, DOB + "#", "071*", verify=checker)
    last = transitions[-1]
    assert FlowOutcome.COMPLETED == last.state.outcome
    assert ("dob", "id_last4") == last.state.verified
    assert [("dob", DOB), ("id_last4", ID_LAST4)] == checker.calls
    assert [(IdentityChecked("dob", True),), (IdentityChecked("id_last4", True),)] == [
        t.effects for t in transitions[1:]
    ]


def test_star_is_passed_to_verify_as_the_configured_letter() -> None:
    """The keypad has no X: "*" reaches verify() as "X", only at a node with star_as."""
    checker = Checker()
    run(FLOW, "1967*123", DOB, "12*4", verify=checker)
    assert [("dob", "1967*123"), ("dob", DOB), ("id_last4", "12X4")] == checker.calls


def test_wrong_entry_is_asked_once_more_after_the_wrong_prompt() -> None:
    """A mismatch re-asks with the node's own wrong prompt, keeping the call sensitive."""
    _, again = run(FLOW, "19991231")
    dob = node(FLOW, "dob")
    assert dob.wrong is not None
    assert Step((dob.wrong, dob.prompt), Gather(8, 10, "#"), sensitive=True) == again.step
    assert (1, "dob", ()) == (again.state.tries, again.state.node, again.state.verified)
    assert (IdentityChecked("dob", False),) == again.effects


def test_wrong_entry_without_a_wrong_prompt_uses_the_reprompt() -> None:
    """With no wrong prompt the flow's reprompt comes before the question again."""
    flow = parse_flow(flow_yaml(wrong=None), "verify-test.yaml")
    _, again = run(flow, "19991231")
    assert again.step is not None
    assert (flow.reprompt, node(flow, "dob").prompt) == again.step.prompts


def test_wrong_twice_goes_to_on_fail_and_escalates_identity_failed() -> None:
    """Once the retries are used up on wrong entries the flow takes on_fail."""
    transitions = run(FLOW, "19991231", "20000101")
    last = transitions[-1]
    assert FlowOutcome.PARTIAL == last.state.outcome
    assert ["identity_failed"] == escalations(transitions)
    assert () == last.state.verified
    assert last.step is not None and not last.step.sensitive


def test_a_right_entry_after_a_wrong_one_passes_with_fresh_tries() -> None:
    """The second try can succeed; the next item starts with its tries at 0."""
    _, _, after = run(FLOW, "19991231", DOB)
    assert ("id_last4", 0, ("dob",)) == (after.state.node, after.state.tries, after.state.verified)


def test_retries_zero_fails_on_the_first_wrong_entry() -> None:
    """id_last4 has no retries: one wrong entry fails identity."""
    transitions = run(FLOW, DOB, "9999")
    assert ["identity_failed"] == escalations(transitions)


@pytest.mark.parametrize("entry", ["123456789", "1967-11-23", "19671123A"])
def test_malformed_entries_count_as_wrong_without_asking_verify(entry: str) -> None:
    """Too long or foreign characters never reach verify() and use up a try."""
    checker = Checker()
    _, again = run(FLOW, entry, verify=checker)
    assert [] == checker.calls
    assert (1, (IdentityChecked("dob", False),)) == (again.state.tries, again.effects)


def test_silence_reprompts_then_takes_on_no_input() -> None:
    """Silence is asked again after the reprompt, then goes to on_no_input, not on_fail."""
    transitions = run(FLOW, "", "")
    assert transitions[1].step is not None
    assert (FLOW.reprompt, node(FLOW, "dob").prompt) == transitions[1].step.prompts
    assert () == transitions[1].effects
    assert ["partial"] == escalations(transitions)


def test_silence_without_on_no_input_takes_on_fail() -> None:
    """on_no_input defaults to on_fail."""
    raw = flow_yaml(on_no_input=None)
    del raw["nodes"]["silent"]
    flow = parse_flow(raw, "verify-test.yaml")
    assert ["identity_failed"] == escalations(run(flow, "", ""))


def test_branch_refuses_when_not_every_item_was_verified() -> None:
    """A flow whose id_last4 failure goes on anyway still ends at the branch's else."""
    raw = flow_yaml()
    raw["nodes"]["id_last4"]["on_fail"] = "check"
    flow = parse_flow(raw, "verify-test.yaml")
    transitions = run(flow, DOB, "1111")
    assert ["identity_failed"] == escalations(transitions)
    assert ("dob",) == transitions[-1].state.verified


def test_agent_key_at_a_verify_node_hands_over() -> None:
    """0 alone at an identity entry is the agent key, never compared."""
    checker = Checker()
    last = run(FLOW, "0#", verify=checker)[-1]
    assert FlowOutcome.REQUESTED_AGENT == last.state.outcome
    assert [] == checker.calls


def test_verify_node_without_a_verify_function_is_a_state_error_without_digits() -> None:
    """The shell must pass verify(); the error says so and does not echo the entry."""
    state = start(FLOW).state
    with pytest.raises(FlowStateError, match="needs a verify function") as info:
        advance(FLOW, state, Input(DOB))
    assert DOB not in str(info.value) and DOB not in repr(info.value)


def test_verified_items_survive_the_json_round_trip() -> None:
    """The attempt row keeps the verified item names."""
    state = run(FLOW, DOB)[-1].state
    assert state == FlowState.from_json(json.loads(json.dumps(state.to_json())))
    assert ["dob"] == state.to_json()["verified"]


@pytest.mark.parametrize(
    "keys",
    [
        (DOB, "071*"),
        ("19991231", DOB, "071*"),
        ("19991231", "20000101"),
        (DOB, "0719"),
    ],
)
def test_keyed_digits_never_appear_in_state_effects_or_steps(keys: tuple[str, ...]) -> None:
    """Whatever is keyed, no state, JSON, effect or step of the run contains it."""
    transitions = run(FLOW, *keys)
    transitions.append(advance(FLOW, transitions[-1].state, Hangup()))
    entries = {k.rstrip("#") for k in keys} | {"071X", "0719"}
    for t in transitions:
        dumped = [repr(t.state), json.dumps(t.state.to_json()), repr(t.effects), repr(t.step)]
        for text in dumped:
            assert not any(entry in text for entry in entries), text


def test_current_step_at_a_verify_node_asks_again_sensitively() -> None:
    """A replayed request hears the identity question again, still paused."""
    state = run(FLOW, "19991231")[-1].state
    assert Step((node(FLOW, "dob").prompt,), Gather(8, 10, "#"), sensitive=True) == current_step(
        FLOW, state
    )


def test_hangup_at_identity_before_anyone_confirmed_is_no_response() -> None:
    """Hanging up at an identity entry follows the usual hang-up rule (here: not identified)."""
    state = start(FLOW).state
    assert FlowOutcome.NO_RESPONSE == advance(FLOW, state, Hangup()).state.outcome
