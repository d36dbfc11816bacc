"""Rows for tests, with fictional people (names from no one, numbers from reserved ranges)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ivr.campaigns.options import campaign_config
from ivr.campaigns.service import create_campaign
from ivr.models import Campaign, Case, CaseStatus, Contact
from scheduler.planner import deadline_at

# Reserved for fiction: +1 202 555 01xx (North American 555-01xx) and +61 491 570 xxx (ACMA).
FICTIONAL_PHONES = [f"+1202555{n:04d}" for n in range(100, 200)]


def campaign(session: Session, now: datetime, name: str = "ward-7", **overrides: str) -> Campaign:
    return create_campaign(
        session, name=name, template_name="post-discharge", overrides=overrides, now=now
    )


def case(
    session: Session,
    campaign: Campaign,
    now: datetime,
    *,
    ref: str = "P-0001",
    phone: str = FICTIONAL_PHONES[0],
    anchor: date = date(2029, 12, 31),
    language: str = "zh-CN",
    ward: str | None = "W3",
    next_call_at: datetime | None = None,
    status: CaseStatus = CaseStatus.PENDING,
    details: Mapping[str, Any] | None = None,
) -> Case:
    contact = Contact(name="测试患者", phone=phone, language=language, timezone="Asia/Shanghai")
    # As the importer stores it: the case's own deadline, from the campaign's rule.
    deadline = deadline_at(
        anchor, campaign_config(campaign.options).policy, ZoneInfo("Asia/Shanghai")
    )
    row = Case(
        campaign=campaign,
        contact=contact,
        external_ref=ref,
        anchor_date=anchor,
        department="Cardiology",
        ward=ward,
        details=dict(details or {}),
        status=status,
        next_call_at=next_call_at if next_call_at is not None else now,
        deadline_at=deadline,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row
