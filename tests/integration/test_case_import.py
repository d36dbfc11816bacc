"""Importing a case CSV: planning, exclusions, bad rows, duplicates, batches, progress, races."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from ivr.campaigns.service import CampaignError
from ivr.campaigns.templates import resolve_options, template
from ivr.cases.csv_rows import CsvFormatError
from ivr.cases.importer import DuplicateRow, ImportReport, SecretRequiredError, import_cases
from ivr.identity import FACTS_KEY, fact_hash, fact_matches
from ivr.models import Base, Campaign, Case, CaseOutcome, CaseStatus, Contact, Escalation
from tests import factories
from tests.conftest import SECRET_KEY, FakeClock

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

COLUMNS = ["external_ref", "name", "phone", "discharge_date", "department", "ward"]
# Fictional numbers: 555-01xx (North America), 491 570 xxx (ACMA), 138 0013 8000 (the usual
# documentation number in China; phonenumbers accepts it as a valid mobile number).
PHONES = ["+12025550123", "+61491570313", "13800138000", "+12025550124", "+12025550125"]
# Discharged 2030-01-05: first call 7 days later at 08:00 Asia/Shanghai (00:00 UTC), deadline
# 10 days after the discharge day began (00:00 Asia/Shanghai is 16:00 UTC the day before).
DISCHARGED = "2030-01-05"
FIRST_CALL_AT = datetime(2030, 1, 12, 0, 0, tzinfo=UTC)
DEADLINE_AT = datetime(2030, 1, 14, 16, 0, tzinfo=UTC)


def row(n: int, **overrides: str) -> dict[str, str]:
    """A valid row for fictional patient n (1-5)."""
    return {
        "external_ref": f"C-{n:03d}",
        "name": f"测试患者{n}" if n % 2 else f"Test Patient {n}",
        "phone": PHONES[(n - 1) % len(PHONES)],
        "discharge_date": DISCHARGED,
        "department": "心内科",
        "ward": "3B",
        **overrides,
    }


def csv_text(rows: Iterable[Mapping[str, str]], columns: list[str] = COLUMNS) -> str:
    """Rows as CSV text under a header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@pytest.fixture
def campaign_id(sessions: sessionmaker[Session], clock: FakeClock) -> int:
    """A post-discharge campaign with the template defaults (7d, 10d deadline, ICU excluded)."""
    with sessions.begin() as session:
        return factories.campaign(session, clock.now).id


def run(
    sessions: sessionmaker[Session], campaign_id: int, text: str, now: datetime, **kwargs: Any
) -> ImportReport:
    """Import CSV text the way an uploaded file is read (newline="")."""
    return import_cases(sessions, campaign_id, io.StringIO(text, newline=""), now=now, **kwargs)


def cases_by_ref(sessions: sessionmaker[Session]) -> dict[str, Case]:
    """Every stored case with its contact loaded, by external_ref."""
    with sessions() as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
        for case in cases:
            _ = case.contact
        return {case.external_ref: case for case in cases}


