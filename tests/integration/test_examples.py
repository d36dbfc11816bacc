"""Each template's example CSV under examples/ imports cleanly into a campaign of its template."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import create_campaign
from ivr.campaigns.templates import TEMPLATES, template
from ivr.cases.importer import import_cases
from ivr.flows.loader import shipped_flow_path
from tests.conftest import SECRET_KEY, FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
# The examples' dates sit just before the test clock (2030-01-07 09:00 Asia/Shanghai), so every
# case is still inside its window, even under the 72-hour template.
# Imported, never called: the post-discharge ICU patient, the clinic visitor who bought.
EXCLUDED = {"examples/post-discharge.csv": 1, "examples/clinic-visitor.csv": 1}
CASES_PER_ROW = {"renovation": 3}  # start + 10 days, mid-point, completion


@pytest.mark.parametrize("template_name", sorted(TEMPLATES))
def test_example_csv_imports_cleanly(
    sessions: sessionmaker[Session], clock: FakeClock, template_name: str
) -> None:
    """Every line imports: no errors, no duplicates, nobody already past the deadline."""
    tpl = template(template_name)
    if not shipped_flow_path(tpl.flow).is_file():
        pytest.skip(f"flow {tpl.flow!r} is not shipped yet (ivr/flows/definitions/{tpl.flow}.yaml)")
    with sessions.begin() as session:
        campaign_id = create_campaign(
            session, name="example", template_name=tpl.name, overrides={}, now=clock.now
        ).id
    with (ROOT / tpl.example).open(encoding="utf-8", newline="") as stream:
        report = import_cases(sessions, campaign_id, stream, now=clock.now, secret_key=SECRET_KEY)

    assert ([], [], 0) == (report.errors, report.duplicates, report.missed_deadline)
    assert report.lines * CASES_PER_ROW.get(tpl.name, 1) == report.imported > 0
    assert EXCLUDED.get(tpl.example, 0) == report.excluded
