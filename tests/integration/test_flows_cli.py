"""`ivr flows check` as a user runs it: one line per file, exit 1 when any flow is broken."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ivr.flows.cli import flows
from ivr.flows.loader import shipped_flow_path


def texts(en: str) -> dict[str, str]:
    """A prompt in both languages."""
    return {"zh-CN": f"中文 {en}", "en-US": en}


GOOD: dict[str, Any] = {
    "id": "cli-flow",
    "languages": ["zh-CN", "en-US"],
    "start": "ask",
    "reprompt": texts("Sorry."),
    "nodes": {
        "ask": {
            "kind": "ask",
            "prompt": texts("Press 1, {name}."),
            "keys": {"1": {"value": "yes", "next": "dob", "identified": True}},
            "on_no_input": "done",
        },
        "dob": {
            "kind": "verify",
            "item": "dob",
            "prompt": texts("Date of birth."),
            "next": "route",
            "on_fail": "done",
        },
        "route": {
            "kind": "branch",
            "cases": [{"verified_all": ["dob"], "next": "done"}],
            "else": "done",
        },
        "done": {"kind": "end", "outcome": "completed"},
    },
}


def check(*args: str) -> Result:
    """Run `flows check` with arguments."""
    return CliRunner().invoke(flows, ["check", *args])


def write(tmp_path: Path, raw: Any, name: str = "flow.yaml") -> Path:
    """Write a flow file."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def broken(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A copy of the good flow with one change."""
    raw = copy.deepcopy(GOOD)
    change(raw)
    return raw


def set_node(node_id: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    """A change setting (None: deleting) fields of one node."""

    def change(raw: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                raw["nodes"][node_id].pop(key, None)
            else:
                raw["nodes"][node_id][key] = value

    return change


def add_node(node_id: str, spec: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A change adding one node."""
    return lambda raw: raw["nodes"].update({node_id: spec})


def test_a_good_file_prints_ok_with_nodes_and_languages(tmp_path: Path) -> None:
    """A valid flow: one ok line, exit 0."""
    path = write(tmp_path, GOOD)
    result = check(str(path))
    assert 0 == result.exit_code
    assert f"{path}: ok (4 nodes, languages zh-CN, en-US)\n" == result.output


def test_the_shipped_flows_check_ok() -> None:
    """Both product flows pass, several files at once, with both campaign languages."""
    files = [str(shipped_flow_path(name)) for name in ("post-discharge", "cooling-off")]
    result = check(*files, "--language", "zh-CN", "--language", "en-US")
    assert 0 == result.exit_code, result.output
    assert [f"{files[0]}: ok (11 nodes", f"{files[1]}: ok (19 nodes"] == [
        line.split(",")[0] for line in result.output.splitlines()
    ]


@pytest.mark.parametrize(
    ("change", "node_id", "reason"),
    [
        pytest.param(
            set_node("ask", on_no_input="gone"),
            "ask",
            "refers to unknown node 'gone'",
            id="unknown-reference",
        ),
        pytest.param(
            add_node("orphan", {"kind": "end", "outcome": "completed"}),
            "orphan",
            "is unreachable from the start",
            id="unreachable",
        ),
        pytest.param(
            lambda raw: raw["nodes"].update(
                ask={**raw["nodes"]["ask"], "on_no_input": "spin"},
                spin={"kind": "say", "prompt": texts("Hi."), "next": "spin"},
            ),
            "spin",
            "has no way to reach an end node",
            id="no-way-to-end",
        ),
        pytest.param(
            set_node("dob", prompt={"zh-CN": "出生日期。"}),
            "dob",
            "prompt has no text for language en-US",
            id="missing-prompt",
        ),
        pytest.param(
            set_node("ask", keys={"A": {"value": "a", "next": "done"}}),
            "ask",
            "key 'A' is not made of 0-9 * #",
            id="bad-key",
        ),
        pytest.param(
            set_node("ask", prompt=texts("Your birthday is {dob}.")),
            "ask",
            "prompts never say identity facts",
            id="identity-placeholder",
        ),
        pytest.param(
            set_node("ask", prompt=texts("Call {phone}.")),
            "ask",
            "names {phone}; allowed:",
            id="unknown-placeholder",
        ),
        pytest.param(
            set_node("dob", on_fail=None),
            "dob",
            "verify node needs 'on_fail'",
            id="verify-without-on-fail",
        ),
        pytest.param(
            set_node("route", **{"else": None}),
            "route",
            "branch node needs 'else'",
            id="branch-without-else",
        ),
    ],
)
def test_each_broken_kind_exits_1_naming_the_node(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], node_id: str, reason: str
) -> None:
    """The line names the file, the node and the problem; the exit status is 1."""
    path = write(tmp_path, broken(change))
    result = check(str(path))
    assert 1 == result.exit_code
    assert result.output.startswith(f"{path}: node {node_id!r}: ")
    assert reason in result.output


def test_bad_yaml_exits_1_naming_the_file(tmp_path: Path) -> None:
    """A syntax error is reported against the file."""
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nnodes: [unclosed\n", encoding="utf-8")
    result = check(str(path))
    assert 1 == result.exit_code
    assert result.output.startswith(f"{path}: bad YAML: ")


def test_a_campaign_language_missing_from_the_flow_exits_1(tmp_path: Path) -> None:
    """--language names what the campaign needs; a flow without it fails."""
    raw = copy.deepcopy(GOOD)
    raw["languages"] = ["zh-CN"]
    path = write(tmp_path, raw)
    assert 0 == check(str(path), "--language", "zh-CN").exit_code
    result = check(str(path), "--language", "en-US")
    assert 1 == result.exit_code
    assert f"{path}: has no prompts for en-US (the campaign calls in it)\n" == result.output


def test_one_bad_file_among_good_ones_fails_the_run_and_reports_each(tmp_path: Path) -> None:
    """Every file gets its line; one invalid file is enough for exit 1."""
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, broken(set_node("ask", on_no_input="gone")), "bad.yaml")
    result = check(str(good), str(bad), str(tmp_path / "absent.yaml"))
    assert 1 == result.exit_code
    lines = result.output.splitlines()
    assert 3 == len(lines)
    assert lines[0].startswith(f"{good}: ok")
    assert lines[1].startswith(f"{bad}: node 'ask': ")
    assert lines[2].startswith(f"{tmp_path / 'absent.yaml'}: cannot read")


def test_without_files_the_command_is_a_usage_error() -> None:
    """FILE is required."""
    assert 2 == check().exit_code
