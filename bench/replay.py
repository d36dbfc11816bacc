"""`python -m bench replay`: seeking through recordings over HTTP, audited, against bare send_file.

One threaded werkzeug server on 127.0.0.1 runs the real app (create_app, SQLite, the local
recordings store) with one extra route, Flask's bare `send_file(path, conditional=True)` over
the same files: no sign-in, no checksum, no audit. A `requests` client sends `--size` (default
200) range requests to each, as a player seeking does: a random offset in one of 4 recordings of
5.3 MB (5.5 minutes of 8 kHz 16-bit mono WAV), `Range: bytes=N-(N+256 KiB-1)`, 16 s of audio.
Ours carries the session cookie and a reason, checks the file's SHA-256 (cached per process by
the file's stamps; the first request for each file hashes it) and commits an audit entry
before it answers. Both sides use the same offsets, one connection per request (the development
server speaks HTTP/1.0), and every answer's bytes are compared with the file on a first pass.

ratio = baseline seconds / our seconds for the whole batch of 256 KiB reads, best of 3
alternating runs. The same is measured with 64 KiB reads and shown (our fixed cost per request
weighs most there) but not judged. The run is short as well when the audit log does not hold
exactly one entry per request of ours, or its chain does not verify. `--profile` profiles our
requests through Werkzeug's test client, in process, where cProfile sees the server's work.
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import tempfile
import threading
import wave
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, send_file
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from bench.frame import Memory, Options, Outcome
from bench.measure import profiled, timed, traced_peak
from ivr.app import create_app
from ivr.audit.log import verify_chain
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import AuditEntry, Base, Recording, RecordingStatus, StaffRole, StaffUser
from ivr.services import Services
from recordings.store import LocalStore, recording_path

TARGET = 0.5
REQUESTS = 200
FILES = 4
SECONDS_OF_AUDIO = 330  # 5.5 minutes: 5.28 MB at 16,000 bytes a second
RATE = 8000
# What a player reads after a seek before the next one: 256 KiB is 16 s of this audio, and still
# little (browsers ask `bytes=N-` and buffer megabytes ahead). 64 KiB, the worst case for ours
# (our fixed cost per request against the least transfer), is measured and shown, not judged.
WINDOW = 256 * 1024
SMALL_WINDOW = 64 * 1024
REPEATS = 3
SEED = 20300107
USER, PASSWORD = "bench-compliance", "bench-password-not-secret"
SECRET = "bench-secret-key-0123456789"


@dataclass(frozen=True)
class Bed:
    """The app, its files and what each request needs."""

    app: Flask
    services: Services
    files: dict[int, bytes]  # recording id -> the stored bytes


def wav(seconds: int, seed: int) -> bytes:
    """A mono 16-bit WAV whose samples differ from file to file and second to second."""
    rng = random.Random(seed)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(rng.randbytes(seconds * RATE * 2))
    return out.getvalue()


def build(folder: Path) -> Bed:
    """A database, a store with FILES recordings, a compliance user, and the app on top."""
    settings = Settings(
        database_url=f"sqlite:///{folder / 'bench.db'}",
        public_base_url="http://127.0.0.1",
        recordings_dir=folder / "recordings",
        secret_key=SECRET,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="bench-token",
    )
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    sessions = make_sessions(engine)
    store = LocalStore(settings.recordings_dir)
    now = datetime.now(UTC)
    files: dict[int, bytes] = {}
    with sessions.begin() as session:
        # A cheap hash: the benchmark signs in once and measures what follows, not the hash.
        session.add(
            StaffUser(
                username=USER,
                password_hash=generate_password_hash(PASSWORD, "pbkdf2:sha256:1000"),
                role=StaffRole.COMPLIANCE,
                created_at=now,
            )
        )
        for number in range(FILES):
            data = wav(SECONDS_OF_AUDIO, SEED + number)
            sid = f"RE{number:032x}"
            path = recording_path(sid, now)
            store.put(path, data)
            row = Recording(
                recording_sid=sid,
                call_sid=f"CA{number:032x}",
                media_url="http://127.0.0.1:9/none",
                status=RecordingStatus.STORED,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                path=path,
                created_at=now,
                stored_at=now,
            )
            session.add(row)
            session.flush()
            files[row.id] = data
    services = Services(settings=settings, sessions=sessions)
    app = create_app(settings, services=services)
    paths = {rid: str(store.root / _path_of(services, rid)) for rid in files}

    @app.get("/baseline/<int:recording_id>")
    def baseline(recording_id: int) -> Response:
        return send_file(paths[recording_id], mimetype="audio/wav", conditional=True)

    return Bed(app, services, files)


def _path_of(services: Services, recording_id: int) -> str:
    with services.sessions() as session:
        path = session.get_one(Recording, recording_id).path
    assert path is not None
    return path


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app on a threaded werkzeug server at an ephemeral port; yields its base URL."""
    # Its access log would print a line per request on both sides: thousands of lines.
    access_log = logging.getLogger("werkzeug")
    level = access_log.level
    access_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        access_log.setLevel(level)


def seeks(files: dict[int, bytes], count: int, window: int) -> list[tuple[int, int, int]]:
    """(recording id, first byte, last byte) for `count` seeks, the same in every run."""
    rng = random.Random(SEED)
    ids = sorted(files)
    plan = []
    for _ in range(count):
        rid = rng.choice(ids)
        start = rng.randrange(0, len(files[rid]) - 1)
        plan.append((rid, start, min(start + window, len(files[rid])) - 1))
    return plan


