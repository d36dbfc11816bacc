"""Rates as the reports show them: fractions 0..1 to four places, None when 0/0."""

from __future__ import annotations


def ratio(part: int, whole: int) -> float | None:
    """part / whole rounded to 4 places; None when there is nothing to divide by."""
    return None if whole == 0 else round(part / whole, 4)
