"""The flow loader refuses every definition that could fail at call time, naming file and node."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.flows.loader import (
    FlowError,
    check_flow_file,
    load_flow_file,
    load_shipped_flow,
    parse_flow,
    shipped_flow_path,
)
from ivr.flows.model import (
    AskNode,
    Audio,
    BranchCase,
    BranchNode,
    EndNode,
    EscalateNode,
    FlowOutcome,
    Prompt,
    SayNode,
    TransferNode,
    VerifyNode,
)

PATH = "flows/test-flow.yaml"


def texts(en: str = "Hello {name}.", zh: str = "您好{name}。") -> dict[str, str]:
    """A prompt in both languages."""
    return {"en-US": en, "zh-CN": zh}


def valid() -> dict[str, Any]:
    """A small valid flow: say, ask (agent key 0), escalate, ends."""
    return {
        "id": "test-flow",
        "languages": ["zh-CN", "en-US"],
        "start": "hello",
        "agent_key": "0",
        "agent_node": "agent",
        "reprompt": texts("Sorry.", "对不起。"),
        "nodes": {
            "hello": {"kind": "say", "prompt": texts(), "next": "ask"},
            "ask": {
                "kind": "ask",
                "prompt": texts("Press 1 or 2.", "请按1或2。"),
                "answer": "q",
                "next": "done",
                "on_no_input": "done",
                "keys": {"1": "one", 2: {"value": "two", "next": "flag"}},
            },
            "flag": {"kind": "escalate", "reason": "clinical_concern", "next": "done"},
            "done": {"kind": "end", "outcome": "completed", "prompt": texts("Bye.", "再见。")},
            "agent": {"kind": "end", "outcome": "requested_agent"},
        },
    }


def edited(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A copy of the valid flow with one change applied."""
    raw = copy.deepcopy(valid())
    change(raw)
    return raw


def refused(raw: Any) -> FlowError:
    """The FlowError parse_flow raises for raw."""
    with pytest.raises(FlowError) as info:
        parse_flow(raw, PATH)
    return info.value


def test_shipped_post_discharge_flow_loads() -> None:
    """The product's own flow is valid and speaks both languages."""
    flow = load_shipped_flow("post-discharge")
    assert ("zh-CN", "en-US") == flow.languages
    assert "identify" == flow.start
    assert "0" == flow.agent_key
    assert isinstance(flow.node("closing"), EndNode)


def test_valid_flow_parses_keys_shorthand_and_defaults() -> None:
    """Shorthand keys take the node's next; integers become key strings; defaults apply."""
    flow = parse_flow(valid(), PATH)
    ask = flow.node("ask")
    assert isinstance(ask, AskNode)
    assert {"1": ("one", "done"), "2": ("two", "flag")} == {
        k: (c.value, c.next) for k, c in ask.choices.items()
    }
    assert (1, 6) == (ask.retries, ask.timeout_s)
    assert isinstance(flow.node("hello"), SayNode)
    assert "partial" == flow.hangup_reason


