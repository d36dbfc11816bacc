"""`python -m bench` lists the benchmarks; `python -m bench NAME [NAME ...]` or `all` runs them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.frame import Options, list_benchmarks, run_benchmarks
from bench.registry import BENCHMARKS


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run what it names; the exit status is 0 even when short."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run, or all")
    parser.add_argument("--seconds", type=float, help="length of timed runs (cps: default 60)")
    parser.add_argument(
        "--size",
        "--rows",
        type=int,
        help="main count (plan: cases; dispatch, cps: cases; import: CSV rows, also --rows)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile our side")
    args = parser.parse_args(argv)
    if not args.names:
        list_benchmarks(BENCHMARKS, sys.stdout)
        return 0
    if args.seconds is not None and args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.size is not None and args.size <= 0:
        parser.error("--size must be positive")
    options = Options(seconds=args.seconds, size=args.size, profile=args.profile)
    return run_benchmarks(args.names, options, registry=BENCHMARKS, now=datetime.now(UTC))


if __name__ == "__main__":
    sys.exit(main())
