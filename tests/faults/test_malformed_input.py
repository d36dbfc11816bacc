"""Fuzzed case files and API payloads: clean errors only, never half a row, never a crash."""

from __future__ import annotations

import io
import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import CampaignError
from ivr.cases.csv_rows import CsvFormatError
from ivr.cases.importer import import_cases
from ivr.models import Case, Contact
from tests import factories
from tests.conftest import FakeClock
from tests.integration.test_api_cases import World, big_settings, world

__all__ = ["big_settings", "world"]  # the fixture, shared

COLUMNS = ["external_ref", "name", "phone", "discharge_date", "department", "ward"]
FIELD = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ['"', '""', '"a,b"', "\x00", "\r\n", "+12025550123", "2030-01-05", "13800138000"]
    ),
    st.just("x" * 5000),
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_campaigns = itertools.count(1)


@st.composite
def case_files(draw: st.DrawFn) -> bytes:
    """A header of some of the columns (maybe shuffled) and rows of odd fields, or raw bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, unique=True))
    rows = draw(st.lists(st.lists(FIELD, min_size=0, max_size=len(columns) + 1), max_size=6))
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    for row in rows:
        out.write(",".join(row) + "\n")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "latin-1", "utf-16"]))
    return out.getvalue().encode(encoding, errors="replace")


def rows_of(sessions: sessionmaker[Session], campaign_id: int) -> tuple[int, int]:
    with sessions() as session:
        cases = session.scalar(
            select(func.count()).select_from(Case).where(Case.campaign_id == campaign_id)
        )
        orphans = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.id.not_in(select(Case.contact_id)))
        )
        return int(cases or 0), int(orphans or 0)


@FUZZ
@given(data=case_files())
def test_a_fuzzed_case_file_gives_row_errors_or_a_format_error_never_a_crash(
    sessions: sessionmaker[Session], clock: FakeClock, data: bytes
) -> None:
    """Any bytes: a report or CsvFormatError; stored cases equal the report, no orphan contact."""
    with sessions.begin() as session:
        campaign_id = factories.campaign(session, clock.now, name=f"fuzz-{next(_campaigns)}").id
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    try:
        report = import_cases(sessions, campaign_id, stream, now=clock.now, batch_size=2)
    except (CsvFormatError, CampaignError):
        stored, orphans = rows_of(sessions, campaign_id)
        assert 0 == orphans
        return
    stored, orphans = rows_of(sessions, campaign_id)
    assert (report.imported, 0) == (stored, orphans)  # imported counts excluded ones too


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.just("x" * 3000),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=15), inner, max_size=5)
    ),
    max_leaves=12,
)
ITEM = st.fixed_dictionaries(
    {"external_ref": JSON_VALUE, "name": JSON_VALUE, "phone": JSON_VALUE},
    optional={"discharge_date": JSON_VALUE, "ward": JSON_VALUE, "department": JSON_VALUE},
)
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.lists(ITEM, max_size=4).map(lambda items: json.dumps({"cases": items}).encode()),
    st.lists(ITEM, max_size=2).map(lambda items: json.dumps({"cases": items}).encode("utf-16")),
)


@FUZZ
@given(payload=PAYLOADS)
def test_a_fuzzed_api_payload_gets_a_clean_answer_and_never_half_a_case(
    world: World, payload: bytes
) -> None:
    """Random bytes, JSON of any shape, bad items: a documented 4xx or 201, nothing partial."""
    client = world.api.client
    headers = {"Authorization": f"Bearer {world.api.tokens['sue']}"}
    with world.services.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Case))
    answer = client.post(
        "/api/v1/campaigns/ward-7/cases",
        data=payload,
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code in (200, 201, 400, 413, 415, 422), answer.get_data()[:200]
    assert answer.mimetype == "application/json"
    with world.services.sessions() as session:
        after = session.scalar(select(func.count()).select_from(Case)) or 0
        orphans = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.id.not_in(select(Case.contact_id)))
        )
    created = answer.get_json().get("created", 0) if answer.status_code in (200, 201) else 0
    assert (after - (before or 0), 0) == (created, orphans)
