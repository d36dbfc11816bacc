"""Deleting recordings past their retention: the daily job and `ivr recordings purge`.

Two passes over the stored recordings not yet purged:

1. plan: each one's ``retain_until`` is computed again from its case and campaign (a case's dates
   or contract details may have been corrected since), written back in batches, and the
   recording sorted by why it goes or stays: due, on hold, not yet due, retention unknown;
2. carry out: per due recording one short transaction locks the row, checks the hold and the
   retention again under the lock (a hold placed since the plan wins), deletes the evidence file
   and the listening copy through the store, sets ``purged_at`` and writes the audit entry.

A crash between deleting the files and the commit leaves the row unpurged with its files gone;
the next run finds them missing, which counts as deleted, and completes it. The row itself is
kept: it is the record that the recording existed and when it was deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ivr.audit.log import ensure_key, record
from ivr.models import AgentCallback, Attempt, Campaign, Case, Recording, RecordingStatus
from ivr.privacy import redact_phones
from ivr.services import Services
from recordings.purge_report import PurgeItem, PurgeReport
from recordings.retention import (
    CaseDates,
    Retention,
    RetentionRule,
    retention_for,
    rule_from_options,
)
from recordings.store import RecordingStore, open_store

__all__ = [
    "ACTION",
    "SYSTEM_ACTOR",
    "PurgeItem",
    "PurgePlan",
    "PurgeReport",
    "carry_out",
    "plan_purge",
    "purge_expired",
]

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:purge"
ACTION = "recording.purge"
BATCH = 500
MAX_FAILURES_KEPT = 100


@dataclass(frozen=True)
class _Due:
    """A recording the plan found past retention and not on hold."""

    recording_id: int
    item: PurgeItem


@dataclass
class PurgePlan:
    """The first pass: retention recomputed, each recording sorted by why it goes or stays."""

    report: PurgeReport
    due: list[_Due] = field(default_factory=list)


@dataclass(frozen=True)
class _Kept:
    """Why a recording the plan found due stays after all (checked again under its lock)."""

    why: str  # "skipped" | "on_hold" | "not_due" | "unknown"
    reason: str = ""


def purge_expired(
    services: Services, *, dry_run: bool = False, actor: str = SYSTEM_ACTOR
) -> PurgeReport:
    """Delete the recordings past retention and not on hold; the scheduler runs it daily.

    A dry run computes the same report and changes nothing: no file, no row, no audit entry.
    Raises AuditKeyMissing (before touching anything) when IVR_SECRET_KEY is not set.
    """
    if not dry_run:
        ensure_key(services)  # every deletion is audited: none without the key
    today = services.clock().astimezone(UTC).date()
    plan = plan_purge(services, today=today, write=not dry_run)
    report = plan.report if dry_run else carry_out(services, plan, actor=actor)
    log.info(
        "recordings purge: %s",
        report,
        extra={"action": "recording.purge_run", "dry_run": dry_run, "failed": len(report.failed)},
    )
    return report


def plan_purge(services: Services, *, today: date, write: bool) -> PurgePlan:
    """Recompute every stored recording's retention (saved when `write`) and sort them."""
    plan = PurgePlan(PurgeReport(today=today, dry_run=not write))
    rules = _Rules()
    after = 0
    while True:
        with services.sessions.begin() as session:
            rows = session.execute(
                select(
                    Recording.id,
                    Recording.recording_sid,
                    Recording.legal_hold,
                    Recording.retain_until,
                    Recording.path,
                    Recording.listen_path,
                    Case.anchor_date,
                    Case.done_at,
                    Case.details,
                    Case.campaign_id,
                )
                .outerjoin(Attempt, Attempt.id == Recording.attempt_id)
                # An agent's callback recording has no attempt: its case is the callback's.
                .outerjoin(AgentCallback, AgentCallback.id == Recording.callback_id)
                .outerjoin(Case, Case.id == func.coalesce(Attempt.case_id, AgentCallback.case_id))
                .where(
                    Recording.status == RecordingStatus.STORED,
                    Recording.purged_at.is_(None),
                    Recording.id > after,
                )
                .order_by(Recording.id)
                .limit(BATCH)
            ).all()
            for row in rows:
                retention = rules.retention(session, row.campaign_id, row)
                if write and retention.until != row.retain_until:
                    session.execute(
                        update(Recording)
                        .where(Recording.id == row.id, Recording.purged_at.is_(None))
                        .values(retain_until=retention.until)
                        .execution_options(synchronize_session=False)
                    )
                    plan.report.refreshed += 1
                _sort(plan, row, retention)
        if not rows:
            return plan
        after = rows[-1].id


def carry_out(services: Services, plan: PurgePlan, *, actor: str) -> PurgeReport:
    """Purge each recording the plan found due, one short locked transaction each."""
    report = plan.report
    store = open_store(services.settings)
    rules = _Rules()
    for due in plan.due:
        try:
            with services.sessions.begin() as session:
                outcome = _purge_locked(session, services, store, rules, due, report.today, actor)
        except Exception as exc:
            # One recording's failure must not stop the others; the transaction rolled back, so
            # the row stays unpurged and the next run tries again (files already gone count).
            message = redact_phones(f"{type(exc).__name__}: {exc}")[:200]
            if len(report.failed) < MAX_FAILURES_KEPT:
                report.failed.append(f"{due.item.recording_sid}: {message}")
            log.error(
                "recording purge failed: %s",
                message,
                extra={"action": "recording.purge_failed", "recording_id": due.recording_id},
            )
            continue
        if isinstance(outcome, PurgeItem):
            report.purged.append(outcome)
            log.info(
                "recording purged",
                extra={
                    "action": "recording.purged",
                    "recording_id": due.recording_id,
                    "recording_sid": outcome.recording_sid,
                    "files_missing": len(outcome.missing),
                },
            )
        elif outcome.why == "unknown":
            report.unknown[outcome.reason] += 1
        elif outcome.why == "on_hold":
            report.on_hold += 1
        elif outcome.why == "not_due":
            report.not_due += 1
        else:
            report.skipped += 1
    return report