def edit_node(node_id: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets fields of one node (None deletes the field)."""

    def change(raw: dict[str, Any]) -> None:
        node = raw["nodes"][node_id]
        for key, value in changes.items():
            if value is None:
                node.pop(key, None)
            else:
                node[key] = value

    return change


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        pytest.param(
            edit_node("hello", next="nowhere"), "hello", "unknown node 'nowhere'", id="say"
        ),
        pytest.param(
            edit_node("ask", keys={"1": {"value": "x", "next": "gone"}}),
            "ask",
            "unknown node 'gone'",
            id="key-next",
        ),
        pytest.param(
            edit_node("ask", on_no_input="void"), "ask", "unknown node 'void'", id="on-no-input"
        ),
        pytest.param(
            edit_node("flag", next="nope"), "flag", "unknown node 'nope'", id="escalate-next"
        ),
    ],
)
def test_reference_to_an_unknown_node_is_refused(
    change: Callable[[dict[str, Any]], None], node_id: str, reason: str
) -> None:
    """A next that names no node fails at load time, naming the node that refers to it."""
    error = refused(edited(change))
    assert (PATH, node_id) == (error.path, error.node_id)
    assert reason in error.reason
    assert PATH in str(error) and repr(node_id) in str(error)


def test_unknown_start_or_agent_node_is_refused() -> None:
    """The top-level references are checked too."""
    assert "start names unknown node" in refused(edited(lambda r: r.update(start="x"))).reason
    assert "agent_node names unknown" in refused(edited(lambda r: r.update(agent_node="x"))).reason


def test_unreachable_node_is_refused() -> None:
    """A node nothing leads to is a mistake in the graph."""

    def add_orphan(raw: dict[str, Any]) -> None:
        raw["nodes"]["orphan"] = {"kind": "end", "outcome": "completed"}

    error = refused(edited(add_orphan))
    assert ("orphan", "is unreachable from the start") == (error.node_id, error.reason)


def test_node_with_no_path_to_an_end_is_refused() -> None:
    """Say nodes that only lead to each other would trap the call."""

    def add_loop(raw: dict[str, Any]) -> None:
        raw["nodes"]["ask"]["keys"]["3"] = {"value": "three", "next": "loop_a"}
        raw["nodes"]["loop_a"] = {"kind": "say", "prompt": texts(), "next": "loop_b"}
        raw["nodes"]["loop_b"] = {"kind": "say", "prompt": texts(), "next": "loop_a"}

    error = refused(edited(add_loop))
    assert ("loop_a", "has no way to reach an end node") == (error.node_id, error.reason)


@pytest.mark.parametrize("language", ["en-US", "zh-CN"])
def test_prompt_missing_a_language_is_refused(language: str) -> None:
    """Every prompt speaks every language of the flow."""

    def drop(raw: dict[str, Any]) -> None:
        del raw["nodes"]["ask"]["prompt"][language]

    error = refused(edited(drop))
    assert "ask" == error.node_id
    assert f"prompt has no text for language {language}" == error.reason


def test_blank_prompt_text_is_refused() -> None:
    """A prompt of only spaces says nothing."""
    error = refused(edited(edit_node("done", prompt=texts("  "))))
    assert ("done", "prompt has no text for language en-US") == (error.node_id, error.reason)


def test_reprompt_missing_a_language_is_refused_without_a_node() -> None:
    """The top-level re-prompt is named as such."""
    error = refused(edited(lambda r: r.update(reprompt={"zh-CN": "对不起。"})))
    assert error.node_id is None
    assert "reprompt has no text for language en-US" == error.reason


@pytest.mark.parametrize("key", ["A", "1a", "", "+"])
def test_key_outside_the_keypad_is_refused(key: str) -> None:
    """Keys are made of 0-9, * and #."""
    error = refused(edited(edit_node("ask", keys={key: "x"})))
    assert "ask" == error.node_id
    assert f"key {key!r} is not made of 0-9 * #" == error.reason


@pytest.mark.parametrize("key", ["*", "#", "12", "9*"])
def test_keypad_keys_are_accepted(key: str) -> None:
    """Star, hash and multi-key entries are valid keys."""
    flow = parse_flow(edited(edit_node("ask", keys={key: {"value": "x", "next": "flag"}})), PATH)
    ask = flow.node("ask")
    assert isinstance(ask, AskNode)
    assert [key] == list(ask.choices)


def test_agent_key_outside_the_keypad_is_refused() -> None:
    """The agent key is checked like any key."""
    error = refused(edited(lambda r: r.update(agent_key="x")))
    assert error.node_id is None
    assert "agent_key 'x' is not one of 0-9 * #" == error.reason


def test_agent_key_used_by_a_question_is_refused() -> None:
    """A question cannot give the agent key another meaning."""
    error = refused(edited(edit_node("ask", keys={"0": "zero", "1": "one"})))
    assert ("ask", "key '0' is reserved for the agent") == (error.node_id, error.reason)


def test_agent_key_without_agent_node_is_refused() -> None:
    """The two settings go together."""
    error = refused(edited(lambda r: r.pop("agent_node")))
    assert "agent_key and agent_node go together" == error.reason


@pytest.mark.parametrize("placeholder", ["phone", "id_card", "0", "", "name.upper"])
def test_unknown_placeholder_is_refused(placeholder: str) -> None:
    """Prompts may only name the allowed case fields (no phone or identity numbers)."""
    text = "Hi {" + placeholder + "}."
    error = refused(edited(edit_node("hello", prompt=texts(en=text))))
    assert "hello" == error.node_id
    assert f"{{{placeholder}}}" in error.reason
    assert "allowed: appointment_content, appointment_date, cooling_off_days, crew," in error.reason


@pytest.mark.parametrize("text", ["Hi {name", "Hi }", "Hi {name}}"])
def test_unbalanced_brace_is_refused_as_a_flow_error(text: str) -> None:
    """A brace that format() would choke on at call time fails at load time instead."""
    error = refused(edited(edit_node("hello", prompt=texts(en=text))))
    assert "hello" == error.node_id
    assert error.reason.startswith("prompt (en-US): ")


def test_unbalanced_brace_in_the_reprompt_is_a_flow_error() -> None:
    """The top-level re-prompt is checked the same way (it was a bare ValueError)."""
    error = refused(edited(lambda r: r.update(reprompt=texts(en="Sorry {"))))
    assert error.node_id is None
    assert error.reason.startswith("reprompt (en-US): ")


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        (
            edit_node("hello", kind="dance"),
            "hello",
            "unknown kind 'dance' (say, ask, verify, branch, escalate, transfer, end)",
        ),
        (edit_node("hello", next=None), "hello", "say node needs 'next'"),
        (edit_node("flag", reason=None), "flag", "escalate node needs 'reason'"),
        (edit_node("done", outcome="great"), "done", "'great' is not a valid FlowOutcome"),
        (edit_node("ask", keys={}), "ask", "ask node needs keys"),
        (edit_node("ask", retries=6), "ask", "retries must be 0-5 and timeout 1-30 seconds"),
        (edit_node("ask", timeout=0), "ask", "retries must be 0-5 and timeout 1-30 seconds"),
        (edit_node("ask", timeout="soon"), "ask", "invalid literal for int()"),
        (
            edit_node("ask", next=None, keys={"1": "one"}),
            "ask",
            "key '1' has no next node and the node no next",
        ),
        (
            edit_node("ask", next=None, on_no_input=None, keys={"1": {"next": "done"}}),
            "ask",
            "ask node needs on_no_input (or next)",
        ),
        (edit_node("ask", keys={"1": ["x"]}), "ask", "key '1' must be a value or a mapping"),
    ],
)
def test_malformed_node_is_refused(
    change: Callable[[dict[str, Any]], None], node_id: str, reason: str
) -> None:
    """Each node-level mistake names the node and what is wrong."""
    error = refused(edited(change))
    assert (PATH, node_id) == (error.path, error.node_id)
    assert reason in error.reason


