"""Audit draws: reproducible, the right size, problem cases always in, every stratum covered."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.reports.sampling import Candidate, interval_draw, random_draw, sample_size


def population(n: int, *, problems: int = 0) -> list[Candidate]:
    channels = ("agent", "bank", "telesales")
    products = ("term-life", "annuity")
    return [
        Candidate(
            case_id=i + 1,
            ref=f"POL-{(i * 7919) % 100000:05d}",
            stratum=(channels[i % 3], products[i % 2]),
            problem=i < problems,
        )
        for i in range(n)
    ]


def test_sample_size_rounds_up_keeps_the_minimum_and_caps_at_all() -> None:
    assert sample_size(100, 0.2) == 20
    assert sample_size(101, 0.2) == 21
    assert sample_size(10_000, 0.005, 1200) == 1200
    assert sample_size(500, 0.005, 1200) == 500  # all if fewer
    assert sample_size(0, 0.2) == 0
    with pytest.raises(ValueError, match="share"):
        sample_size(10, 0)


def test_the_same_seed_draws_the_same_sample_and_another_seed_another() -> None:
    cases = population(500)
    first = random_draw(cases, 0.2, "2026-11")
    assert first == random_draw(list(reversed(cases)), 0.2, "2026-11")
    assert len(first.drawn) == 100 and len(set(first.drawn)) == 100
    assert first != random_draw(cases, 0.2, "another seed")


def test_the_regulators_draw_has_the_minimum_the_problems_and_every_stratum() -> None:
    cases = population(30_000, problems=7)
    draw = interval_draw(cases, 0.005, "seed", min_count=1200)
    assert len(draw.drawn) == 1200
    assert draw.problems == frozenset(range(1, 8))
    assert draw.drawn[:7] == tuple(range(1, 8))
    assert set(draw.strata) == {
        f"{c} / {p}" for c in ("agent", "bank", "telesales") for p in ("term-life", "annuity")
    }
    assert sum(drawn for _, drawn in draw.strata.values()) == 1200 - 7
    # Proportional: six strata of 4,998-5,000 cases each give 198 or 199.
    assert {drawn for _, drawn in draw.strata.values()} <= {198, 199}
    assert draw == interval_draw(cases, 0.005, "seed", min_count=1200)


def test_the_interval_draw_takes_equal_steps_through_the_sorted_policies() -> None:
    cases = [Candidate(i, f"POL-{i:04d}", ("agent", "x")) for i in range(1, 101)]
    drawn = interval_draw(cases, 0.1, "s").drawn
    steps = {b - a for a, b in itertools.pairwise(drawn)}
    assert len(drawn) == 10 and steps == {10}


def test_a_small_stratum_is_still_covered() -> None:
    cases = [Candidate(i, f"P{i:04d}", ("agent", "big")) for i in range(1000)]
    cases.append(Candidate(5000, "P9999", ("bank", "rare")))
    draw = interval_draw(cases, 0.01, "s")
    assert draw.strata["bank / rare"] == (1, 1)
    assert len(draw.drawn) == 11  # 1 % of 1,001, rounded up


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 400),
    problems=st.integers(0, 20),
    share=st.floats(0.001, 1.0),
    min_count=st.one_of(st.none(), st.integers(0, 500)),
    seed=st.text(max_size=8),
)
def test_any_draw_is_distinct_cases_of_the_population_and_includes_the_problems(
    n: int, problems: int, share: float, min_count: int | None, seed: str
) -> None:
    cases = population(n, problems=min(problems, n))
    draw = interval_draw(cases, share, seed, min_count=min_count)
    ids = {c.case_id for c in cases}
    assert len(set(draw.drawn)) == len(draw.drawn) and set(draw.drawn) <= ids
    assert draw.problems <= set(draw.drawn)
    covered = Counter(c.stratum for c in cases if c.case_id in set(draw.drawn) and not c.problem)
    strata = {c.stratum for c in cases if not c.problem}
    assert set(covered) == strata  # every stratum with cases has at least one drawn
    wanted = sample_size(n, share, min_count)
    assert len(draw.drawn) >= min(wanted, n)
    assert len(draw.drawn) <= max(wanted, len(strata) + min(problems, n))
