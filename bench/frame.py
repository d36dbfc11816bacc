"""The frame every benchmark runs in: what a benchmark returns, the verdict line, the results file.

Each benchmark is a module with::

    TARGET: float                                # the ratio it must reach
    def run(options: Options) -> Outcome: ...    # measure ours and the baseline, same run

and a line in bench.registry. The frame prints the benchmark's table and memory peak, then the
line DESIGN.md fixes, ``NAME: ratio=R target=T ok`` (or ``short``), and writes every figure to
bench/results/<run-id>.json.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TextIO, cast

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class UnavailableError(Exception):
    """A service the benchmark needs is not there (the run exits with status 2)."""


@dataclass(frozen=True)
class Options:
    """Knobs from the command line; each benchmark says which it reads."""

    seconds: float | None = None  # how long a timed run lasts (cps)
    size: int | None = None  # the benchmark's main count: cases, requests, rows
    profile: bool = False  # also print where our side's time goes (cProfile)


@dataclass(frozen=True)
class Memory:
    """A memory peak and how it was taken (tracemalloc in process, or children's ru_maxrss)."""

    peak_bytes: int
    source: str

    def __str__(self) -> str:
        return f"{self.peak_bytes / 2**20:.1f} MiB ({self.source})"


@dataclass(frozen=True)
class Outcome:
    """What a benchmark measured; `ratio` is ours over the baseline, higher is better."""

    ratio: float
    memory: Memory
    rows: Sequence[tuple[str, str]] = ()  # the short table printed above the verdict
    figures: Mapping[str, Any] = field(default_factory=dict)  # everything, for the JSON
    short_because: str | None = None  # a reason to miss the target whatever the ratio


class BenchmarkModule(Protocol):
    """The shape of a benchmark module."""

    TARGET: float

    def run(self, options: Options) -> Outcome:
        """Measure ours and the baseline in this run."""
        ...


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark: its name, the module that holds it, one line on what it measures."""

    name: str
    module: str
    summary: str

    def load(self) -> BenchmarkModule:
        """Import the module (only now: listing must not import every benchmark's dependencies)."""
        module: ModuleType = importlib.import_module(self.module)
        if not isinstance(getattr(module, "TARGET", None), int | float) or not callable(
            getattr(module, "run", None)
        ):
            raise TypeError(f"{self.module} must define TARGET: float and run(options)")
        return cast(BenchmarkModule, module)


def verdict(ratio: float, target: float, short_because: str | None = None) -> str:
    """ "ok" when the ratio reaches the target and nothing else made it short, else "short"."""
    return "ok" if ratio >= target and short_because is None else "short"


def result_line(name: str, ratio: float, target: float, short_because: str | None = None) -> str:
    """The line DESIGN.md fixes: `NAME: ratio=R target=T ok` (or short)."""
    return (
        f"{name}: ratio={_number(ratio)} target={target:g} {verdict(ratio, target, short_because)}"
    )


def run_id(names: Sequence[str], now: datetime) -> str:
    """A results file name: the UTC start time and the names asked for."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return "-".join([stamp, *names])


def list_benchmarks(registry: Mapping[str, Benchmark], out: TextIO) -> None:
    """Print the registered benchmarks, one a line."""
    width = max((len(name) for name in registry), default=0)
    out.write(
        "usage: python -m bench NAME [NAME ...] | all  [--seconds N] [--size N] [--profile]\n"
    )
    for name, benchmark in registry.items():
        out.write(f"  {name:<{width}}  {benchmark.summary}\n")


def run_benchmarks(
    names: Sequence[str],
    options: Options,
    *,
    registry: Mapping[str, Benchmark],
    now: datetime,
    results_dir: Path = RESULTS_DIR,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the named benchmarks ("all": every one) in order; 0 unless one failed to run."""
    chosen = list(registry) if "all" in names else list(dict.fromkeys(names))
    unknown = [name for name in chosen if name not in registry]
    if unknown:
        err.write(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(registry)}\n")
        return 2
    path = results_dir / f"{run_id(names, now)}.json"
    document: dict[str, Any] = {
        "run_id": path.stem,
        "started_at": now.astimezone(UTC).isoformat(),
        "options": asdict(options),
        "host": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "benchmarks": [],
    }
    # Printed first, so that each benchmark's block still ends with its verdict line.
    out.write(f"results: {_shown(path)}\n")
    status = 0
    lines: list[str] = []
    for name in chosen:
        record, line, code = _run_one(registry[name], options, out, err)
        document["benchmarks"].append(record)
        _write(path, document)  # after each one: an interrupted run keeps what it measured
        status = max(status, code)
        if line is not None:
            lines.append(line)
    if len(chosen) > 1:
        out.write("\n".join(["summary:", *lines]) + "\n")
    return status


def _run_one(
    benchmark: Benchmark, options: Options, out: TextIO, err: TextIO
) -> tuple[dict[str, Any], str | None, int]:
    """Run one benchmark and print its block; return its JSON record, verdict line, status."""
    record: dict[str, Any] = {"name": benchmark.name, "summary": benchmark.summary}
    out.write(f"== {benchmark.name}: {benchmark.summary}\n")
    out.flush()
    started = time.perf_counter()
    try:
        module = benchmark.load()
        outcome = module.run(options)
    except UnavailableError as exc:
        err.write(f"{benchmark.name}: cannot run: {exc}\n")
        record.update(status="unavailable", error=str(exc))
        return record, None, 2
    except Exception as exc:
        traceback.print_exc(file=err)
        err.write(f"{benchmark.name}: error: {type(exc).__name__}: {exc}\n")
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return record, None, 1
    target = float(module.TARGET)
    line = result_line(benchmark.name, outcome.ratio, target, outcome.short_because)
    width = max((len(label) for label, _ in outcome.rows), default=0)
    for label, value in outcome.rows:
        out.write(f"  {label:<{width}}  {value}\n")
    out.write(f"  memory peak: {outcome.memory}\n")
    if outcome.short_because is not None:
        out.write(f"  short because: {outcome.short_because}\n")
    out.write(line + "\n")
    out.flush()
    record.update(
        status=verdict(outcome.ratio, target, outcome.short_because),
        ratio=outcome.ratio,
        target=target,
        short_because=outcome.short_because,
        memory=asdict(outcome.memory),
        seconds=round(time.perf_counter() - started, 3),
        table=dict(outcome.rows),
        figures=dict(outcome.figures),
    )
    return record, line, 0


def _write(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
