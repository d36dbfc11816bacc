"""`ivr report` as a user runs it: the period, the split, table, JSON and CSV, clear refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

CSV_HEADER = "external_ref,name,phone,discharge_date,department,ward,doctor\n"
ROWS = (
    "R-1,测试患者一,+12025550131,2026-10-05,Cardiology,W3,Dr A\n"
    "R-2,测试患者二,+12025550132,2026-10-20,Cardiology,ICU,Dr B\n"
    "R-3,测试患者三,+12025550133,2026-11-02,Neurology,W5,Dr B\n"
)


def ready(ivr: Any, tmp_path: Path) -> None:
    assert ivr("db", "upgrade").exit_code == 0
    created = ivr(
        "campaigns",
        "create",
        "--template",
        "post-discharge",
        "--name",
        "ward-7",
        "--set",
        "excluded_wards=ICU",
    )
    assert created.exit_code == 0, created.output
    path = tmp_path / "cases.csv"
    path.write_text(CSV_HEADER + ROWS, encoding="utf-8")
    imported = ivr("cases", "import", str(path), "--campaign", "ward-7")
    assert imported.exit_code == 0, imported.output


def test_report_for_a_month_split_by_doctor(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path)

    october = json.loads(
        ivr("report", "--campaign", "ward-7", "--month", "2026-10", "--format", "json").output
    )
    assert october["period"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert (october["cases"], october["excluded"], october["attempted"]) == (2, 1, 0)
    assert october["follow_up_rate"] == 0.0
    assert october["targets"]["follow_up_rate"] == {"target": 0.8, "value": 0.0, "met": False}

    whole = json.loads(
        ivr("report", "--campaign", "ward-7", "--by", "doctor", "--format", "json").output
    )
    assert whole["cases"] == 3 and sorted(whole["groups"]) == ["Dr A", "Dr B"]
    assert whole["groups"]["Dr B"]["excluded"] == 1

    table = ivr("report", "--campaign", "ward-7", "--by", "department").output
    assert "Cardiology" in table and "Neurology" in table and "NOT met" in table
    assert "ward-7, all dates" in table and "…" not in table
    titled = ivr("report", "--campaign", "ward-7", "--from", "2026-10-01").output
    assert "ward-7, from 2026-10-01" in titled

    rows = list(
        csv.DictReader(
            io.StringIO(
                ivr("report", "--campaign", "ward-7", "--by", "ward", "--format", "csv").output
            )
        )
    )
    assert [row["ward"] for row in rows] == ["all", "ICU", "W3", "W5"]
    assert rows[0]["cases"] == "3" and rows[1]["excluded"] == "1"


def test_report_refusals_are_one_line(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path)
    unknown = ivr("report", "--campaign", "nope")
    assert unknown.exit_code == 1 and "ward-7" in unknown.output
    bad_month = ivr("report", "--campaign", "ward-7", "--month", "2026-13")
    assert bad_month.exit_code == 2 and "2026-13" in bad_month.output
    both = ivr("report", "--campaign", "ward-7", "--month", "2026-10", "--from", "2026-10-01")
    assert both.exit_code == 2 and "not both" in both.output
    backwards = ivr("report", "--campaign", "ward-7", "--from", "2026-11-01", "--to", "2026-10-01")
    assert backwards.exit_code == 1 and "after it ends" in backwards.output


def test_a_campaign_sets_its_own_targets(ivr: Any, tmp_path: Path) -> None:
    """A day-surgery ward is held to 50 %; a bad target is refused with the figures it takes."""
    assert ivr("db", "upgrade").exit_code == 0
    made = ivr(
        "campaigns",
        "create",
        "--template",
        "post-discharge",
        "--name",
        "day-surgery",
        "--set",
        "targets=follow_up_rate=50,satisfaction_rate=0.9",
    )
    assert made.exit_code == 0, made.output
    report = json.loads(ivr("report", "--campaign", "day-surgery", "--format", "json").output)
    assert report["targets"] == {
        "follow_up_rate": {"target": 0.5, "value": None, "met": None},
        "satisfaction_rate": {"target": 0.9, "value": None, "met": None},
    }
    listed = json.loads(ivr("campaigns", "list", "--format", "json").output)
    assert listed[0]["options"]["targets"] == "follow_up_rate=0.5,satisfaction_rate=0.9"

    bad = ivr(
        "campaigns",
        "create",
        "--template",
        "post-discharge",
        "--name",
        "x",
        "--set",
        "targets=speed=1",
    )
    assert bad.exit_code != 0 and "follow_up_rate" in bad.output
