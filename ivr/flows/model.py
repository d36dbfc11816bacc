"""A flow is a graph of nodes; these frozen dataclasses are the whole vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class FlowOutcome(StrEnum):
    """How a call's flow ended."""

    COMPLETED = "completed"  #: every question was put; the case is done
    NO_RESPONSE = "no_response"  #: nobody confirmed being the contact: counts as not reached
    WRONG_PERSON = "wrong_person"  #: someone else answered
    REQUESTED_AGENT = "requested_agent"  #: the person asked for a human
    PARTIAL = "partial"  #: hung up after identification, before the end
    IDENTITY_FAILED = "identity_failed"  #: the identity items did not match
    OPTED_OUT = "opted_out"  #: the person pressed the opt-out key: never call this number again


@dataclass(frozen=True)
class Audio:
    """A recorded prompt file, played instead of synthesised speech (served by the app)."""

    file: str


@dataclass(frozen=True)
class Prompt:
    """One thing said, in each language the flow speaks: a text to synthesise or an audio file."""

    texts: Mapping[str, str | Audio]

    def part(self, language: str) -> str | Audio:
        """What is said in a language (the loader guarantees every flow language is present)."""
        return self.texts[language]

    def text(self, language: str) -> str:
        """The text for a language; a TypeError if that language plays an audio file."""
        part = self.texts[language]
        if isinstance(part, Audio):
            raise TypeError(f"the {language} prompt is the audio file {part.file!r}")
        return part

    @property
    def audio_files(self) -> tuple[str, ...]:
        """The audio files this prompt plays, in any language."""
        return tuple(p.file for p in self.texts.values() if isinstance(p, Audio))


@dataclass(frozen=True)
class Choice:
    """What one key means at an ask node."""

    value: str
    next: str
    escalate: str | None = None
    identified: bool = False  # pressing it confirms we speak with the contact


@dataclass(frozen=True)
class SayNode:
    id: str
    prompt: Prompt
    next: str


@dataclass(frozen=True)
class AskNode:
    id: str
    prompt: Prompt
    choices: Mapping[str, Choice]
    on_no_input: str  # where to go once the re-prompts are used up
    answer: str | None = None  # the answer's key; None keeps nothing (e.g. "are you X?")
    retries: int = 1
    timeout_s: int = 6


@dataclass(frozen=True)
class VerifyNode:
    """Key in an identity item; the shell compares it with the case's fact (never the engine)."""

    id: str
    item: str  # what is asked (dob, id_last4, ...); the shell maps it to the stored hash
    prompt: Prompt
    next: str  # on a match
    on_fail: str  # once the retries are used up on wrong entries
    max_digits: int = 8
    finish_on_key: str = "#"  # ends the entry early (Twilio's finishOnKey); "" turns it off
    star_as: str | None = None  # the letter "*" stands for (the keypad has no X)
    retries: int = 1  # wrong entries asked again
    wrong: Prompt | None = None  # said before asking again after a wrong entry; None: reprompt
    on_no_input: str | None = None  # where silence leads once the retries are used; None: on_fail
    timeout_s: int = 10

    @property
    def silent_next(self) -> str:
        """Where the flow goes when the last try was silence."""
        return self.on_fail if self.on_no_input is None else self.on_no_input


@dataclass(frozen=True)
class BranchCase:
    """One condition of a branch node; every condition given must hold."""

    next: str
    answer: str | None = None  # the answer tested ...
    values: frozenset[str] = frozenset()  # ... against these values ("in")
    verified_all: tuple[str, ...] = ()  # identity items that must all have matched

    def holds(self, answers: Mapping[str, str | None], verified: tuple[str, ...]) -> bool:
        """True when the saved answers and verified items meet this case."""
        if self.answer is not None and answers.get(self.answer) not in self.values:
            return False
        return all(item in verified for item in self.verified_all)


@dataclass(frozen=True)
class BranchNode:
    """Route on earlier answers or verified items: the first case that holds, else otherwise."""

    id: str
    cases: tuple[BranchCase, ...]
    otherwise: str


@dataclass(frozen=True)
class TransferNode:
    """Say a prompt, then hand the call to a person on another line; the flow ends here."""

    id: str
    prompt: Prompt
    to: str  # a number, or "{transfer_number}" filled in by the shell at render time
    outcome: FlowOutcome = FlowOutcome.REQUESTED_AGENT


@dataclass(frozen=True)
class EscalateNode:
    id: str
    reason: str
    next: str
    priority: int | None = None  # None: the reason's own terms (ivr.queue.rules)


@dataclass(frozen=True)
class EndNode:
    id: str
    outcome: FlowOutcome
    prompt: Prompt | None = None


