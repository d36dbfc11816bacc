"""Audit re-calls: a kept, reproducible draw; outcomes recorded and reported; the yearly table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import create_campaign
from ivr.db import make_engine, make_sessions
from ivr.models import (
    AuditItem,
    AuditSample,
    Campaign,
    Case,
    CaseOutcome,
    CaseStatus,
    StaffRole,
    StaffUser,
)
from ivr.queue.service import raise_escalation
from ivr.reports.audits import AuditError, DrawRequest, draw_sample, record_outcome
from ivr.reports.figures import ReportScope, campaign_figures
from ivr.services import shipped_flow
from tests import factories

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
NOW = datetime(2030, 2, 3, 2, 0, tzinfo=UTC)
JAN = (date(2030, 1, 1), date(2030, 1, 31))


def ward_of_sixty(session: Session, *, name: str = "ward-7") -> Campaign:
    """50 completed and 10 unreachable January discharges, and 5 December ones."""
    campaign = factories.campaign(session, NOW, name=name)
    for i in range(65):
        case = factories.case(
            session,
            campaign,
            NOW,
            ref=f"P-{i:03d}",
            phone=factories.FICTIONAL_PHONES[i % 100],
            anchor=date(2029, 12, 15) if i >= 60 else date(2030, 1, 1 + i % 28),
            status=CaseStatus.DONE,
        )
        case.outcome = CaseOutcome.COMPLETED if i < 50 or i >= 60 else CaseOutcome.UNREACHABLE
        case.attempts_made = 1
    session.flush()
    return campaign


def refs(session: Session, sample: AuditSample) -> list[str]:
    return list(
        session.scalars(
            select(Case.external_ref)
            .join(AuditItem, AuditItem.case_id == Case.id)
            .where(AuditItem.sample_id == sample.id)
            .order_by(AuditItem.id)
        )
    )


@BOTH
def test_a_random_draw_is_kept_reproducible_and_reported(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        campaign = ward_of_sixty(session)
        request = DrawRequest(campaign, *JAN, share=0.2, seed="2030-01")
        sample, new = draw_sample(session, request, actor="audit.office", now=NOW)
        drawn = refs(session, sample)
        assert new and len(drawn) == 10 and sample.population == 50
        assert all(int(ref[2:]) < 50 for ref in drawn)  # completed January cases only

        again, new_again = draw_sample(session, request, actor="audit.office", now=NOW)
        assert (again.id, new_again) == (sample.id, False)
        other, _ = draw_sample(
            session,
            DrawRequest(campaign, *JAN, share=0.2, seed="other"),
            actor="audit.office",
            now=NOW,
        )
        assert refs(session, other) != drawn

        outcomes = ["confirmed"] * 6 + ["not_confirmed"] * 2 + ["unreachable"]
        for ref, outcome in zip(drawn, outcomes, strict=False):
            record_outcome(session, sample.id, ref, outcome, actor="auditor", now=NOW)
        with pytest.raises(AuditError, match="not in audit sample"):
            record_outcome(session, sample.id, "P-055", "confirmed", actor="auditor", now=NOW)
        with pytest.raises(AuditError, match="unknown outcome"):
            record_outcome(session, sample.id, drawn[0], "maybe", actor="auditor", now=NOW)
        campaign_id = campaign.id

    with sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        figures = campaign_figures(
            session, ReportScope(campaign, *JAN), flow=shipped_flow(campaign.flow), now=NOW
        )
    # Two samples drew 20 distinct-or-not cases; the figures count cases, each once.
    assert figures["audit"]["audited"] == 9
    assert figures["audit"]["audit_rate"] == round(9 / 60, 4)
    assert figures["audit"]["effectively_reached"] == 8
    assert figures["audit"]["effective_audit_rate"] == 0.8889
    assert figures["audit"]["confirmed"] == 6
    assert figures["audit"]["confirmed_share"] == 0.75


@BOTH
def test_the_regulators_draw_covers_channels_and_products_and_takes_the_problem_cases(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        campaign = create_campaign(
            session, name="policies", template_name="cooling-off", overrides={}, now=NOW
        )
        for i in range(400):
            case = factories.case(
                session,
                campaign,
                NOW,
                ref=f"POL-{(i * 37) % 1000:04d}",
                phone=factories.FICTIONAL_PHONES[i % 100],
                anchor=date(2030, 1, 1 + i % 28),
                details={
                    "channel": ("agent", "bank")[i % 2],
                    "product": ("term", "annuity")[i % 3 % 2],
                },
            )
            if i in (5, 17):
                raise_escalation(session, case_id=case.id, reason="missell_suspected", now=NOW)
        excluded = factories.case(
            session,
            campaign,
            NOW,
            ref="POL-9999",
            anchor=date(2030, 1, 2),
            status=CaseStatus.EXCLUDED,
        )
        sample, _ = draw_sample(
            session,
            DrawRequest(campaign, *JAN, method="interval", share=0.005, seed="s", min_count=12),
            actor="audit.office",
            now=NOW,
        )
        items = session.scalars(
            select(AuditItem).where(AuditItem.sample_id == sample.id).order_by(AuditItem.id)
        ).all()
    assert sample.population == 400 and len(items) == 12
    assert [item.why for item in items[:2]] == ["problem", "problem"]
    assert excluded.id not in {item.case_id for item in items}
    assert set(sample.strata) == {
        "agent / annuity",
        "agent / term",
        "bank / annuity",
        "bank / term",
    }
    assert sum(drawn for _population, drawn in sample.strata.values()) == 10


def test_the_commands_draw_record_and_tabulate(ivr: Any, env: dict[str, str]) -> None:
    assert ivr("db", "upgrade").exit_code == 0
    engine = make_engine(env["IVR_DATABASE_URL"])
    with make_sessions(engine).begin() as session:
        ward_of_sixty(session)
        session.add(
            StaffUser(
                username="auditor", password_hash="x", role=StaffRole.SUPERVISOR, created_at=NOW
            )
        )
    engine.dispose()

    args = ("audit", "sample", "--campaign", "ward-7", "--month", "2030-01", "--seed", "7")
    first = json.loads(ivr(*args, "--format", "json").output)
    second = json.loads(ivr(*args, "--format", "json").output)
    assert (first["new"], second["new"]) == (True, False)
    assert first["items"] == second["items"] and first["drawn"] == 10
    assert "drawn before" in ivr(*args).output

    ref = first["items"][0]["external_ref"]
    recorded = ivr(
        "audit", "record", str(first["sample"]), ref, "--outcome", "confirmed", "--as", "auditor"
    )
    assert recorded.exit_code == 0, recorded.output
    nobody = ivr(
        "audit", "record", str(first["sample"]), ref, "--outcome", "confirmed", "--as", "ghost"
    )
    assert nobody.exit_code == 1 and "ghost" in nobody.output
    missing = ivr("audit", "record", "99", ref, "--outcome", "confirmed", "--as", "auditor")
    assert missing.exit_code == 1 and "no audit sample 99" in missing.output

    table = json.loads(
        ivr("audit", "table", "--campaign", "ward-7", "--year", "2030", "--format", "json").output
    )
    january, year = table["rows"][0], table["rows"][-1]
    assert january == {
        "period": "2030-01",
        "discharged": 60,
        "excluded": 0,
        "followed_up": 60,
        "follow_up_rate": 1.0,
        "audited": 1,
        "audit_rate": round(1 / 60, 4),
        "effectively_reached": 1,
        "effective_rate": 1.0,
        "confirmed": 1,
        "confirmed_share": 1.0,
        "satisfied": 0,
        "not_satisfied": 0,
        "satisfaction_rate": None,
    }
    assert year["period"] == "year" and year["discharged"] == 60
    shown = ivr("audit", "table", "--campaign", "ward-7", "--year", "2030").output
    assert "…" not in shown  # nothing cut to the 80 columns of a pipe
    # The headers wrap onto two lines: "follow-up" above "rate", "confirmed" above "share".
    for word in ("follow-up", "audited", "effectively", "confirmed", "share", "satisfaction"):
        assert word in shown.split(), word
    january_line = next(line for line in shown.splitlines() if line.strip().startswith("2030-01"))
    assert january_line.split() == [
        "2030-01", "60", "0", "60", "100.0%", "1", "1.7%", "1", "100.0%", "1", "100.0%", "0",
        "0", "n/a",
    ]  # fmt: skip
    csv_text = ivr("audit", "table", "--campaign", "ward-7", "--year", "2030", "--format", "csv")
    assert csv_text.output.splitlines()[0] == (
        "period,discharged,excluded,followed_up,follow_up_rate,audited,audit_rate,"
        "effectively_reached,effective_rate,confirmed,confirmed_share,satisfied,not_satisfied,"
        "satisfaction_rate"
    )
    assert csv_text.output.splitlines()[1] == "2030-01,60,0,60,1.0,1,0.0167,1,1.0,1,1.0,0,0,"
