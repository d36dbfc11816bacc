"""The console on a tablet and in Chinese: pages fit the screen's width, and the Chinese text is
rendered (with the test set-up's CJK font) and screenshotted for a person to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import TABLET, Live, screenshot, sign_in
from tests.integration.test_replay import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def overflow_px(page: Any) -> int:
    """How far the page is wider than the window (0 when it fits)."""
    return int(
        page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_agents_pages_fit_a_tablet_in_both_languages(
    live: Live, context: Any, artefacts: Path, lang: str
) -> None:
    """The queue and the case page need no sideways scrolling at 768 px, in Chinese and English."""
    page = context.new_page()
    sign_in(page, "ann", PASSWORD)
    page.set_viewport_size(TABLET)
    for name, path in (
        ("queue", "/console/queue"),
        ("case", f"/console/cases/{live.world.p1_case}"),
    ):
        page.goto(f"{path}?lang={lang}")
        screenshot(page, artefacts, f"tablet-{name}-{lang}")
        assert 0 == overflow_px(page), f"{path} in {lang} is wider than a tablet"
    if lang == "zh":
        assert "回访" in page.locator("header, nav, body").first.inner_text()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_supervisors_campaign_report_fits_a_laptop_and_a_tablet(
    live: Live, context: Any, artefacts: Path, lang: str
) -> None:
    """The campaign page with a month's figures and targets, picked with the month input, then
    split by ward with the group picker; its workbook downloads with the page's choice."""
    page = context.new_page()
    sign_in(page, "sue", PASSWORD)
    page.goto(f"/console/campaigns/ward-7?lang={lang}")
    page.fill("input[name=month]", "2029-12")
    page.locator("input[name=month]").press("Enter")
    page.wait_for_url("**month=2029-12**")
    assert "2" == page.locator("#figure-cases td").first.inner_text().strip()
    page.select_option("select[name=by]", "ward")
    with page.expect_navigation():
        page.click("#report-choice button[type=submit]")
    assert "by=ward" in page.url and "month=2029-12" in page.url
    assert ["W3"] == [row.strip() for row in page.locator("#groups tbody th").all_inner_texts()]
    assert "2" == page.locator("#groups tbody td").first.inner_text().strip()
    screenshot(page, artefacts, f"campaign-laptop-{lang}")
    assert 0 == overflow_px(page), f"the campaign page in {lang} is wider than a laptop"
    page.set_viewport_size(TABLET)
    screenshot(page, artefacts, f"campaign-tablet-{lang}")
    assert 0 == overflow_px(page), f"the campaign page in {lang} is wider than a tablet"
    with page.expect_download() as download:
        page.click("#downloads a[href*='report.xlsx']")
    assert "report-ward-7-2029-12-by-ward.xlsx" == download.value.suggested_filename