def _purge_locked(
    session: Session,
    services: Services,
    store: RecordingStore,
    rules: _Rules,
    due: _Due,
    today: date,
    actor: str,
) -> PurgeItem | _Kept:
    # The row lock is held through the file deletes: a hold placed meanwhile either committed
    # first (and is seen here) or waits for us and then finds the recording purged.
    recording = session.scalar(
        select(Recording)
        .where(Recording.id == due.recording_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if (
        recording is None
        or recording.purged_at is not None
        or recording.status != RecordingStatus.STORED
    ):
        return _Kept("skipped")
    if recording.legal_hold:
        return _Kept("on_hold")
    case_id = (
        select(Attempt.case_id).where(Attempt.id == recording.attempt_id)
        if recording.callback_id is None
        else select(AgentCallback.case_id).where(AgentCallback.id == recording.callback_id)
    )
    case = session.execute(
        select(Case.anchor_date, Case.done_at, Case.details, Case.campaign_id).where(
            Case.id == case_id.scalar_subquery()
        )
    ).one_or_none()
    retention = rules.retention(session, None if case is None else case.campaign_id, case)
    recording.retain_until = retention.until
    if retention.unknown:
        return _Kept("unknown", retention.rule)
    if not retention.due(today) or retention.until is None:
        return _Kept("not_due")
    files = tuple(path for path in (recording.path, recording.listen_path) if path)
    # A file already gone counts as deleted: a run that crashed after deleting it and before
    # committing left exactly this state.
    missing = tuple(path for path in files if not store.delete(path))
    recording.purged_at = services.clock()
    record(
        session,
        services,
        actor=actor,
        action=ACTION,
        object_kind="recording",
        object_id=recording.id,  # the row id, as replays and holds are audited
        detail={
            "recording_sid": recording.recording_sid,
            "path": recording.path,
            "listen_path": recording.listen_path,
            "sha256": recording.sha256,
            "retain_until": retention.until.isoformat(),
            "rule": retention.rule,
            "missing": list(missing),
        },
    )
    return PurgeItem(
        recording_id=recording.id,
        recording_sid=recording.recording_sid,
        retain_until=retention.until,
        rule=retention.rule,
        files=files,
        missing=missing,
    )


def _sort(plan: PurgePlan, row: Any, retention: Retention) -> None:
    """Count a recording (a row of the plan's query) by why it stays, or add it to the due list."""
    report = plan.report
    report.checked += 1
    if retention.unknown:
        report.unknown[retention.rule] += 1
    elif retention.until is None or not retention.due(report.today):
        report.not_due += 1
    elif row.legal_hold:
        report.on_hold += 1
    else:
        files = tuple(path for path in (row.path, row.listen_path) if path)
        item = PurgeItem(row.id, row.recording_sid, retention.until, retention.rule, files)
        plan.due.append(_Due(row.id, item))
        if report.dry_run:
            report.purged.append(item)


class _Rules:
    """Campaigns' retention rules and time zones, read once per run."""

    def __init__(self) -> None:
        self._by_campaign: dict[int, tuple[RetentionRule | None, ZoneInfo, str]] = {}

    def retention(self, session: Session, campaign_id: int | None, case: Any) -> Retention:
        """A recording's retention from its case's row (anchor_date, done_at, details)."""
        if campaign_id is None or case is None:
            return Retention.not_known("no case: not a recording of a campaign's call")
        rule, zone, problem = self._campaign(session, campaign_id)
        if rule is None:
            return Retention.not_known(problem)
        done_on = None if case.done_at is None else _local_day(case.done_at, zone)
        details: Mapping[str, Any] = case.details if isinstance(case.details, Mapping) else {}
        return retention_for(rule, CaseDates(case.anchor_date, done_on, details))

    def _campaign(
        self, session: Session, campaign_id: int
    ) -> tuple[RetentionRule | None, ZoneInfo, str]:
        cached = self._by_campaign.get(campaign_id)
        if cached is None:
            options = session.scalar(select(Campaign.options).where(Campaign.id == campaign_id))
            cached = self._by_campaign[campaign_id] = _rule_of(options or {})
        return cached


def _rule_of(options: Mapping[str, str]) -> tuple[RetentionRule | None, ZoneInfo, str]:
    try:
        zone = ZoneInfo(options.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    try:
        rule = rule_from_options(options)
    except ValueError:
        return None, zone, "the campaign's retention option is not valid"
    if rule is None:
        # Created before the option existed: nobody chose a period, so nothing is deleted.
        return None, zone, "the campaign has no retention option (created before it existed)"
    return rule, zone, ""


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day a case closed on, in the campaign's time zone (like its anchor date)."""
    return moment.astimezone(zone).date()
