"""A campaign's escalation terms in use: raising, updating, showing; the scan rule for letters.

The service tests run on SQLite and PostgreSQL; the command-line ones on SQLite, as every CLI
test does.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.audit.log import AuditKeyMissing
from ivr.calendar import WorkCalendar
from ivr.campaigns.options import OptionError
from ivr.campaigns.service import update_campaign
from ivr.config import Settings
from ivr.models import AuditEntry, Campaign, Escalation, EscalationStatus, StaffRole
from ivr.queue.actions import claim, resolve
from ivr.queue.errors import EvidenceError
from ivr.queue.evidence import Scan
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.test_queue_actions import PDF, SID, add_campaign, add_recording, add_user, do
from tests.integration.test_queue_actions import add_escalation as raise_for

# The tests' clock is in 2030, past the official data: deadlines are estimated, as in production.
CN = WorkCalendar("CN").estimating()
FLOW = """
id: site-check
languages: [zh-CN]
start: hello
reprompt: {zh-CN: 请再说一遍}
nodes:
  hello: {kind: say, prompt: {zh-CN: 您好}, next: flag}
  flag: {kind: escalate, reason: site_damage, next: bye}
  bye: {kind: end, outcome: completed}
"""


def _row(services: Services, escalation_id: int) -> Escalation:
    with services.sessions() as session:
        return session.get_one(Escalation, escalation_id)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_raising_uses_the_campaigns_terms_over_the_defaults(
    services: Services, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Its complaint is due in 4 h at priority 1; its new reason gets its own term; others not."""
    with services.sessions.begin() as session:
        own = add_campaign(
            session,
            clock.now,
            "care-insurance",
            name="care-own",
            sla="complaint=4h,site_damage=2wd",
            priority="complaint=1",
        )
        plain = add_campaign(session, clock.now, "care-insurance", name="care-plain")
        complaint = raise_for(session, own, clock.now, "complaint", ref="C-1")
        new_reason = raise_for(session, own, clock.now, "site_damage", ref="C-1")
        default = raise_for(session, plain, clock.now, "complaint", ref="C-2")
        with caplog.at_level(logging.WARNING, logger="ivr.queue.service"):
            unknown = raise_for(session, plain, clock.now, "site_damage", ref="C-2")
    got = {i: _row(services, i) for i in (complaint, new_reason, default, unknown)}
    assert (1, clock.now + timedelta(hours=4)) == (got[complaint].priority, got[complaint].due_at)
    assert CN.add_working_days(clock.now, 2) == got[new_reason].due_at
    assert (2, CN.add_working_days(clock.now, 3)) == (
        got[default].priority,
        got[default].due_at,
    )
    assert (3, clock.now + timedelta(hours=72)) == (got[unknown].priority, got[unknown].due_at)
    [warned] = [r for r in caplog.records if getattr(r, "action", "") == "escalation.default_terms"]
    assert "site_damage" == warned.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_updating_the_terms_is_checked_audited_and_used_by_the_next_escalation(
    services: Services, clock: FakeClock
) -> None:
    """Only the queue's options change; open escalations keep their due time."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now, "care-insurance", name="care")
        before = raise_for(session, campaign, clock.now, "complaint", ref="C-1")
    with services.sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign.id)
        for bad, message in (
            ({"offset": "2d"}, "cannot be changed on a campaign"),
            ({"sla.complaint": "3 weeks"}, "is not a term"),
            ({"evidence_reasons": "gossip"}, "unknown escalation reason"),
        ):
            with pytest.raises(OptionError, match=message):
                update_campaign(session, services, campaign, bad, actor="cli:test")
        changed = update_campaign(
            session,
            services,
            campaign,
            {"sla.complaint": "6h", "priority.complaint": "1"},
            actor="cli:test",
        )
        assert {"sla": ("none", "complaint=6h"), "priority": ("none", "complaint=1")} == changed
        assert {} == update_campaign(
            session, services, campaign, {"sla": "complaint=6h"}, actor="cli:test"
        )
    with services.sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign.id)
        after = raise_for(session, campaign, clock.now, "complaint", ref="C-2")
    assert CN.add_working_days(clock.now, 3) == _row(services, before).due_at
    assert (1, clock.now + timedelta(hours=6)) == (
        _row(services, after).priority,
        _row(services, after).due_at,
    )
    with services.sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "campaign.update"))
        assert ("cli:test", str(campaign.id)) == (entry.actor, entry.object_id)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_update_without_the_audit_key_changes_nothing(
    settings: Settings, services: Services, clock: FakeClock
) -> None:
    """The change and its audit entry go together or not at all."""
    with services.sessions.begin() as session:
        campaign_id = add_campaign(session, clock.now, "care-insurance", name="care").id
    keyless = Services(
        settings=Settings(**{**settings.__dict__, "secret_key": ""}),
        sessions=services.sessions,
        clock=services.clock,
    )
    with pytest.raises(AuditKeyMissing), keyless.sessions.begin() as session:
        campaign = session.get_one(Campaign, campaign_id)
        update_campaign(session, keyless, campaign, {"sla.complaint": "6h"}, actor="cli:test")
    with services.sessions() as session:
        assert "none" == session.get_one(Campaign, campaign_id).options["sla"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_letter_or_a_visit_needs_an_uploaded_scan_whatever_the_reason(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    """identity_failed needs no evidence, yet letter_sent is refused without the signed receipt,
    also with a recording of the case; with a scan it closes."""
    with services.sessions.begin() as session:
        campaign = add_campaign(session, clock.now, "cooling-off")
        add_user(session, clock.now, "ann")
        add_user(session, clock.now, "sue", StaffRole.SUPERVISOR)
        escalation_id = raise_for(session, campaign, clock.now, "identity_failed", ref="POL-1")
        add_recording(session, _case_of(session, escalation_id), clock.now)
    assert do(services, claim, escalation_id, "ann").won
    for outcome in ("letter_sent", "home_visit"):
        with pytest.raises(EvidenceError, match="receipt the policyholder signed"):
            do(services, resolve, escalation_id, "ann", outcome=outcome)
        with pytest.raises(EvidenceError, match="a recording proves a call"):
            do(services, resolve, escalation_id, "ann", outcome=outcome, recording_sid=SID)
    assert EscalationStatus.CLAIMED == _row(services, escalation_id).status
    do(services, resolve, escalation_id, "ann", outcome="home_visit", scan=Scan(PDF, "r.pdf"))
    assert ("resolved", "home_visit") == (
        str(_row(services, escalation_id).status),
        _row(services, escalation_id).outcome,
    )


def _case_of(session: Any, escalation_id: int) -> int:
    return int(session.get_one(Escalation, escalation_id).case_id)


# --- the command line -------------------------------------------------------------------------


def test_campaigns_create_update_and_show_the_terms(ivr: Any, tmp_path: Path) -> None:
    """--set sla.REASON=TERM at creation and update; show lists each reason and its source."""
    assert 0 == ivr("db", "upgrade").exit_code
    flow = tmp_path / "site-check.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    created = ivr(
        "campaigns",
        "create",
        "--template",
        "care-insurance",
        "--name",
        "care",
        "--flow",
        str(flow),
        "--set",
        "sla.complaint=4h",
    )
    assert 0 == created.exit_code, created.output
    assert "warning: flow 'site-check' escalates with reason 'site_damage'" in created.output
    bad = ivr("campaigns", "update", "care", "--set", "sla.site_damage=forever")
    assert (1, True) == (bad.exit_code, "is not a term such as 3wd" in bad.output)
    refused = ivr("campaigns", "update", "care", "--set", "windows=09:00-10:00")
    assert (1, True) == (refused.exit_code, "cannot be changed on a campaign" in refused.output)
    keyless = ivr("campaigns", "update", "care", "--set", "sla.x=1h", IVR_SECRET_KEY="")
    assert 2 == keyless.exit_code
    updated = ivr(
        "campaigns",
        "update",
        "care",
        "--set",
        "sla.site_damage=2wd",
        "--set",
        "priority.site_damage=1",
    )
    assert 0 == updated.exit_code, updated.output
    assert "sla complaint=4h -> complaint=4h,site_damage=2wd" in updated.output
    assert "warning" not in updated.output
    shown = ivr("campaigns", "show", "care", "--format", "json")
    assert 0 == shown.exit_code, shown.output
    info = json.loads(shown.output)
    terms = {row["reason"]: row for row in info["terms"]}
    assert {"reason": "complaint", "priority": 2, "sla": "4h", "source": "campaign"} == terms[
        "complaint"
    ]
    assert {"reason": "site_damage", "priority": 1, "sla": "2wd", "source": "campaign"} == terms[
        "site_damage"
    ]
    assert ("15wd", "default") == (
        terms["missell_suspected"]["sla"],
        terms["missell_suspected"]["source"],
    )
    assert [] == info["warnings"]
    table = ivr("campaigns", "show", "care")
    assert 0 == table.exit_code and "escalation terms" in table.output
    assert "site_damage" in table.output
    missing = ivr("campaigns", "show", "nope")
    assert (1, True) == (missing.exit_code, "no campaign named 'nope'" in missing.output)


def test_flows_check_warns_about_a_reason_with_no_default_term(ivr: Any, tmp_path: Path) -> None:
    """Still valid (exit 0): the campaign can give the reason its term."""
    flow = tmp_path / "site-check.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    checked = ivr("flows", "check", str(flow))
    assert 0 == checked.exit_code, checked.output
    assert "reason 'site_damage' has no default SLA term" in checked.output
    assert "--set sla.site_damage=TERM" in checked.output
