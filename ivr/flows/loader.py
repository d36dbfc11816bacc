"""YAML -> Flow, refusing anything that could fail at call time.

The YAML form (every node kind once)::

    id: cooling-off
    languages: [zh-CN, en-US]
    start: greeting
    agent_key: "0"            # optional: this key at any question hands over to a human
    agent_node: agent_end
    opt_out_key: "9"          # optional: this key at any question lists the number do-not-call
    opt_out_node: opt_out_end # an end node with outcome opted_out (says the confirmation)
    hangup_reason: partial    # escalation when an identified person hangs up mid-flow
    wrong_person_retries: 1   # calls again after "not me" this many times, then wrong_person
    reprompt: {zh-CN: ..., en-US: ...}
    nodes:
      greeting:
        kind: say
        prompt:               # per language a text (Say) or an audio file (Play)
          zh-CN: {audio: greeting_zh.wav}
          en-US: "This is {insurer}."
        next: identify
      identify:
        kind: ask
        prompt: {zh-CN: ..., en-US: ...}
        answer: recovery      # optional: the key the answer is saved under
        keys:
          "1": {value: better, next: dob, escalate: clinical_concern, identified: true}
          "2": same           # shorthand: value only, next = the node's `next`
        next: dob             # default target of the keys
        on_no_input: dob      # once the re-prompts are used up (may be an escalate node)
        retries: 1
        timeout: 6
      dob:
        kind: verify          # the entry goes to the shell's verify(item, entry), nowhere else
        item: dob             # the case fact it is compared with
        prompt: {zh-CN: ..., en-US: ...}
        max_digits: 8
        finish_on_key: "#"    # "#", "*" or "" (off)
        star_as: X            # optional: "*" is passed on as this letter
        retries: 1            # a wrong entry is asked once more ...
        wrong: {zh-CN: ..., en-US: ...}   # ... after this (default: the reprompt)
        timeout: 10
        next: check           # on a match
        on_fail: failed       # wrong once the retries are used up
        on_no_input: silent   # optional: silent at the last try (default: on_fail)
      check:
        kind: branch          # the first case that holds, else `else`
        cases:
          - {answer: recovery, in: [worse], next: agent_line}
          - {verified_all: [dob], next: done}
        else: failed
      agent_line:
        kind: transfer        # say the prompt, then Dial; the flow ends as `outcome`
        prompt: {zh-CN: ..., en-US: ...}
        to: "{transfer_number}"   # filled in by the shell, or a number such as "+8610..."
        outcome: requested_agent
      failed:
        kind: escalate
        reason: identity_failed
        priority: 1           # optional: default is the reason's own terms
        next: done
      done:
        kind: end
        outcome: completed
        prompt: {zh-CN: ..., en-US: ...}   # optional
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ivr.flows.graph import find_problem, placeholders
from ivr.flows.model import (
    AskNode,
    Audio,
    BranchCase,
    BranchNode,
    Choice,
    EndNode,
    EscalateNode,
    Flow,
    FlowOutcome,
    Node,
    Prompt,
    SayNode,
    TransferNode,
    VerifyNode,
)

VALID_KEYS = set("0123456789*#")
# What prompts may name. The shell fills them from the case; policy_number_digits comes spaced
# ("1 2 3 4") so that it is read digit by digit.
PLACEHOLDERS = frozenset(
    {
        "name",
        "organisation",
        "department",
        "discharge_date",
        "insurer",
        "policy_number_digits",
        "premium",
        "payment_years",
        "cooling_off_days",
        "appointment_date",
        # Care insurance: the next service appointment (details of the case).
        "service",
        "provider",
        "appointment_content",
        # Renovation: who works on the job, and which of its three calls this is.
        "crew",
        "designer",
        "stage_text",
        # Clinic: the doctor seen that day.
        "doctor",
    }
)
# Identity facts are only ever keyed in and compared as hashes; a prompt must never say them.
IDENTITY_FACTS = frozenset({"dob", "id_last4", "id_number"})
# What a transfer node's `to` may name instead of a literal number.
TRANSFER_PLACEHOLDERS = frozenset({"transfer_number"})
LANGUAGES = frozenset({"zh-CN", "en-US"})

_FIELDS: Mapping[str, frozenset[str]] = {
    "say": frozenset({"prompt", "next"}),
    "ask": frozenset(
        {"prompt", "keys", "answer", "next", "on_no_input", "retries", "timeout"},
    ),
    "verify": frozenset(
        "item prompt max_digits finish_on_key star_as retries wrong timeout next on_fail"
        " on_no_input".split()
    ),
    "branch": frozenset({"cases", "else"}),
    "escalate": frozenset({"reason", "next", "priority"}),
    "transfer": frozenset({"prompt", "to", "outcome"}),
    "end": frozenset({"outcome", "prompt"}),
}
_TOP_LEVEL = frozenset(
    {
        "id",
        "description",
        "languages",
        "start",
        "agent_key",
        "agent_node",
        "opt_out_key",
        "opt_out_node",
        "hangup_reason",
        "wrong_person_retries",
    }
    | {"reprompt", "nodes"}
)
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
_AUDIO_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\.(wav|mp3)")
_NUMBER = re.compile(r"\+?[0-9]{3,15}")


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
    return parse_flow_text(read_flow_text(path), str(path))


def read_flow_text(path: Path) -> str:
    """A flow file's text; FlowError if it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError(str(path), None, f"cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise FlowError(str(path), None, f"not UTF-8 text: {exc.reason}") from exc


