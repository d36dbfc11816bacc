"""HTTP load for the webhook benchmarks: signed requests, gunicorn on 127.0.0.1, wrk.

Shared by bench.webhook and bench.callbacks so that both measure ours and their baseline in the
same way: the same server settings, the same client, the same request bytes.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bench.frame import Memory, Outcome, UnavailableError
from bench.measure import children_max_rss
from ivr.config import Settings

CONNECTIONS = 16
WRK_THREADS = 2
PUBLIC = "https://ivr.bench.example"  # what Twilio was told; the server never sees this host
TOKEN = "bench-auth-token-not-secret"
SECRET = "bench-secret-key-0123456789"
ACCOUNT = "AC" + "0" * 32
FROM = "+12025550100"
LUA = Path(__file__).with_name("http_load.lua")


@dataclass(frozen=True)
class Signed:
    """One gather request: path with query, form body, and its X-Twilio-Signature."""

    path: str
    body: str
    signature: str


@dataclass(frozen=True)
class Load:
    """What wrk measured."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    reused: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def rate(load: Load) -> str:
    return f"{load.per_second:,.0f} requests/s ({load.requests:,} in {load.seconds:.1f} s)"


def settings_in(folder: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        public_base_url=PUBLIC,
        recordings_dir=folder / "recordings",
        secret_key=SECRET,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_from_number=FROM,
    )


def server_env(settings: Settings) -> dict[str, str]:
    return os.environ | {
        "IVR_DATABASE_URL": settings.database_url,
        "IVR_PUBLIC_BASE_URL": settings.public_base_url,
        "IVR_RECORDINGS_DIR": str(settings.recordings_dir),
        "IVR_SECRET_KEY": settings.secret_key,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_FROM_NUMBER": settings.twilio_from_number,
    }


def sign(path: str, form: dict[str, str]) -> Signed:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    return Signed(path, urlencode(form), str(signature))


def form_headers(signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


def write_requests(path: Path, requests: list[Signed], bare_path: str | None) -> Path:
    with path.open("w", encoding="ascii") as out:
        for request in requests:
            out.write(f"{bare_path or request.path}\t{request.body}\t{request.signature}\n")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gunicorn_workers() -> int:
    """2 x cores + 1 sync workers, gunicorn's own advice; UnavailableError without gunicorn."""
    if shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None:
        raise UnavailableError("gunicorn is needed: pip install '.[server]'")
    return 2 * (os.cpu_count() or 1) + 1


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int, log: Path) -> Iterator[int]:
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        app,
    ]
    with log.open("wb") as errors:
        server = subprocess.Popen(command, env=env, stdout=errors, stderr=errors)
        try:
            _wait_for(port, server, log)
            yield port
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            # Closed before the warm-up: a sync worker would wait on an idle open connection.
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        # The master listens before its workers have imported the app: warm them all.
        for _ in range(20):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
        return
    raise RuntimeError("gunicorn did not start within 30 s")


def run_wrk(wrk: str, port: int, requests: Path, seconds: float) -> Load:
    """wrk over the request file for `seconds`, each line sent once until all are used."""
    command = [
        wrk,
        "--threads",
        str(WRK_THREADS),
        "--connections",
        str(CONNECTIONS),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "15s",
        "--script",
        str(LUA),
        f"http://127.0.0.1:{port}",
    ]
    done = subprocess.run(
        command,
        env=os.environ
        | {
            "BENCH_REQUESTS": str(requests),
            "BENCH_THREADS": str(WRK_THREADS),
        },
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    summary = next(
        json.loads(line.removeprefix("BENCH "))
        for line in done.stdout.splitlines()
        if line.startswith("BENCH ")
    )
    return Load(
        requests=int(summary["requests"]),
        seconds=float(summary["duration_us"]) / 1e6,
        non_2xx=int(summary["non_2xx"]),
        socket_errors=int(summary["socket_errors"]),
        reused=int(summary["reused"]),
    )


def post(port: int, request: Signed) -> int:
    """POST one signed request on a connection of its own (sync workers close each); its status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(
            "POST", request.path, body=request.body, headers=form_headers(request.signature)
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def send_each_once(port: int, requests: list[Signed], connections: int = CONNECTIONS) -> Load:
    """Send every request exactly once from `connections` threads, as fast as they answer.

    wrk sends for a duration, not a count, so a run that must deliver each request once (and
    then compare final states) uses this client. It shares the cores with the server, the same
    for ours and the baseline; `client_cpu_s` in the figures says how much it took.
    """
    pending = iter(range(len(requests)))  # one iterator for all threads: each index once
    counts = {"non_2xx": 0, "socket_errors": 0, "sent": 0}
    lock = threading.Lock()

    def worker() -> None:
        for index in pending:
            try:
                status = post(port, requests[index])
                failed = "non_2xx" if not 200 <= status < 300 else None
            except OSError:
                failed = "socket_errors"
            with lock:
                counts["sent"] += 1
                if failed:
                    counts[failed] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(
        requests=counts["sent"],
        seconds=time.perf_counter() - started,
        non_2xx=counts["non_2xx"],
        socket_errors=counts["socket_errors"],
        reused=0,
    )


def served_outcome(
    ratio: float, rows: list[tuple[str, str]], figures: dict[str, Any], problems: list[str]
) -> Outcome:
    """A served benchmark's outcome: its memory is the largest gunicorn process's peak."""
    return Outcome(
        ratio=ratio,
        memory=Memory(children_max_rss(), "largest gunicorn process, ru_maxrss"),
        rows=rows,
        figures=figures,
        short_because="; ".join(problems) or None,
    )


def percentile(values: list[float], percent: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[rank]
