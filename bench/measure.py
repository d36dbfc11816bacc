"""Measuring helpers the benchmarks share: best-of timing, memory peaks, a cProfile digest."""

from __future__ import annotations

import cProfile
import io
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """Run once; return its result and the wall-clock seconds it took."""
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The shortest of `repeats` runs, in seconds: the least disturbed by the other tenants."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    return min(timed(run)[1] for _ in range(repeats))


def traced_peak(run: Callable[[], T]) -> tuple[T, int]:
    """Run once under tracemalloc; return its result and the peak of traced bytes."""
    # Tracing slows allocation-heavy code several times over, so benchmarks call this on a pass
    # of its own, never on the one they time.
    if tracemalloc.is_tracing():
        raise RuntimeError("tracemalloc is already tracing; peaks would mix")
    tracemalloc.start()
    try:
        result = run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def children_max_rss() -> int:
    """Peak resident set size of the largest child process waited for so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports kibibytes, macOS bytes.
    return peak if sys.platform == "darwin" else peak * 1024


def profiled(run: Callable[[], T], *, top: int = 15) -> tuple[T, str]:
    """Run once under cProfile; return its result and the top functions by own and total time."""
    profile = cProfile.Profile()
    result = profile.runcall(run)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text).strip_dirs()
    for order in ("tottime", "cumulative"):
        text.write(f"--- by {order} ---\n")
        stats.sort_stats(order).print_stats(top)
    return result, _trim(text.getvalue())


def _trim(report: str) -> str:
    """Drop pstats' preamble and blank lines so the digest fits a terminal."""
    keep = [
        line
        for line in report.splitlines()
        if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced"))
    ]
    return "\n".join(keep)
