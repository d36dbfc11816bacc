"""Care-insurance follow-ups: the next anchor per frequency and the numbering of a series."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.cases.recurrence import next_anchor, split_ref


@pytest.mark.parametrize(
    ("anchor", "frequency", "expected"),
    [
        (date(2030, 1, 15), "monthly", date(2030, 2, 15)),
        (date(2030, 1, 31), "monthly", date(2030, 2, 28)),  # clamped to the month's end
        (date(2032, 1, 31), "monthly", date(2032, 2, 29)),  # a leap year's February
        (date(2030, 3, 31), "monthly", date(2030, 4, 30)),
        (date(2030, 12, 15), "monthly", date(2031, 1, 15)),  # across the year
        (date(2030, 11, 30), "quarterly", date(2031, 2, 28)),
        (date(2030, 1, 31), "quarterly", date(2030, 4, 30)),
        (date(2030, 10, 1), "quarterly", date(2031, 1, 1)),
        (date(2032, 2, 29), "yearly", date(2033, 2, 28)),  # no 29 Feb next year
        (date(2030, 6, 30), "yearly", date(2031, 6, 30)),
    ],
)
def test_next_anchor_moves_by_the_frequency_clamped_to_the_months_end(
    anchor: date, frequency: str, expected: date
) -> None:
    """The same day a month, a quarter or a year on; the month's last day where it has fewer."""
    assert expected == next_anchor(anchor, frequency)


def test_a_clamped_day_stays_clamped() -> None:
    """31 Jan, 28 Feb, 28 Mar: each follow-up counts from the one before it."""
    assert date(2030, 3, 28) == next_anchor(next_anchor(date(2030, 1, 31), "monthly"), "monthly")


def test_unknown_frequency_is_refused() -> None:
    """Only the three frequencies the CSV accepts."""
    with pytest.raises(ValueError, match="monthly, quarterly, yearly"):
        next_anchor(date(2030, 1, 1), "weekly")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("HL-1", ("HL-1", 1)),
        ("HL-1#2", ("HL-1", 2)),
        ("HL-1#12", ("HL-1", 12)),
        ("A#B#3", ("A#B", 3)),
        ("HL-1#", ("HL-1#", 1)),  # no number: part of the base
    ],
)
def test_split_ref_separates_the_series_number(ref: str, expected: tuple[str, int]) -> None:
    """The first case is number 1; follow-ups carry #n."""
    assert expected == split_ref(ref)
