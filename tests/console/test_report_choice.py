"""Reading the campaign page's report choice (?month=, ?by=) and naming its downloads: pure, no
app and no database."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.console.i18n import TEXTS
from ivr.console.report_choice import ReportChoice
from ivr.reports.scope import GROUPS

ARABIC_INDIC = "\u0662\u0660\u0662\u0666-\u0661\u0661"  # 2026-11 in digits Python's \d takes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, ReportChoice()),
        ({"month": "", "by": ""}, ReportChoice()),
        ({"month": " 2026-11 ", "by": "ward"}, ReportChoice("2026-11", "ward")),
        ({"month": "2026-13"}, ReportChoice(bad_month="2026-13")),
        ({"month": ARABIC_INDIC}, ReportChoice(bad_month=ARABIC_INDIC)),
        ({"by": "Department"}, ReportChoice(bad_by="Department")),  # keys are lower case
        ({"by": "x" * 100}, ReportChoice(bad_by="x" * 40)),
    ],
)
def test_the_choice_keeps_what_is_valid_and_sets_the_rest_aside(
    args: dict[str, str], expected: ReportChoice
) -> None:
    """A month of the builder's pattern and a key of its GROUPS are kept; the rest is named."""
    assert expected == ReportChoice.from_args(args)


def test_a_month_is_its_first_and_last_day() -> None:
    """February 2028 ends on the 29th; no month reports every case."""
    assert (date(2028, 2, 1), date(2028, 2, 29)) == ReportChoice("2028-02").period
    assert (None, None) == ReportChoice().period


@pytest.mark.parametrize(
    ("choice", "campaign", "expected"),
    [
        (ReportChoice("2026-11"), "cardio-2026-11", "report-cardio-2026-11-2026-11.xlsx"),
        (ReportChoice(by="doctor"), "ward 7", "report-ward-7-all-by-doctor.xlsx"),
        (ReportChoice("2026-11"), '../心内科/a"b', "report-心内科-a-b-2026-11.xlsx"),
        (ReportChoice(), "///", "report-campaign-all.xlsx"),
    ],
)
def test_a_download_is_named_after_campaign_month_and_grouping(
    choice: ReportChoice, campaign: str, expected: str
) -> None:
    """Letters of any script, digits, dots and dashes stay; path separators and quotes do not."""
    assert expected == choice.filename(campaign, "xlsx")


def test_links_keep_only_what_was_chosen() -> None:
    """No month and no grouping: no arguments, so a link is the plain page's."""
    assert {} == ReportChoice(bad_month="x").args()
    assert {"month": "2026-11", "by": "crew"} == ReportChoice("2026-11", "crew").args()


def test_every_grouping_has_a_name_in_both_languages() -> None:
    """The picker names each key of GROUPS in Chinese and English (a new key needs its texts)."""
    import ivr.console.supervisor_texts  # noqa: F401  (registers the texts)

    missing = [
        key
        for key in GROUPS
        for lang in ("zh", "en")
        if not TEXTS.get(f"sv_by_{key}", {}).get(lang)
    ]
    assert [] == missing
