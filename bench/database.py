"""A scratch PostgreSQL database per benchmark, migrated by the product, with due cases in it.

The server is IVR_BENCH_DATABASE_URL (default postgres@127.0.0.1:5432, trust auth); each
benchmark creates `ivr_bench_<pid>_<tag>` on it and drops it at the end, whatever happened.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from bench.frame import UnavailableError
from ivr.campaigns.service import create_campaign
from ivr.db import make_engine, make_sessions
from ivr.migrate import upgrade
from ivr.models import Case, CaseStatus, Contact

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def fictional_phone(n: int) -> str:
    """The n-th distinct number reserved for fiction: 555-0100..0199 in a North American area code.

    Distinct per case because the product caps calls per number and day (daily_cap): a hundred
    contacts sharing 100 numbers would stop the run after the first hundred calls.
    """
    area, line = divmod(n, 100)
    return f"+1{_AREA_CODES[area % len(_AREA_CODES)]}555{100 + line:04d}"


# NPA-shaped codes: no middle 9 (reserved for expansion), no N11 service codes.
_AREA_CODES = [code for code in range(201, 990) if code // 10 % 10 != 9 and code % 100 != 11]


def admin_url() -> str:
    """The server to create scratch databases on; UnavailableError when nothing listens there."""
    url = os.environ.get("IVR_BENCH_DATABASE_URL", ADMIN_URL)
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        raise UnavailableError(
            f"PostgreSQL is not reachable at {host}:{port} ({exc.strerror or exc}); start it or "
            "set IVR_BENCH_DATABASE_URL to a server where user postgres may create databases"
        ) from None
    return url


@contextmanager
def scratch_database(tag: str) -> Iterator[str]:
    """A new database migrated to head by ivr.migrate; yields its URL and drops it afterwards."""
    server = admin_url()
    name = f"ivr_bench_{os.getpid()}_{tag}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise UnavailableError(f"cannot create database {name}: {exc}") from None
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def driver_url(url: str) -> str:
    """The SQLAlchemy URL as libpq reads it (for psycopg.connect)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed_cases(
    url: str,
    count: int,
    *,
    now: datetime,
    zone: str,
    windows: str,
    anchor: date,
) -> int:
    """A post-discharge campaign with `count` pending cases due by `now`; returns its id."""
    engine = make_engine(url)
    sessions = make_sessions(engine)
    tz = ZoneInfo(zone)
    # The template's 10-day deadline, as the importer would store it (local midnight + 10 days).
    deadline = datetime.combine(anchor + timedelta(days=10), time(), tz).astimezone(UTC)
    try:
        with sessions.begin() as session:
            campaign = create_campaign(
                session,
                name="bench",
                template_name="post-discharge",
                overrides={"windows": windows, "timezone": zone},
                now=now,
            )
            session.flush()
            contact_ids = session.scalars(
                insert(Contact).returning(Contact.id, sort_by_parameter_order=True),
                [
                    {
                        "name": f"Bench Contact {n}",
                        "phone": fictional_phone(n),
                        "language": "zh-CN",
                        "timezone": zone,
                    }
                    for n in range(count)
                ],
            ).all()
            session.execute(
                insert(Case),
                [
                    {
                        "campaign_id": campaign.id,
                        "contact_id": contact_id,
                        "external_ref": f"B-{n:06d}",
                        "anchor_date": anchor,
                        "department": "Cardiology",
                        "ward": "W3",
                        "details": {},
                        "status": CaseStatus.PENDING,
                        "attempts_made": 0,
                        # Staggered so that the claim order (next_call_at, id) has work to do.
                        "next_call_at": now - timedelta(milliseconds=count - n),
                        "deadline_at": deadline,
                        "created_at": now,
                    }
                    for n, contact_id in enumerate(contact_ids)
                ],
            )
            return campaign.id
    finally:
        engine.dispose()
