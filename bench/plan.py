"""`python -m bench plan`: planning 100,000 cases against converting each one's time to local.

The baseline does the least any planner must: look the contact's zone up and convert the case's
anchor instant to local time with zoneinfo. Ours is scheduler.planner.plan_next_call on the same
cases: two windows a day (08:00-11:00, 14:00-17:00), a 7-day offset, a 10-day deadline, up to 3
attempts 2 hours apart, 0-2 of them made; contacts mostly in Asia/Shanghai, some in
America/New_York and Europe/London, anchors spread over a year so DST changes are crossed.
ratio = baseline seconds / our seconds (both best of a few runs); our run must also stay under
5 s per 100,000 cases.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bench.frame import Memory, Options, Outcome
from bench.measure import best_of, profiled, traced_peak
from scheduler.planner import CallPolicy, parse_duration, parse_windows, plan_next_call

TARGET = 0.2
CASES = 100_000
SECONDS_PER_100K = 5.0  # the absolute ceiling issue 4 sets for our side
ZONES = (("Asia/Shanghai", 0.80), ("America/New_York", 0.12), ("Europe/London", 0.08))
ATTEMPTS_MADE = ((0, 0.6), (1, 0.25), (2, 0.15))
BASELINE_REPEATS = 5
OURS_REPEATS = 3
SEED = 20300101

POLICY = CallPolicy(
    offset=parse_duration("7d"),
    windows=parse_windows("08:00-11:00,14:00-17:00"),
    max_attempts=3,
    retry_spacing=parse_duration("2h"),
    deadline_after=parse_duration("10d"),
)


@dataclass(frozen=True, slots=True)
class PlanInput:
    """One case as the dispatcher hands it to the planner."""

    anchor: date
    anchor_at: datetime  # the anchor day's start in UTC: what the baseline converts
    zone: str
    attempts_made: int
    last_attempt_at: datetime | None
    now: datetime


def make_cases(count: int, seed: int = SEED) -> list[PlanInput]:
    """`count` cases with the zone and attempt mix above, the same for a given seed."""
    rng = random.Random(seed)
    zones = [zone for zone, _ in ZONES]
    zone_weights = [weight for _, weight in ZONES]
    made = [attempts for attempts, _ in ATTEMPTS_MADE]
    made_weights = [weight for _, weight in ATTEMPTS_MADE]
    first_day = date(2030, 1, 1)
    cases: list[PlanInput] = []
    for _ in range(count):
        anchor = first_day + timedelta(days=rng.randrange(365))
        anchor_at = datetime.combine(anchor, time(), UTC)
        # Planned from a little before the offset to a little after the deadline: most cases
        # land in a window, some wait for one, some have none left.
        now = anchor_at + timedelta(seconds=rng.uniform(6.5 * 86400, 10.5 * 86400))
        attempts = rng.choices(made, made_weights)[0]
        last = now - timedelta(seconds=rng.uniform(0, 4 * 3600)) if attempts else None
        zone = rng.choices(zones, zone_weights)[0]
        cases.append(PlanInput(anchor, anchor_at, zone, attempts, last, now))
    return cases


def baseline(cases: list[PlanInput]) -> list[datetime]:
    """Each case's anchor instant in its contact's local time, and nothing more."""
    return [case.anchor_at.astimezone(ZoneInfo(case.zone)) for case in cases]


def ours(cases: list[PlanInput]) -> list[datetime | None]:
    """Each case's next call as the dispatcher asks for it."""
    return [
        plan_next_call(
            anchor=case.anchor,
            attempts_made=case.attempts_made,
            last_attempt_at=case.last_attempt_at,
            policy=POLICY,
            tz=ZoneInfo(case.zone),
            now=case.now,
        )
        for case in cases
    ]


def run(options: Options) -> Outcome:
    """Time both sides on the same cases; trace a separate pass of ours for its memory peak."""
    count = options.size or CASES
    cases = make_cases(count)
    planned = ours(cases)  # warms zoneinfo's caches for both sides, and checks the answers
    early = sum(1 for at, case in zip(planned, cases, strict=True) if at and at < case.now)
    if early:
        raise AssertionError(f"{early} cases planned before their `now`")
    baseline_s = best_of(BASELINE_REPEATS, lambda: baseline(cases))
    ours_s = best_of(OURS_REPEATS, lambda: ours(cases))
    _, peak = traced_peak(lambda: ours(cases))
    ceiling_s = SECONDS_PER_100K * count / CASES
    none_left = sum(1 for at in planned if at is None)
    later = sum(1 for at, case in zip(planned, cases, strict=True) if at and at > case.now)
    rows = [
        ("cases", f"{count:,}"),
        (
            "baseline (zoneinfo only)",
            f"{baseline_s:.3f} s  ({baseline_s / count * 1e6:.2f} µs/case)",
        ),
        ("ours (plan_next_call)", f"{ours_s:.3f} s  ({ours_s / count * 1e6:.2f} µs/case)"),
        ("ceiling for ours", f"{ceiling_s:.1f} s"),
        (
            "callable now / later / none",
            f"{count - later - none_left:,} / {later:,} / {none_left:,}",
        ),
    ]
    figures: dict[str, object] = {
        "cases": count,
        "baseline_seconds": baseline_s,
        "ours_seconds": ours_s,
        "ceiling_seconds": ceiling_s,
        "repeats": {"baseline": BASELINE_REPEATS, "ours": OURS_REPEATS, "kept": "best"},
        "zones": dict(Counter(case.zone for case in cases)),
        "attempts_made": dict(Counter(case.attempts_made for case in cases)),
        "planned": {"now": count - later - none_left, "later": later, "none": none_left},
    }
    if options.profile:
        _, digest = profiled(lambda: ours(cases))
        print(digest)
        figures["profile"] = digest
    return Outcome(
        ratio=baseline_s / ours_s,
        memory=Memory(peak, "tracemalloc peak of one pass of ours, inputs excluded"),
        rows=rows,
        figures=figures,
        short_because=None
        if ours_s <= ceiling_s
        else f"ours took {ours_s:.2f} s > {ceiling_s:.1f} s",
    )
