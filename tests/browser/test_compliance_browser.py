"""A compliance officer in a real browser: signs in, searches by policy number, replays a
recording and seeks it to 30 s, exports the case file; an agent is refused the search."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.models import AuditEntry
from tests.browser.conftest import LAPTOP, TABLET, Live, screenshot, sign_in
from tests.integration.test_replay import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

SEEK_TO = 30


def seek(page: Any, seconds: float) -> float:
    """Set the player's position, wait until the browser has data there; its currentTime."""
    # Functions, not expression strings: the page's CSP forbids the eval a string would need.
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    page.evaluate("(at) => { document.getElementById('player').currentTime = at; }", seconds)
    page.wait_for_function(
        """(at) => {
            const a = document.getElementById('player');
            return !a.seeking && a.currentTime >= at && a.readyState >= 2;
        }""",
        arg=seconds,
    )
    return float(page.evaluate("() => document.getElementById('player').currentTime"))


def both_sizes(page: Any, folder: Path, name: str) -> None:
    """Screenshots at a laptop's size and a tablet's."""
    page.set_viewport_size(LAPTOP)
    screenshot(page, folder, f"{name}-laptop")
    page.set_viewport_size(TABLET)
    screenshot(page, folder, f"{name}-tablet")
    page.set_viewport_size(LAPTOP)


def test_a_compliance_officer_searches_replays_seeks_and_exports(
    live: Live, context: Any, artefacts: Path
) -> None:
    """The whole visit, with a screenshot of each page; the seek reaches 30 s through a ranged
    request, each audited; the downloaded zip's manifest matches its files."""
    page = context.new_page()
    page.goto("/console/sign-in?lang=en")
    screenshot(page, artefacts, "sign-in")
    sign_in(page, "cora", PASSWORD)
    assert page.url.endswith("/console/calls")

    page.fill("#ref", "P-0001")
    with page.expect_navigation():
        page.click("form.search button[type=submit]")
    assert 2 == page.locator("#calls tbody tr").count()
    both_sizes(page, artefacts, "calls")

    with page.expect_navigation():
        page.click("a.replay")
    assert "/console/recordings/" in page.url
    page.fill("#reason", "complaint C-7")
    with page.expect_navigation():
        page.click("#reason ~ button")
    assert seek(page, SEEK_TO) >= SEEK_TO
    # Seekable to the end only because the endpoint answers byte ranges (Accept-Ranges, 206).
    seekable = page.evaluate("() => document.getElementById('player').seekable.end(0)")
    assert seekable >= 60
    both_sizes(page, artefacts, "replay")

    # A timeline moment seeks the player too (replay.js).
    page.evaluate("() => { document.getElementById('player').currentTime = 0; }")
    page.click("button[data-seek='30.0']")
    page.wait_for_function("() => document.getElementById('player').currentTime >= 30")

    with page.expect_download() as caught:
        page.click("#export")
    download = caught.value
    data = Path(download.path()).read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(data))
    for line in archive.read("manifest.txt").decode().splitlines():
        if not line.startswith("#"):
            digest, name = line.split("  ", 1)
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    assert live.world.recording in [archive.read(n) for n in archive.namelist()]

    page.goto("/console/audit")
    assert "verifies" in page.inner_text("#chain")
    both_sizes(page, artefacts, "audit")

    with live.sessions() as session:
        entries = session.execute(
            select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        ).all()
    actions = {action for action, _ in entries}
    assert {"recording.view", "recording.replay", "case.export"} <= actions
    # The page first loads with the default reason, then with the one the officer typed.
    reasons = [d["reason"] for a, d in entries if a == "recording.replay"]
    assert "complaint C-7" in reasons
    assert {"console: compliance review", "complaint C-7"} >= set(reasons)
    zips = [d["zip_sha256"] for a, d in entries if a == "case.export"]
    assert [hashlib.sha256(data).hexdigest()] == zips


def test_an_agent_opening_the_call_search_gets_403(
    live: Live, context: Any, artefacts: Path
) -> None:
    """The agent signs in to their queue; the compliance search answers 403 with the page."""
    page = context.new_page()
    sign_in(page, "ann", PASSWORD)
    answer = page.goto("/console/calls")
    assert answer is not None and 403 == answer.status
    assert "You may not open this page." in page.inner_text("main")
    screenshot(page, artefacts, "agent-403")
