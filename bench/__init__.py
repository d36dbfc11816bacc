"""Benchmarks, each measured against a baseline run in the same process or run.

Run them with `python -m bench NAME [NAME ...]` (or `all`); `python -m bench` lists them. They are
not tests: pytest collects only tests/. The frame (bench.frame) prints each one's table, memory
peak and the verdict line, and writes the figures to bench/results/<run-id>.json.
"""