Node = SayNode | AskNode | VerifyNode | BranchNode | EscalateNode | TransferNode | EndNode


@dataclass(frozen=True)
class Flow:
    """A validated flow (see loader.py for the YAML form)."""

    id: str
    languages: tuple[str, ...]
    start: str
    nodes: Mapping[str, Node]
    reprompt: Prompt  # said before a question is asked again
    agent_key: str | None = None  # pressed at any question: hand over to a human
    agent_node: str | None = None
    # Pressed at any question: put the number on the do-not-call list, confirm, hang up.
    opt_out_key: str | None = None
    opt_out_node: str | None = None  # an end node with outcome opted_out (the confirmation)
    hangup_reason: str = "partial"  # escalation when an identified person hangs up mid-flow
    # "Not me" ends the call; with retries the case is called again (someone else may have picked
    # up the phone) and only the next "not me" closes it as wrong_person, with an escalation.
    wrong_person_retries: int = 0

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError means a saved state from another flow version)."""
        return self.nodes[node_id]

    def escalation_reasons(self) -> frozenset[str]:
        """The reasons its escalate nodes and its hang-up raise (the engine's own are in TERMS)."""
        reasons = {node.reason for node in self.nodes.values() if isinstance(node, EscalateNode)}
        return frozenset({*reasons, self.hangup_reason})


@dataclass(frozen=True)
class FlowState:
    """Where one call is in its flow; saved as JSON on the attempt between webhooks."""

    node: str
    tries: int = 0
    answers: Mapping[str, str | None] = field(default_factory=dict)
    identified: bool = False
    reached: bool = False  # a valid key was pressed
    outcome: FlowOutcome | None = None
    # Identity items that matched. Only their names: the keyed digits are never kept anywhere.
    verified: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """True once the flow has ended (no more input is taken)."""
        return self.outcome is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict for the attempt row."""
        return {
            "node": self.node,
            "tries": self.tries,
            "answers": dict(self.answers),
            "identified": self.identified,
            "reached": self.reached,
            "outcome": None if self.outcome is None else self.outcome.value,
            "verified": list(self.verified),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowState:
        """Inverse of to_json."""
        outcome = data.get("outcome")
        return cls(
            node=str(data["node"]),
            tries=int(data.get("tries", 0)),
            answers=dict(data.get("answers", {})),
            identified=bool(data.get("identified", False)),
            reached=bool(data.get("reached", False)),
            outcome=None if outcome is None else FlowOutcome(outcome),
            verified=tuple(str(item) for item in data.get("verified", ())),
        )


# Events the engine consumes.
@dataclass(frozen=True)
class Start:
    """The call was answered; the flow begins."""


@dataclass(frozen=True)
class Input:
    """Keys pressed at a question; an empty string is silence (the Gather timed out)."""

    digits: str


@dataclass(frozen=True)
class Hangup:
    """The call ended (the final status callback)."""


Event = Start | Input | Hangup


@dataclass(frozen=True)
class Gather:
    """Wait for keys after the prompts."""

    num_digits: int
    timeout_s: int
    # Twilio ends a Gather on "#" by default and leaves it out of Digits, so a question that
    # takes "#" as a key must turn the finish key off (an empty finishOnKey).
    finish_on_key: str = "#"


@dataclass(frozen=True)
class Step:
    """What the call does next: say these prompts, then gather keys, dial a person or hang up."""

    prompts: tuple[Prompt, ...]
    gather: Gather | None
    # The gather takes identity digits: the shell pauses the call recording while this step runs
    # and resumes it on the next step that is not sensitive.
    sensitive: bool = False
    dial: str | None = None  # after the prompts, connect the call here (a number or "{key}")

    @property
    def hangup(self) -> bool:
        """A step without a gather ends the flow (after the dial, if there is one)."""
        return self.gather is None


# Effects the shell carries out, once.
@dataclass(frozen=True)
class SaveAnswer:
    question: str
    value: str | None


@dataclass(frozen=True)
class RaiseEscalation:
    reason: str
    priority: int | None = None  # None: the reason's own terms (ivr.queue.rules)


@dataclass(frozen=True)
class IdentityChecked:
    """An identity item was keyed in and compared: for the call's timeline, never the digits."""

    item: str
    matched: bool


@dataclass(frozen=True)
class OptOut:
    """The person asked not to be called again: the shell lists the number at once."""


Effect = SaveAnswer | RaiseEscalation | IdentityChecked | OptOut


@dataclass(frozen=True)
class Transition:
    """The engine's result: the new state, what to do on the call, what to record."""

    state: FlowState
    step: Step | None  # None after a hang-up: nothing more is said
    effects: tuple[Effect, ...] = ()
