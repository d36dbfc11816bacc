"""How a demo program spreads its behaviours over its people."""

from __future__ import annotations

import random
from collections.abc import Sequence

from ivr.demo.cases import Behaviour, fictional_numbers


def draw_behaviours(
    rng: random.Random, behaviours: Sequence[Behaviour], count: int
) -> list[Behaviour]:
    """`count` behaviours: each one at least once when count allows, the rest by their shares.

    A small demo (30 people) drawn by shares alone would often miss the rare branches, and its
    end-to-end test would then check nothing about them.
    """
    drawn = list(behaviours[:count])
    weights = [b.share for b in behaviours]
    drawn += rng.choices(behaviours, weights, k=count - len(drawn))
    rng.shuffle(drawn)
    return drawn


def draw_numbers(rng: random.Random, count: int) -> list[str]:
    """`count` distinct numbers from the range reserved for fiction."""
    return rng.sample(fictional_numbers(count), count)