def test_node_that_is_not_a_mapping_is_refused() -> None:
    """A node written as a bare string is named."""
    raw = valid()
    raw["nodes"]["hello"] = "say hi"
    assert ("hello", "a node must be a mapping") == (refused(raw).node_id, refused(raw).reason)


@pytest.mark.parametrize("key", ["id", "languages", "start", "nodes", "reprompt"])
def test_missing_top_level_key_is_refused(key: str) -> None:
    """The flow's required keys are each named when absent."""
    error = refused(edited(lambda r: r.pop(key)))
    assert (None, f"missing top-level key {key!r}") == (error.node_id, error.reason)


@pytest.mark.parametrize("languages", [[], ["fr-FR"], "zh-CN"])
def test_unknown_languages_are_refused(languages: Any) -> None:
    """Only the languages we have voices for are allowed."""
    error = refused(edited(lambda r: r.update(languages=languages)))
    assert error.reason.startswith("languages must be among")


@pytest.mark.parametrize("raw", [None, [], "flow"])
def test_a_document_that_is_not_a_mapping_is_refused(raw: Any) -> None:
    """An empty file or a list is not a flow."""
    assert "a flow must be a mapping" == refused(raw).reason


def test_load_flow_file_reads_and_validates_yaml(tmp_path: Path) -> None:
    """A flow written as YAML loads like the parsed mapping."""
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(valid(), allow_unicode=True), encoding="utf-8")
    assert parse_flow(valid(), str(path)) == load_flow_file(path)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    """A YAML syntax error is a FlowError naming the file."""
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nnodes: [unclosed\n", encoding="utf-8")
    with pytest.raises(FlowError) as info:
        load_flow_file(path)
    assert (str(path), None) == (info.value.path, info.value.node_id)
    assert info.value.reason.startswith("bad YAML: ")
    assert str(path) in str(info.value)


def test_invalid_flow_in_a_file_names_file_and_node(tmp_path: Path) -> None:
    """Graph errors found in a file carry that file's path."""
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(edited(edit_node("hello", next="x"))), encoding="utf-8")
    with pytest.raises(FlowError) as info:
        load_flow_file(path)
    assert (str(path), "hello") == (info.value.path, info.value.node_id)
    assert str(info.value).startswith(f"{path}: node 'hello': ")