def fetch_all(
    client: requests.Session,
    url_of: Callable[[int], str],
    plan: Iterable[tuple[int, int, int]],
    files: dict[int, bytes] | None = None,
) -> int:
    """Send each range request; with `files`, check every answer's bytes. Returns bytes read."""
    total = 0
    for rid, start, end in plan:
        response = client.get(url_of(rid), headers={"Range": f"bytes={start}-{end}"}, timeout=30)
        if response.status_code != 206:
            raise AssertionError(f"{url_of(rid)} answered {response.status_code}")
        if files is not None and response.content != files[rid][start : end + 1]:
            raise AssertionError(f"{url_of(rid)} sent other bytes for {start}-{end}")
        total += len(response.content)
    return total


@dataclass(frozen=True)
class Timing:
    """Best-of seconds for one batch of seeks, each side."""

    window: int
    ours_s: float
    baseline_s: float


def run(options: Options) -> Outcome:
    """Time both sides on the same seeks under the same server; check the audit trail after."""
    count = options.size or REQUESTS
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        bed = build(Path(folder))
        with serving(bed.app) as base:
            ours_client = requests.Session()
            signed_in = ours_client.post(
                f"{base}/auth/login", json={"username": USER, "password": PASSWORD}, timeout=30
            )
            signed_in.raise_for_status()
            baseline_client = requests.Session()

            def ours_url(rid: int) -> str:
                return f"{base}/recordings/{rid}/audio?reason=bench"

            def baseline_url(rid: int) -> str:
                return f"{base}/baseline/{rid}"

            def measure(window: int) -> Timing:
                plan = seeks(bed.files, count, window)
                # First pass of each: checks every answer, warms caches (our digests too).
                fetch_all(ours_client, ours_url, plan, bed.files)
                fetch_all(baseline_client, baseline_url, plan, bed.files)
                ours_s = baseline_s = float("inf")
                for _ in range(REPEATS):  # alternating, so that drift hits both sides alike
                    ours_s = min(ours_s, timed(lambda: fetch_all(ours_client, ours_url, plan))[1])
                    baseline_s = min(
                        baseline_s,
                        timed(lambda: fetch_all(baseline_client, baseline_url, plan))[1],
                    )
                return Timing(window, ours_s, baseline_s)

            main, small = measure(WINDOW), measure(SMALL_WINDOW)
            plan = seeks(bed.files, count, WINDOW)
            _, peak = traced_peak(lambda: fetch_all(ours_client, ours_url, plan))
        profile = None
        if options.profile:
            # In process, so that cProfile sees the server's work, not the HTTP client's.
            _, profile = profiled(lambda: _in_process(bed, plan))
            print(profile)
        # Ours: per window a checking pass and the timed runs; then the traced pass, the profile.
        sent = count * (2 * (1 + REPEATS) + 1 + (1 if options.profile else 0))
        audited, chain = _audit_trail(bed.services)
        file_bytes = len(next(iter(bed.files.values())))
    ratio = main.baseline_s / main.ours_s
    short = None
    if audited != sent:
        short = f"{audited} replay audit entries for {sent} requests"
    elif chain is not None:
        short = f"the audit chain breaks at entry {chain}"
    rows = [
        ("requests per side", f"{count} x {REPEATS} runs, best kept"),
        ("seeks", f"random offsets in {FILES} files of {file_bytes / 1e6:.1f} MB"),
        (f"baseline, {WINDOW // 1024} KiB reads", _per_request(main.baseline_s, count)),
        (f"ours, {WINDOW // 1024} KiB reads", _per_request(main.ours_s, count)),
        (f"baseline, {SMALL_WINDOW // 1024} KiB reads", _per_request(small.baseline_s, count)),
        (f"ours, {SMALL_WINDOW // 1024} KiB reads", _per_request(small.ours_s, count)),
        (
            f"ratio with {SMALL_WINDOW // 1024} KiB reads (shown, not judged)",
            f"{small.baseline_s / small.ours_s:.3g}",
        ),
        ("audit entries / chain", f"{audited} / {'intact' if chain is None else 'broken'}"),
    ]
    figures: dict[str, Any] = {
        "requests": count,
        "repeats": REPEATS,
        "files": FILES,
        "file_bytes": file_bytes,
        "runs": [
            {
                "window_bytes": t.window,
                "ours_seconds": t.ours_s,
                "baseline_seconds": t.baseline_s,
                "ratio": t.baseline_s / t.ours_s,
            }
            for t in (main, small)
        ],
        "audit_entries": audited,
        "chain_break": chain,
    }
    if profile is not None:
        figures["profile"] = profile
    return Outcome(
        ratio=ratio,
        memory=Memory(peak, "tracemalloc peak of one pass of ours, client and server threads"),
        rows=rows,
        figures=figures,
        short_because=short,
    )


def _in_process(bed: Bed, plan: list[tuple[int, int, int]]) -> None:
    """Our requests through Werkzeug's test client (for the profile)."""
    client = bed.app.test_client()
    client.post("/auth/login", json={"username": USER, "password": PASSWORD})
    for rid, start, end in plan:
        answer = client.get(
            f"/recordings/{rid}/audio?reason=bench", headers={"Range": f"bytes={start}-{end}"}
        )
        if answer.status_code != 206:
            raise AssertionError(f"in process: {answer.status_code}")


def _audit_trail(services: Services) -> tuple[int, int | None]:
    with services.sessions() as session:
        audited = session.scalar(
            select(func.count()).where(AuditEntry.action == "recording.replay")
        )
        broken = verify_chain(session, services)
    return int(audited or 0), None if broken is None else broken.entry_id


def _per_request(seconds: float, count: int) -> str:
    return f"{seconds:.3f} s  ({seconds / count * 1000:.2f} ms/request)"
