"""`python -m bench cps`: 4 `ivr dial` processes at IVR_CPS=10 against a provider taking 200 ms.

Four real `ivr dial` subprocesses share one PostgreSQL database of due cases and a fake Twilio
(bench.fake_provider) that logs when each create arrives. For `--seconds` (default 60) from the
first create, the creates are counted per second. ratio = achieved calls per second / IVR_CPS;
the run is short as well when any second of the histogram holds more creates than IVR_CPS (the
limit is the account's, whatever the number of dialler processes), when an attempt is dialled
twice, or when the dialers ran out of due cases before the end.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.database import scratch_database, seed_cases
from bench.fake_provider import Create, FakeProvider
from bench.frame import Memory, Options, Outcome
from bench.measure import children_max_rss

TARGET = 0.95
PROCESSES = 4
CPS = 10.0
CREATE_DELAY_S = 0.2
SECONDS = 60.0
MIN_CASES = 2_000
TICK_SECONDS = 1.0  # `ivr dial` looks for due cases this often (default 2 s)
FIRST_CREATE_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0  # SIGTERM lets a pass in progress finish; then SIGKILL
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM_NUMBER = "+15005550006"  # Twilio's test caller id


def awake_zone(now: datetime, seconds: float) -> str:
    """A zone whose 00:00-23:59 window stays open for the whole run (not near local midnight)."""
    for name in ("Asia/Shanghai", "UTC", "America/New_York"):
        local = now.astimezone(ZoneInfo(name))
        end = local + timedelta(seconds=seconds + 300)
        if end.date() == local.date() and (end.hour, end.minute) < (23, 59):
            return name
    raise AssertionError("unreachable: three zones cannot all be near midnight")


def per_second(creates: Sequence[Create], start: float, seconds: float) -> list[int]:
    """Creates in each whole second from `start` on, for `seconds` (the last may be partial)."""
    counts = [0] * math.ceil(seconds)
    for create in creates:
        offset = create.at - start
        if 0 <= offset < seconds:
            counts[int(offset)] += 1
    return counts


def max_in_any_second(moments: Sequence[float]) -> int:
    """The most moments inside any half-open 1-second interval, wherever it starts."""
    ordered = sorted(moments)
    best = low = 0
    for high, moment in enumerate(ordered):
        while moment - ordered[low] >= 1.0:
            low += 1
        best = max(best, high - low + 1)
    return best


def run(options: Options) -> Outcome:
    """Run the dialers for the measuring window, stop them, and count what reached the fake."""
    seconds = options.seconds or SECONDS
    # The most the dialers can do is one create per delay each; never let them run dry.
    count = options.size or max(MIN_CASES, math.ceil(seconds * PROCESSES / CREATE_DELAY_S * 1.2))
    now = datetime.now(UTC)
    zone = awake_zone(now, seconds + FIRST_CREATE_TIMEOUT_S + STOP_TIMEOUT_S)
    anchor = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=7)  # the 7-day offset is due
    with (
        scratch_database("cps") as url,
        FakeProvider(delay=CREATE_DELAY_S, account_sid=ACCOUNT_SID) as provider,
        tempfile.TemporaryDirectory(prefix="ivr-bench-cps-") as folder,
    ):
        seed_cases(url, count, now=now, zone=zone, windows="00:00-23:59", anchor=anchor)
        env = _environment(url, provider.base_url, Path(folder))
        start, stopped_s = _dial(env, Path(folder), provider, seconds)
        creates = provider.creates
    histogram = per_second(creates, start, seconds)
    window = [create for create in creates if 0 <= create.at - start < seconds]
    achieved = len(window) / seconds
    attempts = Counter(create.attempt_id for create in creates)
    twice = sorted(a for a, n in attempts.items() if a is not None and n > 1)
    over = [(second, n) for second, n in enumerate(histogram) if n > CPS]
    busiest = max_in_any_second([create.at for create in window])
    reasons = []
    if over:
        worst = max(n for _, n in over)
        reasons.append(f"{len(over)} of {len(histogram)} seconds over {CPS:g} calls (max {worst})")
    if twice:
        reasons.append(f"{len(twice)} attempts dialled twice")
    if len(creates) >= count:
        reasons.append(f"the dialers ran out of due cases ({count})")
    rows = [
        (
            "dialers / IVR_CPS / create delay",
            f"{PROCESSES} / {CPS:g} / {CREATE_DELAY_S * 1e3:.0f} ms",
        ),
        ("window / due cases", f"{seconds:g} s / {count:,}"),
        ("creates in window", f"{len(window):,} ({achieved:.2f}/s)"),
        ("max in a histogram second", str(max(histogram, default=0))),
        ("max in any 1 s (sliding)", str(busiest)),
        ("seconds over the limit", str(len(over))),
        ("attempts dialled twice", str(len(twice))),
        ("stop after SIGTERM", f"{stopped_s:.1f} s"),
        *_histogram_rows(histogram),
    ]
    figures: dict[str, Any] = {
        "processes": PROCESSES,
        "cps": CPS,
        "create_delay_seconds": CREATE_DELAY_S,
        "tick_seconds": TICK_SECONDS,
        "seconds": seconds,
        "due_cases": count,
        "creates_total": len(creates),
        "creates_in_window": len(window),
        "achieved_cps": achieved,
        "per_second": histogram,
        "max_in_histogram_second": max(histogram, default=0),
        "max_in_sliding_second": busiest,
        "seconds_over_limit": [second for second, _ in over],
        "attempts_dialled_twice": twice,
        "zone": zone,
    }
    return Outcome(
        ratio=achieved / CPS,
        memory=Memory(children_max_rss(), "ru_maxrss of the largest `ivr dial` child"),
        rows=rows,
        figures=figures,
        short_because="; ".join(reasons) or None,
    )


def _environment(url: str, api_base_url: str, folder: Path) -> dict[str, str]:
    """`ivr dial`'s settings: the scratch database, the fake provider, 10 calls/s, no caps."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    return {
        **inherited,
        "IVR_DATABASE_URL": url,
        "IVR_PUBLIC_BASE_URL": "http://127.0.0.1:9",  # never called: the fake sends no callbacks
        "IVR_RECORDINGS_DIR": str(folder / "recordings"),
        "IVR_CPS": f"{CPS:g}",
        "IVR_TICK_SECONDS": f"{TICK_SECONDS:g}",
        "IVR_MAX_CONCURRENT_CALLS": "0",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": "bench-auth-token",
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": api_base_url,
    }


