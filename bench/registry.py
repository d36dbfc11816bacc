"""The benchmarks `python -m bench` knows: one line each, name -> (module, what it measures).

A module is imported only when its benchmark runs, so listing them stays fast and a benchmark
whose optional dependencies are missing breaks only itself. Adding one is a line here plus a
module with `TARGET: float` and `run(options: Options) -> Outcome` (see bench.frame).
"""

from __future__ import annotations

from bench.frame import Benchmark

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("plan", "bench.plan", "planning 100,000 cases vs converting their times"),
        Benchmark("dispatch", "bench.dispatch", "dispatcher claims/s vs raw SKIP LOCKED loop"),
        Benchmark("cps", "bench.cps", "4 `ivr dial` processes: achieved calls/s vs IVR_CPS"),
        Benchmark(
            "recordings", "bench.recordings", "fetch job on 200 five-minute recordings vs GET+write"
        ),
        Benchmark(
            "listen-copy", "bench.listen_copy", "listening-copy MP3 encoding, multiple of real time"
        ),
        Benchmark("replay", "bench.replay", "audited range replays vs bare send_file, same server"),
        Benchmark(
            "reports", "bench.reports", "campaign report over 1,000,000 attempts vs bare GROUP BY"
        ),
        Benchmark(
            "import", "bench.import_csv", "import of 100,000 CSV rows vs csv.reader + executemany"
        ),
        Benchmark(
            "webhook", "bench.webhook", "gather step under gunicorn vs fixed TwiML; p99 at 100/s"
        ),
        Benchmark(
            "callbacks", "bench.callbacks", "duplicated, reordered status callbacks vs one INSERT"
        ),
    )
}