def test_missing_file_is_a_flow_error(tmp_path: Path) -> None:
    """An unreadable file is reported, not an OSError."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(FlowError, match="cannot read") as info:
        load_flow_file(path)
    assert str(path) == info.value.path


def test_unknown_shipped_flow_is_a_flow_error() -> None:
    """Asking for a flow the product does not ship names the expected path."""
    with pytest.raises(FlowError, match="no shipped flow named 'nope'") as info:
        load_shipped_flow("nope")
    assert str(shipped_flow_path("nope")) == info.value.path


def test_outcomes_of_end_nodes_are_parsed() -> None:
    """End nodes carry their outcome as the enum."""
    flow = parse_flow(valid(), PATH)
    agent = flow.node("agent")
    assert isinstance(agent, EndNode)
    assert (FlowOutcome.REQUESTED_AGENT, None) == (agent.outcome, agent.prompt)


def test_escalate_priority_defaults_to_the_reasons_terms() -> None:
    """Without a priority the escalation takes its reason's terms; a given one is kept."""
    default = parse_flow(valid(), PATH).node("flag")
    explicit = parse_flow(edited(edit_node("flag", priority=1)), PATH).node("flag")
    assert isinstance(default, EscalateNode) and isinstance(explicit, EscalateNode)
    assert (None, 1) == (default.priority, explicit.priority)


# Verify, branch, transfer, audio prompts and the campaign check.


def full() -> dict[str, Any]:
    """The valid flow with a verify, a branch and a transfer node on the way from "ask"."""
    raw = valid()
    raw["nodes"]["ask"]["keys"]["1"] = {"value": "one", "next": "dob"}
    raw["nodes"].update(
        {
            "dob": {
                "kind": "verify",
                "item": "dob",
                "prompt": texts("Date of birth.", "出生日期。"),
                "max_digits": 8,
                "next": "route",
                "on_fail": "flag",
            },
            "route": {
                "kind": "branch",
                "cases": [
                    {"answer": "q", "in": ["two"], "next": "done"},
                    {"verified_all": ["dob"], "next": "line"},
                ],
                "else": "done",
            },
            "line": {
                "kind": "transfer",
                "prompt": texts("Connecting.", "正在转接。"),
                "to": "{transfer_number}",
            },
        }
    )
    return raw


TO_LINE = {"verified_all": ["dob"], "next": "line"}


