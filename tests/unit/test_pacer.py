"""Pacing calls to the provider's calls-per-second limit."""

from __future__ import annotations

from scheduler.pacing import MonotonicPacer


def test_monotonic_pacer_spaces_calls() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = MonotonicPacer(2.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.5, 0.5]
    now[0] += 10  # idle: no burst of saved-up calls afterwards
    pacer.wait()
    pacer.wait()
    assert slept == [0.5, 0.5, 0.5]
