"""`ivr dnc add / remove / list / import` as a user runs them: environment in, text out, status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.privacy import mask_phone
from tests import factories

PHONE = factories.FICTIONAL_PHONES[0]  # +12025550100
OTHER = factories.FICTIONAL_PHONES[1]


@pytest.fixture
def ivr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run `ivr ...` on a fresh, migrated SQLite database; returns the click Result."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    env = {"IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    assert 0 == run("db", "upgrade").exit_code
    yield run


def listed(ivr: Any, *flags: str) -> list[dict[str, Any]]:
    """`ivr dnc list --format json` as data."""
    result = ivr("dnc", "list", "--format", "json", *flags)
    assert 0 == result.exit_code, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def test_added_numbers_are_listed_masked_unless_asked_in_full(ivr: Any) -> None:
    """The list shows +12*****0100 by default; --show-full is the one way to see the number."""
    added = ivr("dnc", "add", PHONE, "--reason", "asked by phone", "--by", "clerk-3")
    assert 0 == added.exit_code, added.output
    assert f"{mask_phone(PHONE)} is on the do-not-call list until removed" in added.stdout
    assert PHONE not in added.output

    table = ivr("dnc", "list")
    assert mask_phone(PHONE) in table.stdout and PHONE not in table.stdout
    assert "1 numbers" in table.stdout
    (row,) = listed(ivr)
    assert (mask_phone(PHONE), "cli", "asked by phone", "clerk-3", None) == (
        row["phone"],
        row["source"],
        row["reason"],
        row["added_by"],
        row["until"],
    )
    assert [PHONE] == [r["phone"] for r in listed(ivr, "--show-full")]


def test_a_national_number_is_read_in_the_region_given(ivr: Any) -> None:
    """--region US reads (202) 555-0100 as +12025550100; adding it again updates the one row."""
    assert 0 == ivr("dnc", "add", "(202) 555-0100", "--region", "US").exit_code
    again = ivr("dnc", "add", PHONE, "--until", "2099-06-30", "--reason", "second")
    assert "through 2099-06-30 (Asia/Shanghai)" not in again.stdout  # indefinite is kept
    assert "until removed" in again.stdout
    assert [(PHONE, "second")] == [(r["phone"], r["reason"]) for r in listed(ivr, "--show-full")]


def test_until_keeps_the_number_through_that_local_day(ivr: Any) -> None:
    """--until 2099-06-30 in Shanghai ends at that day's end: 2099-06-30T16:00Z."""
    result = ivr("dnc", "add", PHONE, "--until", "2099-06-30")
    assert "through 2099-06-30 (Asia/Shanghai)" in result.stdout
    assert ["2099-06-30T16:00:00Z"] == [r["until"] for r in listed(ivr)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("12345",), "NUMBER: not a valid number for region CN"),
        (("not a phone",), "NUMBER: not a phone number"),
        ((PHONE, "--until", "2001-01-01"), "--until: the date has passed"),
        ((PHONE, "--timezone", "Mars/Base"), "is not an IANA time zone"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_nothing_listed(
    ivr: Any, args: tuple[str, ...], message: str
) -> None:
    """A bad number, a past date or an unknown zone exits 1 and lists nothing."""
    result = ivr("dnc", "add", *args)
    assert 1 == result.exit_code
    assert message in result.output
    assert [] == listed(ivr)


def test_remove_takes_a_number_off_and_says_so_when_it_was_not_there(ivr: Any) -> None:
    """Removing a listed number exits 0; removing it again exits 1 with the masked number."""
    ivr("dnc", "add", PHONE)
    removed = ivr("dnc", "remove", PHONE, "--by", "clerk-3")
    assert 0 == removed.exit_code and "removed" in removed.stdout
    again = ivr("dnc", "remove", PHONE)
    assert 1 == again.exit_code
    assert f"{mask_phone(PHONE)} is not on the do-not-call list" in again.output
    assert [] == listed(ivr, "--all")


def test_import_lists_good_lines_and_names_each_bad_one_by_line(ivr: Any, tmp_path: Path) -> None:
    """Bad lines go to stderr with their number and the rule (never the cell); exit status 1."""
    path = tmp_path / "dnc.csv"
    path.write_text(
        "phone,reason,until\n"
        f"{PHONE},by letter,\n"
        "call me never,,\n"
        f"{OTHER},,2099-12-31\n"
        f"{factories.FICTIONAL_PHONES[2]},,31/12/2099\n",
        encoding="utf-8",
    )
    result = ivr("dnc", "import", str(path), "--by", "ops")
    assert 1 == result.exit_code
    assert "4 data lines: 2 numbers listed, 2 with errors" in result.stdout
    assert "line 3: phone: not a phone number" in result.stderr
    assert "line 5: until: not a date YYYY-MM-DD" in result.stderr
    assert "31/12/2099" not in result.output and "call me never" not in result.output
    rows = listed(ivr, "--show-full")
    assert {PHONE, OTHER} == {r["phone"] for r in rows}
    assert {"csv"} == {r["source"] for r in rows}


def test_import_of_a_file_without_a_phone_column_lists_nothing(ivr: Any, tmp_path: Path) -> None:
    """The header is checked first: the whole file is refused."""
    path = tmp_path / "dnc.csv"
    path.write_text(f"number\n{PHONE}\n", encoding="utf-8")
    result = ivr("dnc", "import", str(path))
    assert 1 == result.exit_code
    assert "no 'phone' column" in result.output
    assert [] == listed(ivr)


def test_every_dnc_command_names_the_database_setting(ivr: Any) -> None:
    """Each command's --help says which environment variable it reads."""
    for command in ("add", "remove", "list", "import"):
        result = ivr("dnc", command, "--help")
        assert 0 == result.exit_code
        assert "IVR_DATABASE_URL" in result.output, command