def full_with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A copy of the full flow with one change applied."""
    raw = full()
    change(raw)
    return raw


def test_shipped_cooling_off_flow_loads_with_both_identity_items() -> None:
    """The cooling-off flow is valid: dob (8 digits, #) then id_last4 (* as X)."""
    flow = load_shipped_flow("cooling-off")
    dob, last4 = flow.node("dob"), flow.node("id_last4")
    assert isinstance(dob, VerifyNode) and isinstance(last4, VerifyNode)
    assert ("dob", 8, "#", None) == (dob.item, dob.max_digits, dob.finish_on_key, dob.star_as)
    assert ("id_last4", 4, "X") == (last4.item, last4.max_digits, last4.star_as)
    assert ("zh-CN", "en-US") == flow.languages


def test_verify_branch_and_transfer_nodes_parse() -> None:
    """Each new kind becomes its node with defaults filled in."""
    flow = parse_flow(full(), PATH)
    dob, route, line = flow.node("dob"), flow.node("route"), flow.node("line")
    assert isinstance(dob, VerifyNode)
    assert (
        VerifyNode("dob", "dob", dob.prompt, "route", "flag", 8, "#", None, 1, None, None, 10)
        == dob
    )
    assert (
        BranchNode(
            "route",
            (
                BranchCase("done", "q", frozenset({"two"})),
                BranchCase("line", verified_all=("dob",)),
            ),
            "done",
        )
        == route
    )
    assert isinstance(line, TransferNode)
    assert ("{transfer_number}", FlowOutcome.REQUESTED_AGENT) == (line.to, line.outcome)


def test_audio_prompt_parses_per_language() -> None:
    """{audio: FILE} in one language, text in the other."""
    raw = full_with(edit_node("hello", prompt={"zh-CN": {"audio": "hello_zh.wav"}, "en-US": "Hi."}))
    prompt = parse_flow(raw, PATH).node("hello")
    assert isinstance(prompt, SayNode)
    assert Prompt({"zh-CN": Audio("hello_zh.wav"), "en-US": "Hi."}) == prompt.prompt


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        pytest.param(
            edit_node("dob", on_fail=None),
            "dob",
            "verify node needs 'on_fail'",
            id="verify-no-fail",
        ),
        pytest.param(edit_node("dob", item=None), "dob", "verify node needs 'item'", id="no-item"),
        pytest.param(
            edit_node("dob", item="Date Of Birth"),
            "dob",
            "item 'Date Of Birth' must be a lower-case identifier",
            id="bad-item",
        ),
        pytest.param(
            edit_node("dob", finish_on_key="5"),
            "dob",
            "finish_on_key '5' must be '#', '*' or ''",
            id="finish-key",
        ),
        pytest.param(
            edit_node("dob", star_as="XY"), "dob", "star_as 'XY' must be one letter", id="star-as"
        ),
        pytest.param(
            edit_node("dob", star_as="X", finish_on_key="*"),
            "dob",
            "'*' cannot both finish the entry and stand for a letter",
            id="star-finish",
        ),
        pytest.param(
            edit_node("dob", max_digits=0),
            "dob",
            "max_digits must be 1-20, retries 0-5, timeout 1-30 seconds",
            id="max-digits",
        ),
        pytest.param(
            edit_node("dob", on_fail="gone"), "dob", "refers to unknown node 'gone'", id="fail-ref"
        ),
        pytest.param(
            edit_node("route", **{"else": None}),
            "route",
            "branch node needs 'else'",
            id="branch-no-else",
        ),
        pytest.param(
            edit_node("route", cases=[]), "route", "branch node needs cases", id="no-cases"
        ),
        pytest.param(
            edit_node("route", cases=[{"next": "done"}]),
            "route",
            "case 1 has no condition",
            id="no-condition",
        ),
        pytest.param(
            edit_node("route", cases=[{"answer": "q", "next": "done"}]),
            "route",
            "case 1: answer and in go together",
            id="answer-no-in",
        ),
        pytest.param(
            edit_node("route", cases=[{"answer": "mood", "in": ["x"], "next": "done"}, TO_LINE]),
            "route",
            "tests answer 'mood', which no question saves",
            id="unknown-answer",
        ),
        pytest.param(
            edit_node("route", cases=[{"answer": "q", "in": ["three"], "next": "done"}, TO_LINE]),
            "route",
            "answer 'q' is never 'three'",
            id="never-value",
        ),
        pytest.param(
            edit_node("route", cases=[{"verified_all": ["id_last4"], "next": "line"}]),
            "route",
            "tests item 'id_last4', which no verify node checks",
            id="unchecked-item",
        ),
        pytest.param(
            edit_node("route", cases=[{"verified_all": ["dob"], "next": "nowhere"}]),
            "route",
            "refers to unknown node 'nowhere'",
            id="case-ref",
        ),
        pytest.param(
            edit_node("line", to="call the manager"),
            "line",
            "to 'call the manager' must be a phone number or one of {transfer_number}",
            id="transfer-to",
        ),
        pytest.param(
            edit_node("line", prompt=None), "line", "transfer node needs 'prompt'", id="no-prompt"
        ),
        pytest.param(
            edit_node("dob", on_fial="flag"),
            "dob",
            "verify node has unknown field 'on_fial'",
            id="typo",
        ),
        pytest.param(
            edit_node("hello", prompt={"zh-CN": {"audio": "../secret.wav"}, "en-US": "Hi."}),
            "hello",
            "audio file '../secret.wav' must be a plain .wav or .mp3 name",
            id="audio-path",
        ),
        pytest.param(
            edit_node("hello", prompt={"zh-CN": {"file": "a.wav"}, "en-US": "Hi."}),
            "hello",
            "prompt (zh-CN) must be a text or {audio: FILE}",
            id="audio-form",
        ),
        pytest.param(
            edit_node("dob", prompt={"zh-CN": "出生日期。"}),
            "dob",
            "prompt has no text for language en-US",
            id="missing-language",
        ),
        pytest.param(
            edit_node("dob", wrong={"en-US": "Wrong."}),
            "dob",
            "wrong has no text for language zh-CN",
            id="wrong-language",
        ),
    ],
)
def test_malformed_new_node_is_refused(
    change: Callable[[dict[str, Any]], None], node_id: str, reason: str
) -> None:
    """Each mistake in a verify, branch, transfer node or audio prompt names node and problem."""
    error = refused(full_with(change))
    assert (PATH, node_id) == (error.path, error.node_id)
    assert reason in error.reason