def parse_flow_text(text: str, path: str = "<flow>") -> Flow:
    """Parse and validate a flow's YAML text (as kept with a campaign that has its own flow)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowError(path, None, f"bad YAML: {exc}") from exc
    return parse_flow(raw, path)


def check_flow_file(
    path: Path, languages: Iterable[str] | None = None, *, prompts_dir: Path | None = None
) -> Flow:
    """Load a flow for a campaign: it must speak every language the campaign calls in, and
    (given prompts_dir) every audio prompt it plays must be a file there."""
    flow = load_flow_file(path)
    missing = sorted(set(languages or ()) - set(flow.languages))
    if missing:
        raise FlowError(
            str(path), None, f"has no prompts for {', '.join(missing)} (the campaign calls in it)"
        )
    if prompts_dir is not None:
        for node_id, prompt in prompts_of(flow):
            for file in prompt.audio_files:
                if not (prompts_dir / file).is_file():
                    raise FlowError(
                        str(path), node_id, f"audio file {file!r} is not in {prompts_dir}"
                    )
    return flow


def prompts_of(flow: Flow) -> list[tuple[str | None, Prompt]]:
    """Every prompt of a flow with the node it belongs to (None for the top-level reprompt)."""
    found: list[tuple[str | None, Prompt]] = [(None, flow.reprompt)]
    for node in flow.nodes.values():
        for name in ("prompt", "wrong"):
            prompt = getattr(node, name, None)
            if isinstance(prompt, Prompt):
                found.append((node.id, prompt))
    return found


def parse_flow(raw: Any, path: str = "<flow>") -> Flow:
    """Build a Flow from parsed YAML and validate the graph."""
    if not isinstance(raw, Mapping):
        raise FlowError(path, None, "a flow must be a mapping")
    for key in ("id", "languages", "start", "nodes", "reprompt"):
        if key not in raw:
            raise FlowError(path, None, f"missing top-level key {key!r}")
    unknown_keys = sorted(str(k) for k in raw if k not in _TOP_LEVEL)
    if unknown_keys:
        raise FlowError(path, None, f"unknown top-level key {unknown_keys[0]!r}")
    if not isinstance(raw["languages"], list):
        raise FlowError(path, None, f"languages must be among {sorted(LANGUAGES)}")
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
    opt_out_key = raw.get("opt_out_key")
    opt_out_node = raw.get("opt_out_node")
    if (opt_out_key is None) != (opt_out_node is None):
        raise FlowError(path, None, "opt_out_key and opt_out_node go together")
    if opt_out_key is not None and str(opt_out_key) not in VALID_KEYS:
        raise FlowError(path, None, f"opt_out_key {opt_out_key!r} is not one of 0-9 * #")
    if opt_out_key is not None and str(opt_out_key) == str(agent_key):
        raise FlowError(path, None, "opt_out_key and agent_key must differ")
    wrong_person_retries = raw.get("wrong_person_retries", 0)
    if not isinstance(wrong_person_retries, int) or not 0 <= wrong_person_retries <= 5:
        raise FlowError(path, None, "wrong_person_retries must be a whole number from 0 to 5")
    flow = Flow(
        id=str(raw["id"]),
        languages=languages,
        start=str(raw["start"]),
        nodes=nodes,
        reprompt=ctx.prompt(None, raw["reprompt"], "reprompt"),
        agent_key=None if agent_key is None else str(agent_key),
        agent_node=None if agent_node is None else str(agent_node),
        opt_out_key=None if opt_out_key is None else str(opt_out_key),
        opt_out_node=None if opt_out_node is None else str(opt_out_node),
        hangup_reason=str(raw.get("hangup_reason", "partial")),
        wrong_person_retries=wrong_person_retries,
    )
    problem = find_problem(flow) or _opt_out_problem(flow)
    if problem is not None:
        raise FlowError(path, *problem)
    return flow


def _opt_out_problem(flow: Flow) -> tuple[str | None, str] | None:
    # Only the key lists the number, so a flow may end "opted out" only where the key leads.
    for node in flow.nodes.values():
        opted_out = getattr(node, "outcome", None) is FlowOutcome.OPTED_OUT
        if node.id == flow.opt_out_node and not (opted_out and isinstance(node, EndNode)):
            return node.id, "the opt_out_node must be an end node with outcome opted_out"
        if opted_out and node.id != flow.opt_out_node:
            return node.id, "only the opt_out_node may end a flow as opted_out"
    return None


class _Context:
    def __init__(self, path: str, languages: tuple[str, ...]) -> None:
        self.path = path
        self.languages = languages

    def fail(self, node_id: str | None, reason: str) -> FlowError:
        return FlowError(self.path, node_id, reason)

    def prompt(self, node_id: str | None, raw: Any, what: str = "prompt") -> Prompt:
        if not isinstance(raw, Mapping):
            raise self.fail(node_id, f"{what} must map each language to a text or an audio file")
        parts: dict[str, str | Audio] = {}
        for language in self.languages:
            part = raw.get(language)
            if isinstance(part, Mapping):
                parts[language] = self.audio(node_id, part, f"{what} ({language})")
                continue
            if not isinstance(part, str) or not part.strip():
                raise self.fail(node_id, f"{what} has no text for language {language}")
            try:
                fields = placeholders(part)
            except ValueError as exc:  # an unmatched brace: format() would fail at call time
                raise self.fail(node_id, f"{what} ({language}): {exc}") from None
            for field_name in fields:
                if field_name in IDENTITY_FACTS:
                    raise self.fail(
                        node_id,
                        f"{what} ({language}) names {{{field_name}}}: "
                        "prompts never say identity facts",
                    )
                if field_name not in PLACEHOLDERS:
                    raise self.fail(
                        node_id,
                        f"{what} ({language}) names {{{field_name}}}; allowed: "
                        + ", ".join(sorted(PLACEHOLDERS)),
                    )
            parts[language] = part
        return Prompt(parts)

    def audio(self, node_id: str | None, raw: Mapping[str, Any], what: str) -> Audio:
        file = raw.get("audio")
        if set(raw) != {"audio"} or not isinstance(file, str):
            raise self.fail(node_id, f"{what} must be a text or {{audio: FILE}}")
        if not _AUDIO_FILE.fullmatch(file):
            raise self.fail(
                node_id, f"{what}: audio file {file!r} must be a plain .wav or .mp3 name"
            )
        return Audio(file)

    def node(self, node_id: str, spec: Any) -> Node:
        if not isinstance(spec, Mapping):
            raise self.fail(node_id, "a node must be a mapping")
        kind = str(spec.get("kind"))
        if kind not in _FIELDS:
            raise self.fail(node_id, f"unknown kind {kind!r} ({', '.join(_FIELDS)})")
        extra = sorted(str(k) for k in spec if k != "kind" and k not in _FIELDS[kind])
        if extra:
            raise self.fail(node_id, f"{kind} node has unknown field {extra[0]!r}")
        try:
            if kind == "say":
                return SayNode(node_id, self.prompt(node_id, spec.get("prompt")), str(spec["next"]))
            if kind == "ask":
                return self.ask(node_id, spec)
            if kind == "verify":
                return self.verify(node_id, spec)
            if kind == "branch":
                return self.branch(node_id, spec)
            if kind == "transfer":
                return self.transfer(node_id, spec)
            if kind == "escalate":
                priority = spec.get("priority")
                return EscalateNode(
                    node_id,
                    str(spec["reason"]),
                    str(spec["next"]),
                    None if priority is None else int(priority),
                )
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

    def verify(self, node_id: str, spec: Mapping[str, Any]) -> VerifyNode:
        item = str(spec["item"])
        if not _IDENTIFIER.fullmatch(item):
            raise self.fail(node_id, f"item {item!r} must be a lower-case identifier")
        if spec.get("on_fail") is None:
            raise self.fail(node_id, "verify node needs 'on_fail'")
        max_digits = int(spec.get("max_digits", 8))
        retries = int(spec.get("retries", 1))
        timeout = int(spec.get("timeout", 10))
        if not 1 <= max_digits <= 20 or not 0 <= retries <= 5 or not 1 <= timeout <= 30:
            raise self.fail(node_id, "max_digits must be 1-20, retries 0-5, timeout 1-30 seconds")
        finish_on_key = str(spec.get("finish_on_key", "#"))
        if finish_on_key not in {"#", "*", ""}:
            raise self.fail(node_id, f"finish_on_key {finish_on_key!r} must be '#', '*' or ''")
        star_as = spec.get("star_as")
        if star_as is not None:
            star_as = str(star_as)
            if len(star_as) != 1 or not star_as.isascii() or not star_as.isalpha():
                raise self.fail(node_id, f"star_as {star_as!r} must be one letter")
            if finish_on_key == "*":
                raise self.fail(node_id, "'*' cannot both finish the entry and stand for a letter")
        wrong = spec.get("wrong")
        on_no_input = spec.get("on_no_input")
        return VerifyNode(
            id=node_id,
            item=item,
            prompt=self.prompt(node_id, spec.get("prompt")),
            next=str(spec["next"]),
            on_fail=str(spec["on_fail"]),
            max_digits=max_digits,
            finish_on_key=finish_on_key,
            star_as=star_as,
            retries=retries,
            wrong=None if wrong is None else self.prompt(node_id, wrong, "wrong"),
            on_no_input=None if on_no_input is None else str(on_no_input),
            timeout_s=timeout,
        )

    def branch(self, node_id: str, spec: Mapping[str, Any]) -> BranchNode:
        if spec.get("else") is None:
            raise self.fail(node_id, "branch node needs 'else'")
        cases_raw = spec.get("cases")
        if not isinstance(cases_raw, list) or not cases_raw:
            raise self.fail(node_id, "branch node needs cases (a list)")
        cases = []
        for number, case in enumerate(cases_raw, 1):
            if not isinstance(case, Mapping) or case.get("next") is None:
                raise self.fail(node_id, f"case {number} must be a mapping with a next")
            extra = sorted(
                str(k) for k in case if k not in {"next", "answer", "in", "verified_all"}
            )
            if extra:
                raise self.fail(node_id, f"case {number} has unknown field {extra[0]!r}")
            has_answer, has_in = case.get("answer") is not None, case.get("in") is not None
            if has_answer != has_in:
                raise self.fail(node_id, f"case {number}: answer and in go together")
            values = case.get("in", [])
            verified_all = case.get("verified_all", [])
            if not isinstance(values, list) or not isinstance(verified_all, list):
                raise self.fail(node_id, f"case {number}: in and verified_all must be lists")
            if not has_answer and not verified_all:
                raise self.fail(node_id, f"case {number} has no condition")
            cases.append(
                BranchCase(
                    next=str(case["next"]),
                    answer=str(case["answer"]) if has_answer else None,
                    values=frozenset(str(v) for v in values),
                    verified_all=tuple(str(v) for v in verified_all),
                )
            )
        return BranchNode(node_id, tuple(cases), str(spec["else"]))

    def transfer(self, node_id: str, spec: Mapping[str, Any]) -> TransferNode:
        to = str(spec["to"])
        named = to[1:-1] if to.startswith("{") and to.endswith("}") else None
        if named not in TRANSFER_PLACEHOLDERS and not _NUMBER.fullmatch(to):
            raise self.fail(
                node_id,
                f"to {to!r} must be a phone number or one of "
                + ", ".join(f"{{{p}}}" for p in sorted(TRANSFER_PLACEHOLDERS)),
            )
        if spec.get("prompt") is None:
            raise self.fail(node_id, "transfer node needs 'prompt'")
        return TransferNode(
            node_id,
            self.prompt(node_id, spec["prompt"]),
            to,
            FlowOutcome(spec.get("outcome", FlowOutcome.REQUESTED_AGENT.value)),
        )