def count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    """Number of rows in a table."""
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_good_file_imports_every_row_with_its_first_call_and_deadline(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """Each row becomes a pending case, first call 7 days on at 08:00 local, with its contact."""
    report = run(sessions, campaign_id, csv_text(row(n) for n in range(1, 6)), clock.now)

    assert (5, 5, 0, [], []) == (
        report.lines,
        report.imported,
        report.excluded,
        report.duplicates,
        report.errors,
    )
    cases = cases_by_ref(sessions)
    assert ["C-001", "C-002", "C-003", "C-004", "C-005"] == list(cases)
    for case in cases.values():
        assert CaseStatus.PENDING == case.status
        assert FIRST_CALL_AT == case.next_call_at
        assert DEADLINE_AT == case.deadline_at
        assert 0 == case.attempts_made
        assert clock.now == case.created_at
    first, third = cases["C-001"], cases["C-003"]
    assert ("测试患者1", "+12025550123", "zh-CN", "Asia/Shanghai") == (
        first.contact.name,
        first.contact.phone,
        first.contact.language,
        first.contact.timezone,
    )
    assert "+8613800138000" == third.contact.phone  # national number read in the campaign's CN
    assert ("心内科", "3B") == (first.department, first.ward)


def test_optional_columns_reach_the_contact_and_the_case_details(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """Sex, age, language and time zone go to the contact; doctor and diagnosis to details."""
    columns = [*COLUMNS, "sex", "age", "language", "timezone", "doctor", "diagnosis"]
    extra = {"sex": "女", "age": "67", "language": "en-US", "timezone": "Australia/Sydney"}
    details = {"doctor": "Dr Example", "diagnosis": "fictional diagnosis"}
    run(sessions, campaign_id, csv_text([row(2, **extra, **details)], columns), clock.now)

    case = cases_by_ref(sessions)["C-002"]
    assert ("F", 67, "en-US", "Australia/Sydney") == (
        case.contact.sex,
        case.contact.age,
        case.contact.language,
        case.contact.timezone,
    )
    assert details == case.details
    # 08:00 in Sydney (UTC+11 in January) on 2030-01-12.
    assert datetime(2030, 1, 11, 21, 0, tzinfo=UTC) == case.next_call_at


def test_excluded_ward_is_stored_but_never_called(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """An ICU row is imported as EXCLUDED with its reason and no call time."""
    report = run(sessions, campaign_id, csv_text([row(1), row(2, ward="icu")]), clock.now)

    assert (2, 1) == (report.imported, report.excluded)
    case = cases_by_ref(sessions)["C-002"]
    assert CaseStatus.EXCLUDED == case.status
    assert "ward ICU is excluded" == case.excluded_reason
    assert case.next_call_at is None


def test_bad_rows_are_reported_by_line_while_good_rows_import(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """Rows with errors are listed with line and ref; the rows around them import."""
    rows = [row(1), row(2, phone="12345"), row(3), row(4, discharge_date="2030-02-30"), row(5)]
    report = run(sessions, campaign_id, csv_text(rows), clock.now)

    assert 3 == report.imported
    assert [(3, "C-002"), (5, "C-004")] == [(e.line, e.external_ref) for e in report.errors]
    assert report.errors[0].reason.startswith("phone:")
    assert report.errors[1].reason.startswith("discharge_date:")
    assert ["C-001", "C-003", "C-005"] == list(cases_by_ref(sessions))


def test_over_long_value_is_a_row_error_not_a_crash(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A value longer than its column is reported (PostgreSQL would refuse the whole batch)."""
    rows = [row(1, external_ref="R" * 101), row(2, department="科" * 101), row(3)]
    report = run(sessions, campaign_id, csv_text(rows), clock.now)

    assert 1 == report.imported
    assert [
        (2, None, "external_ref: longer than 100 characters"),
        (3, "C-002", "department: longer than 100 characters"),
    ] == [(e.line, e.external_ref, e.reason) for e in report.errors]


def test_repeated_ref_in_the_file_is_skipped_as_a_duplicate(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """The first row with a ref imports; a later one is a duplicate naming the first line."""
    rows = [row(1), row(2), row(1, name="Test Patient Again"), row(3)]
    report = run(sessions, campaign_id, csv_text(rows), clock.now)

    assert 3 == report.imported
    assert [DuplicateRow(line=4, external_ref="C-001", first_line=2)] == report.duplicates
    assert [] == report.errors
    assert "测试患者1" == cases_by_ref(sessions)["C-001"].contact.name


def test_repeated_ref_with_another_problem_stays_an_error(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A repeat that is also broken is listed with all its problems, not hidden as a duplicate."""
    report = run(sessions, campaign_id, csv_text([row(1), row(1, phone="12345")]), clock.now)

    assert [] == report.duplicates
    assert [3] == [error.line for error in report.errors]
    assert "duplicate external_ref, first seen on line 2" in report.errors[0].reason


def test_reimporting_the_same_file_adds_nothing(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A second run skips every ref already imported and reports each as a duplicate."""
    text = csv_text(row(n) for n in range(1, 4))
    run(sessions, campaign_id, text, clock.now)
    again = run(
        sessions, campaign_id, csv_text(row(n) for n in range(1, 5)), clock.advance(hours=1)
    )

    assert 1 == again.imported
    assert [DuplicateRow(n + 1, f"C-{n:03d}") for n in range(1, 4)] == again.duplicates
    assert 4 == count(sessions, Case)
    assert 4 == count(sessions, Contact)


def test_same_ref_in_another_campaign_is_not_a_duplicate(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """Refs are unique per campaign: another hospital may use the same numbering."""
    with sessions.begin() as session:
        other_id = factories.campaign(session, clock.now, name="ward-9").id
    text = csv_text([row(1)])
    run(sessions, campaign_id, text, clock.now)
    report = run(sessions, other_id, text, clock.now)

    assert (1, []) == (report.imported, report.duplicates)


def test_bad_header_raises_and_imports_nothing(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A file without a required column is refused as a whole before anything is written."""
    columns = [c for c in COLUMNS if c != "phone"]
    with pytest.raises(CsvFormatError, match="missing required column"):
        run(sessions, campaign_id, csv_text([row(1), row(2)], columns), clock.now)

    assert 0 == count(sessions, Case)


def test_unknown_campaign_is_refused(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    """Importing into a campaign id that does not exist names the id."""
    with pytest.raises(CampaignError, match="no campaign with id 999"):
        run(sessions, 999, csv_text([row(1)]), clock.now)


def test_small_batches_commit_every_row(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """With batch_size=2, five rows go in three transactions and all of them are stored."""
    commits: list[int] = []
    event.listen(sessions, "after_commit", lambda session: commits.append(1))
    report = run(
        sessions, campaign_id, csv_text(row(n) for n in range(1, 6)), clock.now, batch_size=2
    )

    assert 5 == report.imported
    assert 5 == count(sessions, Case)
    assert 3 == len(commits)


def test_progress_is_reported_per_batch_up_to_the_number_of_data_lines(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """After each batch on_progress gets the data lines done; errors count, blank lines do not."""
    text = csv_text([row(1), row(2, phone="bad"), row(3), row(1), row(4)]) + "\n,,,,,\n"
    seen: list[int] = []
    run(sessions, campaign_id, text, clock.now, batch_size=2, on_progress=seen.append)

    assert [2, 4, 5] == seen


def test_case_past_its_deadline_is_stored_done_and_escalated(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A row imported after its deadline is stored done, with an escalation for a person."""
    late = row(2, discharge_date="2029-12-20")  # deadline 2029-12-30, before the import
    report = run(sessions, campaign_id, csv_text([row(1), late]), clock.now)

    assert (2, 1) == (report.imported, report.missed_deadline)
    case = cases_by_ref(sessions)["C-002"]
    assert (CaseStatus.DONE, CaseOutcome.MISSED_DEADLINE) == (case.status, case.outcome)
    assert (None, clock.now) == (case.next_call_at, case.done_at)
    with sessions() as session:
        (escalation,) = session.scalars(select(Escalation)).all()
    assert (case.id, "unreachable") == (escalation.case_id, escalation.reason)
    assert "never called" in (escalation.detail or "")


def test_row_due_already_is_called_at_the_import_time(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A row past its offset but inside a window and before its deadline is due right away."""
    run(sessions, campaign_id, csv_text([row(1, discharge_date="2029-12-31")]), clock.now)

    assert clock.now == cases_by_ref(sessions)["C-001"].next_call_at  # 09:00 Asia/Shanghai


def test_unreadable_line_mid_file_keeps_the_committed_batches_and_rerun_completes(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """A crash mid-file loses only the batch in hand; re-running the fixed file adds the rest."""
    rows = [row(1, external_ref=f"C-{n:03d}") for n in range(1, 201)]
    good = csv_text(rows).encode()
    # Far enough in that the first decoded chunks of the stream yield rows before the bad byte.
    bad = good[: len(good) - 200] + b"\xff" + good[len(good) - 200 :]
    stream = io.TextIOWrapper(io.BytesIO(bad), encoding="utf-8", newline="")
    with pytest.raises(CsvFormatError, match="CSV UTF-8"):
        import_cases(sessions, campaign_id, stream, now=clock.now, batch_size=10)

    stored = count(sessions, Case)
    assert 0 < stored < 200
    assert 0 == stored % 10
    report = run(sessions, campaign_id, good.decode(), clock.now, batch_size=10)
    assert (200 - stored, stored) == (report.imported, len(report.duplicates))
    assert 200 == count(sessions, Case) == count(sessions, Contact)


def test_ref_committed_by_a_concurrent_import_is_skipped(
    sessions: sessionmaker[Session], engine: Engine, campaign_id: int, clock: FakeClock
) -> None:
    """A ref committed after the batch's SELECT trips the unique constraint: a duplicate."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite takes the write lock at BEGIN, so no other writer can slip in")
    injected: list[bool] = []

    def competitor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The importer's first INSERT comes after its SELECT of the refs it already has.
        if injected or not statement.startswith("INSERT INTO contact"):
            return
        injected.append(True)
        with Session(engine) as other, other.begin():
            campaign = other.get(Campaign, campaign_id)
            assert campaign is not None
            factories.case(other, campaign, clock.now, ref="C-002", phone=PHONES[0])

    event.listen(engine, "before_cursor_execute", competitor)
    try:
        report = run(sessions, campaign_id, csv_text(row(n) for n in range(1, 4)), clock.now)
    finally:
        event.remove(engine, "before_cursor_execute", competitor)

    assert 2 == report.imported
    assert [DuplicateRow(3, "C-002")] == report.duplicates
    assert 3 == count(sessions, Case) == count(sessions, Contact)


def test_two_imports_of_one_file_at_once_store_each_case_once(
    sessions: sessionmaker[Session], campaign_id: int, clock: FakeClock
) -> None:
    """Two clerks uploading the same file together: every ref is stored once, no stray contacts."""
    text = csv_text(row(n) for n in range(1, 6))
    start = Barrier(2)

    def upload() -> ImportReport:
        start.wait()
        return run(sessions, campaign_id, text, clock.now)

    with ThreadPoolExecutor(2) as pool:
        reports = [f.result() for f in [pool.submit(upload), pool.submit(upload)]]

    assert 5 == sum(r.imported for r in reports)
    assert 5 == sum(len(r.duplicates) for r in reports)
    assert 5 == count(sessions, Case) == count(sessions, Contact)


def test_logs_and_summary_carry_counts_never_phone_numbers(
    sessions: sessionmaker[Session],
    campaign_id: int,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The import's log lines and summary hold counts only: no phone number, whole or national."""
    rows = [row(1), row(2, phone="12345"), row(3), row(3)]
    with caplog.at_level(logging.DEBUG):
        report = run(sessions, campaign_id, csv_text(rows), clock.now)

    assert (
        "4 data lines: 2 imported (0 excluded, 0 past the deadline), "
        "1 duplicates skipped, 1 with errors" == str(report)
    )
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "cases.imported" in logged
    for digits in ("2025550123", "13800138000", "491570313"):
        assert digits not in logged


# --- cooling-off: per-case deadlines, a datetime anchor, hashed identity facts ----------------

POLICY_COLUMNS = [
    "external_ref",
    "name",
    "phone",
    "receipt_signed_at",
    "cooling_off_days",
    "dob",
    "id_last4",
    "premium",
    "payment_years",
    "product",
    "seller",
]
# Fictional: the birthdays and ID endings below belong to no one; they must never be stored.
CLEAR_FACTS = ("1980-02-29", "19800229", "1975-07-01", "19750701", "987x", "987X", "456X")


def policy(n: int, **overrides: str) -> dict[str, str]:
    """A valid row for fictional policyholder n, receipt signed the day before the clock."""
    return {
        "external_ref": f"99000000{n:02d}",
        "name": f"测试客户{n}",
        "phone": PHONES[(n - 1) % len(PHONES)],
        "receipt_signed_at": "2030-01-06T15:30:00+08:00",
        "cooling_off_days": "15",
        "dob": "1980-02-29",
        "id_last4": "987x",
        "premium": "12000",
        "payment_years": "10",
        "product": "示例终身寿险(演示)",
        "seller": "测试业务员甲",
        **overrides,
    }


@pytest.fixture
def cooling_off_id(sessions: sessionmaker[Session], clock: FakeClock) -> int:
    """A cooling-off campaign row with the template's checked options.

    Built without create_campaign: importing does not need the flow, whose file another change
    ships (tests/integration/test_examples.py creates one properly once it is there).
    """
    tpl = template("cooling-off")
    with sessions.begin() as session:
        campaign = Campaign(
            name="policies",
            template=tpl.name,
            flow=tpl.flow,
            options=resolve_options(tpl, {}),
            created_at=clock.now,
        )
        session.add(campaign)
        session.flush()
        return campaign.id


def run_policies(
    sessions: sessionmaker[Session],
    campaign_id: int,
    rows: Iterable[Mapping[str, str]],
    now: datetime,
) -> ImportReport:
    """Import policy rows with the instance secret."""
    return run(sessions, campaign_id, csv_text(rows, POLICY_COLUMNS), now, secret_key=SECRET_KEY)


def test_cooling_off_deadline_counts_the_case_days_from_the_signed_receipt(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """10 or 15 days per row after the signing instant; a blank cell takes the campaign's 15."""
    rows = [policy(1), policy(2, cooling_off_days="10"), policy(3, cooling_off_days="")]
    report = run_policies(sessions, cooling_off_id, rows, clock.now)

    assert (3, []) == (report.imported, report.errors)
    signed_at = datetime(2030, 1, 6, 7, 30, tzinfo=UTC)
    cases = cases_by_ref(sessions)
    assert [signed_at + timedelta(days=days) for days in (15, 10, 15)] == [
        case.deadline_at for case in cases.values()
    ]
    assert ["15", "10", "15"] == [case.details["cooling_off_days"] for case in cases.values()]
    assert all(clock.now == case.next_call_at for case in cases.values())  # 09:00, in a window


def test_cooling_off_deadline_from_a_receipt_date_counts_from_its_local_midnight(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """Without a time, receipt + N days starts at 00:00 Asia/Shanghai (16:00 UTC the day before)."""
    rows = [policy(1, receipt_signed_at="2030-01-06", cooling_off_days="10")]
    run_policies(sessions, cooling_off_id, rows, clock.now)

    case = cases_by_ref(sessions)["9900000001"]
    assert datetime(2030, 1, 15, 16, 0, tzinfo=UTC) == case.deadline_at
    assert "receipt_signed_at" not in case.details  # nothing more than anchor_date to keep


def test_campaign_option_sets_the_cooling_off_days_of_blank_rows(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """cooling_off_days=10 on the campaign gives blank rows 10 days; a row's own 15 still wins."""
    tpl = template("cooling-off")
    with sessions.begin() as session:
        campaign = Campaign(
            name="ten-day products",
            template=tpl.name,
            flow=tpl.flow,
            options=resolve_options(tpl, {"cooling_off_days": "10"}),
            created_at=clock.now,
        )
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    rows = [policy(1, cooling_off_days=""), policy(2)]
    run_policies(sessions, campaign_id, rows, clock.now)

    signed_at = datetime(2030, 1, 6, 7, 30, tzinfo=UTC)
    assert [signed_at + timedelta(days=10), signed_at + timedelta(days=15)] == [
        case.deadline_at for case in cases_by_ref(sessions).values()
    ]


def test_receipt_signed_later_today_is_not_called_before_it(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """The first call waits for the signing time, even when the window is already open."""
    run_policies(
        sessions,
        cooling_off_id,
        [policy(1, receipt_signed_at="2030-01-07T10:30")],  # Asia/Shanghai, 90 min from now
        clock.now,
    )
    case = cases_by_ref(sessions)["9900000001"]
    assert datetime(2030, 1, 7, 2, 30, tzinfo=UTC) == case.next_call_at
    assert "2030-01-07T02:30:00Z" == case.details["receipt_signed_at"]


def test_cooling_off_details_keep_the_policy_and_only_hashes_of_the_facts(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """Premium, term, product and seller are kept; dob and id_last4 only as keyed hashes."""
    run_policies(sessions, cooling_off_id, [policy(1)], clock.now)

    details = cases_by_ref(sessions)["9900000001"].details
    assert {
        "premium": "12000",
        "payment_years": "10",
        "product": "示例终身寿险(演示)",
        "seller": "测试业务员甲",
        "cooling_off_days": "15",
        "receipt_signed_at": "2030-01-06T07:30:00Z",
        FACTS_KEY: {
            "dob": fact_hash(SECRET_KEY, "dob", "19800229"),
            "id_last4": fact_hash(SECRET_KEY, "id_last4", "987X"),
        },
    } == details
    facts = details[FACTS_KEY]
    assert fact_matches(SECRET_KEY, "dob", "19800229", facts["dob"])
    assert fact_matches(SECRET_KEY, "id_last4", "987*", facts["id_last4"])


def test_clear_identity_facts_appear_nowhere_in_the_database(
    sessions: sessionmaker[Session],
    cooling_off_id: int,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every column of every table, JSON included, and the log are free of the clear facts."""
    rows = [
        policy(1),
        policy(2, dob="1975-07-01", id_last4="456X"),
        policy(3, dob="1975-07-01", id_last4="12"),  # rejected: its reason must not echo either
    ]
    with caplog.at_level(logging.DEBUG):
        report = run_policies(sessions, cooling_off_id, rows, clock.now)

    assert (2, [4]) == (report.imported, [error.line for error in report.errors])
    stored: list[str] = []
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            for record in session.execute(table.select()).mappings():
                stored.extend(
                    json.dumps(v, default=str, ensure_ascii=False) for v in record.values()
                )
    text = " ".join(stored)
    assert "测试客户1" in text  # the scan does see the stored rows
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    reported = " ".join(f"{error} {error.reason}" for error in report.errors) + str(report)
    for clear in CLEAR_FACTS:
        assert clear not in text
        assert clear not in logged
        assert clear not in reported


def test_template_with_facts_refuses_to_import_without_the_secret(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """No IVR_SECRET_KEY, no import: nothing is read or written, and the error says what to set."""
    for secret in (None, ""):
        with pytest.raises(SecretRequiredError, match="IVR_SECRET_KEY"):
            run(
                sessions,
                cooling_off_id,
                csv_text([policy(1)], POLICY_COLUMNS),
                clock.now,
                secret_key=secret,
            )
    assert 0 == count(sessions, Case)


def test_bad_cooling_off_rows_are_reported_by_line_while_good_rows_import(
    sessions: sessionmaker[Session], cooling_off_id: int, clock: FakeClock
) -> None:
    """A bad dob, id_last4 or cooling_off_days rejects its row, named by line and policy number."""
    rows = [
        policy(1),
        policy(2, dob="1980-02-30"),
        policy(3, id_last4="98765"),
        policy(4, cooling_off_days="12"),
        policy(5),
    ]
    report = run_policies(sessions, cooling_off_id, rows, clock.now)

    assert 2 == report.imported
    assert [
        (3, "9900000002", "dob"),
        (4, "9900000003", "id_last4"),
        (5, "9900000004", "cooling_off_days"),
    ] == [(e.line, e.external_ref, e.reason.partition(":")[0]) for e in report.errors]


# The service programs: renovation's three cases per job, the clinic visitors who bought.


def service_campaign(sessions: sessionmaker[Session], name: str, now: datetime) -> int:
    """A campaign row of a template with its checked defaults (no flow needed to import)."""
    tpl = template(name)
    with sessions.begin() as session:
        campaign = Campaign(
            name=name,
            template=tpl.name,
            flow=tpl.flow,
            options=resolve_options(tpl, {}),
            created_at=now,
        )
        session.add(campaign)
        session.flush()
        return campaign.id


JOB_COLUMNS = [
    "external_ref",
    "name",
    "phone",
    "job_start",
    "job_end",
    "crew",
    "designer",
    "manager",
]


def job(n: int, **overrides: str) -> dict[str, str]:
    """A renovation job row for fictional customer n."""
    return {
        "external_ref": f"ZX-{n}",
        "name": f"测试客户{n}",
        "phone": PHONES[(n - 1) % len(PHONES)],
        "job_start": "2030-01-01",
        "job_end": "2030-03-01",
        "crew": "示例施工队甲",
        "designer": "测试设计师甲",
        "manager": "测试经理甲",
        **overrides,
    }


def test_renovation_job_becomes_three_cases_each_due_on_its_call_day(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """start + 10 days, mid-point, completion: first call at 09:00 that day, deadline 5 days on."""
    campaign_id = service_campaign(sessions, "renovation", clock.now)
    report = run(sessions, campaign_id, csv_text([job(1)], JOB_COLUMNS), clock.now)

    assert (1, 3, []) == (report.lines, report.imported, report.errors)
    cases = cases_by_ref(sessions)
    days = {
        "ZX-1-start": datetime(2030, 1, 11, tzinfo=UTC),
        "ZX-1-mid": datetime(2030, 1, 30, tzinfo=UTC),
        "ZX-1-end": datetime(2030, 3, 1, tzinfo=UTC),
    }
    # 09:00 Beijing is 01:00 UTC; the deadline, 5 days after the day began (16:00 UTC before).
    expected = {
        ref: (day + timedelta(hours=1), day + timedelta(days=5, hours=-8))
        for ref, day in days.items()
    }
    assert expected == {ref: (c.next_call_at, c.deadline_at) for ref, c in cases.items()}
    assert ["start", "mid", "end"] == [c.details["stage"] for c in cases.values()]
    assert {"测试设计师甲"} == {c.details["designer"] for c in cases.values()}
    assert 1 == len({c.contact.phone for c in cases.values()})


def test_renovation_reimport_skips_all_three_and_reports_bad_jobs_once(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """A job ending before it starts is one error on its line; re-running adds nothing."""
    campaign_id = service_campaign(sessions, "renovation", clock.now)
    text = csv_text([job(1), job(2, job_end="2029-12-01")], JOB_COLUMNS)
    first = run(sessions, campaign_id, text, clock.now)
    again = run(sessions, campaign_id, text, clock.now)

    assert (3, ["line 3 (ZX-2): job_end: must not be before job_start"]) == (
        first.imported,
        [f"line {e.line} ({e.external_ref}): {e.reason}" for e in first.errors],
    )
    assert (0, 3, 1) == (again.imported, len(again.duplicates), len(again.errors))
    assert 3 == count(sessions, Case)


def test_clinic_visitor_who_bought_is_stored_excluded(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """bought=yes: imported with its reason, never called; the others at noon the next day."""
    campaign_id = service_campaign(sessions, "clinic-visitor", clock.now)
    columns = ["external_ref", "name", "phone", "visit_date", "bought"]
    visits = [
        {
            "external_ref": f"FK-{n}",
            "name": "测试客户",
            "phone": PHONES[n],
            "visit_date": "2030-01-07",
            "bought": b,
        }
        for n, b in ((1, "no"), (2, "yes"))
    ]
    report = run(sessions, campaign_id, csv_text(visits, columns), clock.now)

    assert (2, 1) == (report.imported, report.excluded)
    cases = cases_by_ref(sessions)
    bought = cases["FK-2"]
    assert (CaseStatus.EXCLUDED, "bought: not called", None) == (
        bought.status,
        bought.excluded_reason,
        bought.next_call_at,
    )
    # 11:30 in Beijing on 8 Jan; the deadline is the end of 8 Jan.
    assert (datetime(2030, 1, 8, 3, 30, tzinfo=UTC), datetime(2030, 1, 8, 16, 0, tzinfo=UTC)) == (
        cases["FK-1"].next_call_at,
        cases["FK-1"].deadline_at,
    )


def test_care_insurance_case_keeps_frequency_and_appointment_for_the_flow(
    sessions: sessionmaker[Session], clock: FakeClock
) -> None:
    """The day after hospital exit, within a week; details carry what the prompts read."""
    campaign_id = service_campaign(sessions, "care-insurance", clock.now)
    columns = [
        "external_ref",
        "name",
        "phone",
        "hospital_exit_date",
        "frequency",
        "service",
        "provider",
        "next_appointment",
    ]
    rows = [
        {
            "external_ref": "HL-1",
            "name": "测试客户一",
            "phone": PHONES[0],
            "hospital_exit_date": "2030-01-07",
            "frequency": "yearly",
            "service": "居家护理",
            "provider": "示例护理服务中心",
            "next_appointment": "2030-01-20",
        }
    ]
    report = run(sessions, campaign_id, csv_text(rows, columns), clock.now)

    assert (1, []) == (report.imported, report.errors)
    case = cases_by_ref(sessions)["HL-1"]
    assert {
        "frequency": "yearly",
        "service": "居家护理",
        "provider": "示例护理服务中心",
        "appointment_date": "2030-01-20",
    } == case.details
    assert (datetime(2030, 1, 8, 1, 0, tzinfo=UTC), datetime(2030, 1, 13, 16, 0, tzinfo=UTC)) == (
        case.next_call_at,
        case.deadline_at,
    )
