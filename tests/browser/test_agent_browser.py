"""An agent in a real browser: signs in to their queue, claims the escalation, opens the case,
plays and seeks its recording to 30 s, resolves it with an outcome and a note."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivr.models import Escalation, EscalationStatus
from tests.browser.conftest import Live, screenshot, sign_in
from tests.browser.test_compliance_browser import both_sizes
from tests.integration.test_replay import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_an_agent_claims_replays_seeks_and_resolves(
    live: Live, context: Any, artefacts: Path
) -> None:
    """The queue, the claim, the case page's player at 30 s, the resolution saved."""
    escalation_id = live.world.escalation_id
    page = context.new_page()
    sign_in(page, "ann", PASSWORD)
    assert page.url.endswith("/console/queue")
    row = page.locator(f"#escalation-{escalation_id}")
    both_sizes(page, artefacts, "agent-queue")
    with page.expect_navigation():
        row.locator("button[type=submit]").click()

    page.goto(f"/console/cases/{live.world.p1_case}?lang=en")
    player = page.locator("audio").first
    player.wait_for()
    # Functions, not expression strings: the page's CSP forbids the eval a string would need.
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    player.evaluate("(audio) => { audio.muted = true; audio.currentTime = 30; }")
    page.wait_for_function(
        """() => {
            const a = document.querySelector('audio');
            return !a.seeking && a.currentTime >= 30 && a.readyState >= 2;
        }"""
    )
    player.evaluate("(audio) => audio.play().catch(() => null)")
    both_sizes(page, artefacts, "agent-case")

    page.select_option(f"#outcome-{escalation_id}", index=0)
    page.fill(f"#note-{escalation_id}", "Called back; the patient is content now.")
    with page.expect_navigation():
        page.locator(f"form:has(#outcome-{escalation_id}) button[type=submit]").click()
    screenshot(page, artefacts, "agent-resolved")

    with live.sessions() as session:
        resolved = session.get_one(Escalation, escalation_id)
        assert EscalationStatus.RESOLVED == resolved.status
        assert "content now" in (resolved.resolution_note or "")