@pytest.mark.parametrize("fact", ["dob", "id_last4", "id_number"])
def test_prompt_naming_an_identity_fact_is_refused(fact: str) -> None:
    """Identity facts are never said, whatever the node."""
    error = refused(full_with(edit_node("dob", prompt=texts(en=f"Is it {{{fact}}}?"))))
    assert "dob" == error.node_id
    assert f"names {{{fact}}}: prompts never say identity facts" in error.reason


@pytest.mark.parametrize(
    "field",
    "insurer policy_number_digits premium payment_years cooling_off_days appointment_date".split(),
)
def test_case_field_placeholders_are_allowed(field: str) -> None:
    """The cooling-off and care fields may be named in prompts."""
    parse_flow(full_with(edit_node("hello", prompt=texts(en=f"About {{{field}}}."))), PATH)


def test_a_fact_the_flow_verifies_is_never_said() -> None:
    """Verifying the premium and reading it out would give the answer away."""
    raw = full_with(edit_node("dob", item="premium"))
    raw["nodes"]["route"]["cases"][1]["verified_all"] = ["premium"]
    raw["nodes"]["hello"]["prompt"] = texts(en="Your premium is {premium}.")
    error = refused(raw)
    assert ("hello", "prompt says {premium}, which this flow verifies") == (
        error.node_id,
        error.reason,
    )


def test_branch_loop_that_never_asks_is_refused() -> None:
    """Two branches sending each other round would spin the engine."""

    def change(raw: dict[str, Any]) -> None:
        raw["nodes"]["route"]["cases"][0]["next"] = "again"
        raw["nodes"]["again"] = {
            "kind": "branch",
            "cases": [{"verified_all": ["dob"], "next": "route"}],
            "else": "done",
        }

    error = refused(full_with(change))
    assert error.node_id in {"route", "again"}
    assert "loops back to itself without asking anything" == error.reason


def test_unknown_top_level_key_is_refused() -> None:
    """A misspelt top-level setting is not silently ignored."""
    error = refused(edited(lambda r: r.update(agentkey="0")))
    assert (None, "unknown top-level key 'agentkey'") == (error.node_id, error.reason)


def write(tmp_path: Path, raw: dict[str, Any], name: str = "flow.yaml") -> Path:
    """Write a flow as YAML and return its path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_check_flow_file_accepts_the_campaign_languages_it_has(tmp_path: Path) -> None:
    """A campaign calling in a subset of the flow's languages is fine."""
    path = write(tmp_path, full())
    assert parse_flow(full(), str(path)) == check_flow_file(path, ["zh-CN"])


def test_check_flow_file_refuses_a_campaign_language_the_flow_lacks(tmp_path: Path) -> None:
    """A campaign calling in English needs an English flow."""
    raw = full()
    raw["languages"] = ["zh-CN"]
    path = write(tmp_path, raw)
    with pytest.raises(FlowError) as info:
        check_flow_file(path, ["zh-CN", "en-US"])
    assert (str(path), None) == (info.value.path, info.value.node_id)
    assert "has no prompts for en-US (the campaign calls in it)" == info.value.reason


