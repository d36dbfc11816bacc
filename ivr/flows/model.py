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


@dataclass(frozen=True)
class Prompt:
    """One thing said, in each language the flow speaks."""

    texts: Mapping[str, str]

    def text(self, language: str) -> str:
        """The text for a language (the loader guarantees every flow language is present)."""
        return self.texts[language]


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


Node = SayNode | AskNode | EscalateNode | EndNode


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
    hangup_reason: str = "partial"  # escalation when an identified person hangs up mid-flow

    def node(self, node_id: str) -> Node:
        """The node with this id (KeyError means a saved state from another flow version)."""
        return self.nodes[node_id]


@dataclass(frozen=True)
class FlowState:
    """Where one call is in its flow; saved as JSON on the attempt between webhooks."""

    node: str
    tries: int = 0
    answers: Mapping[str, str | None] = field(default_factory=dict)
    identified: bool = False
    reached: bool = False  # a valid key was pressed
    outcome: FlowOutcome | None = None

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
    """What the call does next: say these prompts, then gather keys or hang up."""

    prompts: tuple[Prompt, ...]
    gather: Gather | None

    @property
    def hangup(self) -> bool:
        """A step without a gather ends the call."""
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


Effect = SaveAnswer | RaiseEscalation


@dataclass(frozen=True)
class Transition:
    """The engine's result: the new state, what to do on the call, what to record."""

    state: FlowState
    step: Step | None  # None after a hang-up: nothing more is said
    effects: tuple[Effect, ...] = ()