def _dial(
    env: dict[str, str], folder: Path, provider: FakeProvider, seconds: float
) -> tuple[float, float]:
    """Start the dialers, wait out the window from the first create, stop them.

    Returns the first create's moment and how long the dialers took to stop.
    """
    logs = [folder / f"dial-{n}.log" for n in range(PROCESSES)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            with log.open("wb") as sink:
                processes.append(
                    subprocess.Popen([*_ivr(), "dial"], env=env, stdout=sink, stderr=sink)
                )
        deadline = time.monotonic() + FIRST_CREATE_TIMEOUT_S
        while not provider.creates:
            _check_alive(processes, logs)
            if time.monotonic() > deadline:
                raise RuntimeError(f"no call within {FIRST_CREATE_TIMEOUT_S:g} s" + _tails(logs))
            time.sleep(0.05)
        start = provider.creates[0].at
        while time.monotonic() < start + seconds:
            _check_alive(processes, logs)
            time.sleep(0.1)
        stopping = time.monotonic()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=max(0.1, stopping + STOP_TIMEOUT_S - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return start, time.monotonic() - stopping
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _ivr() -> list[str]:
    """The installed console script, else the CLI through this interpreter."""
    found = shutil.which("ivr", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-c", "from ivr.cli import main; main()"]


def _check_alive(processes: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path]) -> None:
    for process, log in zip(processes, logs, strict=True):
        if process.poll() is not None:
            raise RuntimeError(
                f"`ivr dial` exited early with status {process.returncode}" + _tails([log])
            )


def _tails(logs: Sequence[Path], lines: int = 15) -> str:
    parts = []
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        parts.append(f"\n--- {log.name} ---\n" + "\n".join(text))
    return "".join(parts)


def _histogram_rows(histogram: Sequence[int], per_row: int = 20) -> list[tuple[str, str]]:
    return [
        (f"calls/s, s {first}-{min(first + per_row, len(histogram)) - 1}",
         " ".join(f"{n:2d}" for n in histogram[first : first + per_row]))
        for first in range(0, len(histogram), per_row)
    ]  # fmt: skip
