"""A call's timeline aligned to its recording: what happened, when, and where in the audio.

The moments are the call's CallEvent rows (status changes, the prompts the flow played, keys
pressed, identity checks, the recording paused and resumed, answering machines), each placed at
its offset in seconds from the recording's start (RecordingStartTime, `Recording.started_at`).
Moments before the recording began get negative offsets and the position "before"; with no
start time known the offsets are None. The recording is paused with silence, not cut, so an
offset is the same whether or not a pause came before it.

Identity entries never appear: the flow writes `key` events for identity questions with the
digits masked (ivr.call_events, written by ivr.attempts), and nothing here reads answers or
case details.

`ivr recordings timeline RECORDING_SID` prints it; GET /recordings/<id>/timeline serves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr.cli_options import FORMAT
from ivr.models import Attempt, CallEvent, Recording

# Texts sent after an unreachable case are noted on its last attempt, but are no moment of a call.
NOT_CALL_MOMENTS = ("sms.",)
STARTED = "recording.started"

Moment = tuple[datetime, str, str | None]  # at, kind, detail


@dataclass(frozen=True)
class TimelineEvent:
    """One moment of the call, placed on the recording."""

    at: datetime
    kind: str  # status, prompt, key, no_input, identity.checked, recording.paused, amd.*, ...
    detail: str | None
    offset_s: float | None  # seconds from the recording's start; None when it is not known
    position: str | None  # before | during | after the recorded audio; None when not known

    def as_json(self) -> dict[str, Any]:
        """The event as JSON-safe values."""
        return {
            "at": _iso(self.at),
            "offset_s": self.offset_s,
            "position": self.position,
            "kind": self.kind,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Timeline:
    """A call's events in order, with the recording they are aligned to (if any)."""

    attempt_id: int | None
    call_sid: str | None
    recording_id: int | None
    recording_sid: str | None
    started_at: datetime | None
    duration_s: int | None
    events: tuple[TimelineEvent, ...]

    def as_json(self) -> dict[str, Any]:
        """The timeline as JSON-safe values."""
        return {
            "attempt_id": self.attempt_id,
            "call_sid": self.call_sid,
            "recording": None
            if self.recording_id is None
            else {
                "id": self.recording_id,
                "sid": self.recording_sid,
                "started_at": _iso(self.started_at),
                "duration_s": self.duration_s,
            },
            "events": [event.as_json() for event in self.events],
        }


def align(
    moments: Iterable[Moment], started_at: datetime | None, duration_s: int | None
) -> tuple[TimelineEvent, ...]:
    """Order the moments by time and place each on the recording; pure.

    Moments at the same instant keep the order given (the order they were written in).
    """
    events = []
    for at, kind, detail in sorted(moments, key=lambda moment: moment[0]):
        offset = None if started_at is None else round((at - started_at).total_seconds(), 3)
        events.append(TimelineEvent(at, kind, detail, offset, _position(offset, duration_s)))
    return tuple(events)


def _position(offset: float | None, duration_s: int | None) -> str | None:
    if offset is None:
        return None
    if offset < 0:
        return "before"
    if duration_s is not None and offset > duration_s:
        return "after"
    return "during"


def recording_timeline(session: Session, recording_id: int) -> Timeline | None:
    """The timeline of the call a recording belongs to; None if there is no such recording."""
    recording = session.get(Recording, recording_id)
    return None if recording is None else _timeline(session, recording)


def recording_timeline_by_sid(session: Session, recording_sid: str) -> Timeline | None:
    """As recording_timeline, by the provider's recording id (RE...)."""
    recording = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    return None if recording is None else _timeline(session, recording)


def attempt_timeline(session: Session, attempt_id: int) -> Timeline | None:
    """The timeline of one attempt, aligned to its first recording if it has one."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None:
        return None
    recording = session.scalar(
        select(Recording).where(Recording.attempt_id == attempt_id).order_by(Recording.id).limit(1)
    )
    if recording is not None:
        return _timeline(session, recording)
    moments = _moments(session, attempt_id)
    events = align(moments, None, None)
    return Timeline(attempt_id, attempt.call_sid, None, None, None, None, events)


def _timeline(session: Session, recording: Recording) -> Timeline:
    moments = [] if recording.attempt_id is None else _moments(session, recording.attempt_id)
    if recording.started_at is not None:
        moments.insert(0, (recording.started_at, STARTED, None))
    return Timeline(
        attempt_id=recording.attempt_id,
        call_sid=recording.call_sid,
        recording_id=recording.id,
        recording_sid=recording.recording_sid,
        started_at=recording.started_at,
        duration_s=recording.duration_s,
        events=align(moments, recording.started_at, recording.duration_s),
    )


def _moments(session: Session, attempt_id: int) -> list[Moment]:
    rows = session.execute(
        select(CallEvent.at, CallEvent.kind, CallEvent.detail)
        .where(CallEvent.attempt_id == attempt_id)
        .order_by(CallEvent.id)
    )
    return [
        (at, kind, detail) for at, kind, detail in rows if not kind.startswith(NOT_CALL_MOMENTS)
    ]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


# --- command line (registered under `ivr recordings` by ivr/cli.py) ------------------------------


@click.command("timeline")
@click.argument("recording_sid")
@FORMAT
def timeline_command(recording_sid: str, fmt: str) -> None:
    """Print a recorded call's events with their offset in the audio. Reads IVR_DATABASE_URL.

    RECORDING_SID is the provider's recording id (RE...). Offsets are seconds from the start of
    the recording; negative ones happened before it started (ringing, the answer).
    """
    from ivr.cli import emit_json, fail, services_for, settings

    services = services_for(settings())
    with services.sessions() as session:
        timeline = recording_timeline_by_sid(session, recording_sid)
    if timeline is None:
        fail(f"there is no recording {recording_sid}")
    if fmt == "json":
        emit_json(timeline.as_json())
        return
    started = "unknown" if timeline.started_at is None else f"{timeline.started_at:%H:%M:%S} UTC"
    title = f"recording {recording_sid}: started {started}, {timeline.duration_s or '?'} s"
    table = Table("time (UTC)", "offset", "event", "detail", title=title)
    for event in timeline.events:
        offset = "" if event.offset_s is None else f"{event.offset_s:+.1f} s"
        table.add_row(f"{event.at:%H:%M:%S}", offset, event.kind, event.detail or "")
    Console(highlight=False).print(table)
