"""The call's moments the flow writes to its timeline (CallEvent rows): keys pressed, prompts.

Noted in the webhook's transaction by ivr.attempts, only once a step has moved on, so a replayed
webhook adds nothing. recordings.timeline reads them back aligned to the recording. At an identity
question the digits are never written: only a mask and whether they matched.

The rows are collected as plain values and written by ivr.attempts with one INSERT per table:
every gather request writes two or three of them, and the ORM's unit of work spent more time on
them (0.6-0.8 ms) than the rest of the request's writes, inside the SQLite write lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ivr.flows.model import (
    Effect,
    Event,
    Flow,
    FlowState,
    IdentityChecked,
    Input,
    Prompt,
    VerifyNode,
)

MASK = "••••"  # what an identity entry looks like on the timeline, whatever its length
DETAIL_MAX = 200  # CallEvent.detail's width


Row = dict[str, Any]  # a CallEvent row's values, for insert(CallEvent.__table__)


def event_row(attempt_id: int, now: datetime, kind: str, detail: str | None) -> Row:
    """A timeline row's values; the detail cut to the column's width."""
    cut = None if detail is None else detail[:DETAIL_MAX]
    return {"attempt_id": attempt_id, "at": now, "kind": kind, "detail": cut}


def note_keys(
    rows: list[Row],
    attempt_id: int,
    flow: Flow,
    before: FlowState | None,
    event: Event,
    effects: Iterable[Effect],
    now: datetime,
) -> None:
    """Note the keys of a Gather: `key` (question and digits) or `no_input` (silence).

    At an identity question the digits are never written: the entry shows as a mask and whether
    it matched the case's keyed hash.
    """
    if not isinstance(event, Input) or before is None:
        return
    node = flow.node(before.node)
    digits = event.digits.strip()
    if isinstance(node, VerifyNode):
        digits = digits.rstrip("#")
    if not digits:
        kind, detail = "no_input", node.id
    elif isinstance(node, VerifyNode):
        checked = [e.matched for e in effects if isinstance(e, IdentityChecked)]
        verdict = "not checked" if not checked else "matched" if checked[0] else "did not match"
        kind, detail = "key", f"{node.id}: {MASK} {verdict}"
    else:
        kind, detail = "key", f"{node.id}: {digits}"
    rows.append(event_row(attempt_id, now, kind, detail))


def note_prompts(
    rows: list[Row], attempt_id: int, flow: Flow, prompts: tuple[Prompt, ...], now: datetime
) -> None:
    """Note the prompts a TwiML answer plays, by the flow's node ids (never their text)."""
    if not prompts:
        return
    detail = " + ".join(_prompt_name(flow, prompt) for prompt in prompts)
    rows.append(event_row(attempt_id, now, "prompt", detail))


def _prompt_name(flow: Flow, prompt: Prompt) -> str:
    named: list[tuple[str, Prompt]] = [("reprompt", flow.reprompt)]
    for node in flow.nodes.values():
        own = getattr(node, "prompt", None)
        if isinstance(own, Prompt):
            named.append((node.id, own))
        if isinstance(node, VerifyNode) and node.wrong is not None:
            named.append((f"{node.id}.wrong", node.wrong))
    # The very object first: two nodes may say the same words.
    for name, candidate in named:
        if candidate is prompt:
            return name
    return next((name for name, candidate in named if candidate == prompt), "?")