def test_check_flow_file_finds_missing_audio_files(tmp_path: Path) -> None:
    """With a prompts folder, every audio prompt must be a file in it."""
    raw = full_with(edit_node("hello", prompt={"zh-CN": {"audio": "hi.wav"}, "en-US": "Hi."}))
    path = write(tmp_path, raw)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    with pytest.raises(FlowError) as info:
        check_flow_file(path, prompts_dir=prompts)
    assert ("hello", f"audio file 'hi.wav' is not in {prompts}") == (
        info.value.node_id,
        info.value.reason,
    )
    (prompts / "hi.wav").write_bytes(b"RIFF")
    assert "test-flow" == check_flow_file(path, prompts_dir=prompts).id


# The opt-out key: a flow-level key, like the agent's, that lists the number do-not-call.


def with_opt_out(raw: dict[str, Any]) -> None:
    """Give the valid flow opt-out key 9 and its goodbye node."""
    raw.update(opt_out_key="9", opt_out_node="stop")
    raw["nodes"]["stop"] = {
        "kind": "end",
        "outcome": "opted_out",
        "prompt": texts("Bye.", "再见。"),
    }


def test_opt_out_key_and_node_are_read() -> None:
    """The key and its end node parse; the node counts as reachable, like the agent's."""
    flow = parse_flow(edited(with_opt_out), PATH)
    assert ("9", "stop") == (flow.opt_out_key, flow.opt_out_node)
    assert FlowOutcome.OPTED_OUT == getattr(flow.node("stop"), "outcome", None)


def test_opt_out_key_used_by_a_question_is_refused() -> None:
    """9 cannot be both "stop calling me" and an answer of some question."""

    def change(raw: dict[str, Any]) -> None:
        with_opt_out(raw)
        edit_node("ask", keys={"1": "one", "9": "nine"})(raw)

    error = refused(edited(change))
    assert ("ask", "key '9' is reserved for opting out") == (error.node_id, error.reason)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"opt_out_node": None}, "opt_out_key and opt_out_node go together"),
        ({"opt_out_key": "x"}, "opt_out_key 'x' is not one of 0-9 * #"),
        ({"opt_out_key": "0"}, "opt_out_key and agent_key must differ"),
        ({"opt_out_node": "gone"}, "opt_out_node names unknown node 'gone'"),
    ],
)
def test_bad_opt_out_settings_are_refused(change: dict[str, str | None], reason: str) -> None:
    """The two settings go together, name a keypad key other than the agent's and a real node."""

    def apply(raw: dict[str, Any]) -> None:
        with_opt_out(raw)
        for key, value in change.items():
            if value is None:
                raw.pop(key)
            else:
                raw[key] = value

    error = refused(edited(apply))
    assert (None, reason) == (error.node_id, error.reason)


def test_opt_out_node_that_is_not_an_opted_out_end_is_refused() -> None:
    """The key must end the call as opted_out: not lead into the survey or another ending."""

    def change(raw: dict[str, Any]) -> None:
        with_opt_out(raw)
        raw["nodes"]["stop"]["outcome"] = "completed"

    error = refused(edited(change))
    assert ("stop", "the opt_out_node must be an end node with outcome opted_out") == (
        error.node_id,
        error.reason,
    )


def test_an_opted_out_ending_the_key_does_not_lead_to_is_refused() -> None:
    """Only the key lists the number, so no other path may end a call as opted_out."""
    error = refused(edited(edit_node("done", outcome="opted_out")))
    assert ("done", "only the opt_out_node may end a flow as opted_out") == (
        error.node_id,
        error.reason,
    )


@pytest.mark.parametrize(
    "flow_id",
    [p.stem for p in shipped_flow_path("post-discharge").parent.glob("*.yaml")],
)
def test_every_shipped_flow_offers_9_to_stop_the_calls_in_its_first_question(flow_id: str) -> None:
    """Each program takes 9 at any question and says so when it first asks for a key."""
    flow = load_shipped_flow(flow_id)
    assert "9" == flow.opt_out_key
    first = next(n for n in flow.nodes.values() if isinstance(n, AskNode))
    assert "请按9" in first.prompt.text("zh-CN")
    assert "press 9" in first.prompt.text("en-US")
