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
    load_flow_file,
    load_shipped_flow,
    parse_flow,
    shipped_flow_path,
)
from ivr.flows.model import AskNode, EndNode, EscalateNode, FlowOutcome, SayNode

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


@pytest.mark.parametrize("placeholder", ["phone", "id_number", "0", "", "name.upper"])
def test_unknown_placeholder_is_refused(placeholder: str) -> None:
    """Prompts may only name the allowed case fields (no phone or identity numbers)."""
    text = "Hi {" + placeholder + "}."
    error = refused(edited(edit_node("hello", prompt=texts(en=text))))
    assert "hello" == error.node_id
    assert f"{{{placeholder}}}" in error.reason
    assert "allowed: department, discharge_date, name, organisation" in error.reason


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
            "unknown kind 'dance' (say, ask, escalate, end)",
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
