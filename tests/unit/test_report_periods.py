"""How a report names its period: in its title and in the sentence under the page's heading."""

from __future__ import annotations

import pytest

from ivr.reports.build import period_label, period_sentence


@pytest.mark.parametrize(
    ("start", "end", "label", "sentence"),
    [
        (
            "2026-11-01",
            "2026-11-30",
            "2026-11-01 to 2026-11-30",
            "Cases with anchor dates from 2026-11-01 to 2026-11-30",
        ),
        (
            "2026-11-01",
            None,
            "from 2026-11-01",
            "Cases with anchor dates from 2026-11-01 on",
        ),
        (None, "2026-11-30", "up to 2026-11-30", "Cases with anchor dates up to 2026-11-30"),
        (None, None, "all dates", "Every case, whatever its anchor date"),
    ],
)
def test_a_period_reads_as_english_whichever_side_is_open(
    start: str | None, end: str | None, label: str, sentence: str
) -> None:
    """No "… to …" title and no "anchor dates the start to today"."""
    period = {"from": start, "to": end}
    assert (label, sentence) == (period_label(period), period_sentence(period))
