"""Drawing cases for audit re-calls, reproducibly. Pure: no database, no clock.

Two methods the users' rules name (REQUIREMENTS.md):
- random: the hospital's audit office re-calls a random share (~20 %) of the followed-up patients;
- interval: the insurance regulator's draw: a share of the due call-backs (0.5 %, at least 1,200,
  all if fewer), always including the problem cases, covering every channel and product, sorted
  by policy number and taken at equal intervals.
The same candidates, share and seed always give the same draw.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

STRATUM_SEPARATOR = " / "


@dataclass(frozen=True)
class Candidate:
    """A case that may be drawn."""

    case_id: int
    ref: str  # the external reference: the policy number for the interval draw's order
    stratum: tuple[str, ...] = ()  # (channel, product) for the interval draw
    problem: bool = False  # a problem case: always in the interval draw


@dataclass(frozen=True)
class Draw:
    """The drawn case ids (problem cases first, then by reference) and, per stratum, its
    population and how many were drawn from it."""

    drawn: tuple[int, ...]
    problems: frozenset[int] = frozenset()
    strata: dict[str, tuple[int, int]] = field(default_factory=dict)


def sample_size(population: int, share: float, min_count: int | None = None) -> int:
    """share of the population rounded up, at least min_count, at most all of it."""
    if not 0 < share <= 1:
        raise ValueError(f"the share is a fraction in (0, 1], not {share}")
    # The small epsilon keeps 0.2 x 100 at 20 despite 0.2's binary representation.
    wanted = math.ceil(population * share - 1e-9)
    if min_count is not None:
        wanted = max(wanted, min_count)
    return min(wanted, population)


def random_draw(candidates: Sequence[Candidate], share: float, seed: str) -> Draw:
    """A simple random sample of share of the candidates, seeded."""
    pool = sorted(candidates, key=lambda c: c.case_id)
    chosen = random.Random(seed).sample(pool, sample_size(len(pool), share))
    return Draw(tuple(c.case_id for c in sorted(chosen, key=lambda c: (c.ref, c.case_id))))


def interval_draw(
    candidates: Sequence[Candidate], share: float, seed: str, *, min_count: int | None = None
) -> Draw:
    """The regulator's systematic draw: problem cases, then every k-th case of each stratum.

    The size is share of all candidates (at least min_count, at most all); the problem cases
    count towards it. The rest is shared among the strata in proportion to their size (largest
    remainders first), and every stratum gets at least one: covering every channel and product
    comes before the size. Within a stratum the cases are sorted by reference and taken at equal
    intervals from a seeded random start.
    """
    problems = sorted((c for c in candidates if c.problem), key=lambda c: (c.ref, c.case_id))
    strata: dict[tuple[str, ...], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        if not candidate.problem:
            strata[candidate.stratum].append(candidate)
    total = sample_size(len(candidates), share, min_count)
    quotas = _quotas({key: len(members) for key, members in strata.items()}, total - len(problems))
    rng = random.Random(seed)
    drawn: list[Candidate] = []
    shown: dict[str, tuple[int, int]] = {}
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda c: (c.ref, c.case_id))
        taken = _every_kth(members, quotas[key], rng)
        drawn.extend(taken)
        shown[STRATUM_SEPARATOR.join(key) or "all"] = (len(members), len(taken))
    ordered = problems + sorted(drawn, key=lambda c: (c.ref, c.case_id))
    return Draw(tuple(c.case_id for c in ordered), frozenset(c.case_id for c in problems), shown)


def _quotas(sizes: dict[tuple[str, ...], int], wanted: int) -> dict[tuple[str, ...], int]:
    """Split `wanted` over the strata in proportion to size, each at least 1 and at most all."""
    population = sum(sizes.values())
    if population == 0:
        return dict.fromkeys(sizes, 0)
    wanted = min(max(wanted, len(sizes)), population)
    exact = {key: wanted * size / population for key, size in sizes.items()}
    quotas = {key: max(1, min(sizes[key], math.floor(value))) for key, value in exact.items()}
    # Largest remainders first; ties by stratum name, so the split never depends on dict order.
    order = sorted(sizes, key=lambda key: (-(exact[key] - math.floor(exact[key])), key))
    while sum(quotas.values()) < wanted:
        grew = False
        for key in order:
            if sum(quotas.values()) >= wanted:
                break
            if quotas[key] < sizes[key]:
                quotas[key] += 1
                grew = True
        if not grew:
            break
    while sum(quotas.values()) > wanted:  # the minimum of one each overshot: trim the largest
        largest = max((k for k in quotas if quotas[k] > 1), key=lambda k: (quotas[k], k))
        quotas[largest] -= 1
    return quotas


def _every_kth(members: list[Candidate], count: int, rng: random.Random) -> list[Candidate]:
    if count <= 0:
        return []
    if count >= len(members):
        return list(members)
    interval = len(members) / count
    start = rng.random() * interval
    return [members[int(start + i * interval)] for i in range(count)]
