"""`python -m bench recordings`: the fetch job on 200 five-minute recordings vs download-and-write.

A media server on 127.0.0.1 (a thread in this process) serves Twilio's recording media and
delete endpoints, demanding the account's credentials: 200 recordings of five minutes, 8 kHz
16-bit mono (Twilio's default, 4.8 MB each, 960 MB in all).

- baseline: for each recording, GET the media with the credentials and write the bytes to a file.
- ours: `fetch_due` on a SQLite database of 200 announced recordings, with the real Twilio
  adapter and its default workers (2 recordings at once): claim, download, check the WAV header
  against the byte count and the announced duration, SHA-256, atomic durable write (temp file,
  fsync, rename), mark STORED, DELETE the provider's copy. Listening copies are off here
  (`python -m bench listen-copy` times them).

ratio = baseline seconds / our seconds (higher is better). Two more passes, not in the ratio,
store the same recordings encrypted (IVR_RECORDINGS_KEY) and with a single worker. The
baseline never syncs to disk; ours must (a recording is evidence), so on a slow disk the fsync
is most of the difference. `--size N` changes the count.
"""

from __future__ import annotations

import base64
import hashlib
import re
import resource
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from sqlalchemy import func, insert, select

from bench.frame import Memory, Options, Outcome
from bench.measure import profiled, timed
from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.models import Base, Recording, RecordingStatus
from ivr.services import Services
from ivr.telephony.sim_media import recording_wav
from ivr.telephony.twilio import TwilioTelephony
from recordings.crypto import RecordingKey
from recordings.fetch import WORKERS, fetch_due

TARGET = 0.5
RECORDINGS = 200
DURATION_S = 300
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench-auth-token"
API_VERSION = "2010-04-01"
BATCH = 50  # what `ivr recordings fetch` asks of fetch_due per pass
PROFILE_RECORDINGS = 20
_MEDIA = re.compile(rf"/{API_VERSION}/Accounts/(AC\w+)/Recordings/(RE\w+)\.(wav|json)")


class MediaServer:
    """Recording media (GET .wav) and deletes (DELETE .json) on 127.0.0.1, credentials checked."""

    def __init__(self, media: bytes) -> None:
        self.media = media
        self.downloads = 0
        self.deletes = 0
        self._lock = threading.Lock()
        token = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        self._authorization = f"Basic {token}"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def media_url(self, sid: str) -> str:
        """RecordingUrl as the provider announces it (no extension)."""
        return f"{self.base_url}/{API_VERSION}/Accounts/{ACCOUNT_SID}/Recordings/{sid}"

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real API serves it

            def do_GET(self) -> None:
                if self._refused(".wav"):
                    return
                with server._lock:
                    server.downloads += 1
                self._answer(200, "audio/x-wav", server.media)

            def do_DELETE(self) -> None:
                if self._refused(".json"):
                    return
                with server._lock:
                    server.deletes += 1
                self._answer(204, "", b"")

            def _refused(self, suffix: str) -> bool:
                match = _MEDIA.fullmatch(self.path)
                if match is None or f".{match.group(3)}" != suffix:
                    self._answer(404, "application/json", b'{"code": 20404, "status": 404}')
                    return True
                if self.headers.get("Authorization") != server._authorization:
                    self._answer(401, "application/json", b'{"code": 20003, "status": 401}')
                    return True
                return False

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: 400 requests would bury the table."""

        return Handler


def sids(count: int) -> list[str]:
    """Provider-shaped recording ids."""
    return [f"RE{n:032x}" for n in range(1, count + 1)]


def baseline(server: MediaServer, folder: Path, count: int) -> int:
    """GET each recording with the credentials and write it to a file; return bytes written."""
    written = 0
    with requests.Session() as session:
        for sid in sids(count):
            response = session.get(
                server.media_url(sid) + ".wav", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=30
            )
            response.raise_for_status()
            (folder / f"{sid}.wav").write_bytes(response.content)
            written += len(response.content)
    return written


@contextmanager
def announced(server: MediaServer, folder: Path, count: int, key: str = "") -> Iterator[Services]:
    """Services on a fresh SQLite database holding `count` announced (PENDING) recordings."""
    url = f"sqlite:///{folder / 'ivr.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    now = datetime.now(UTC)
    rows = [
        {
            "recording_sid": sid,
            "call_sid": f"CA{n:032x}",
            "media_url": server.media_url(sid),
            "status": RecordingStatus.PENDING,
            "duration_s": DURATION_S,
            "channels": 1,
            "next_fetch_at": now - timedelta(seconds=1),
            "created_at": now,
        }
        for n, sid in enumerate(sids(count), start=1)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Recording), rows)
    settings = Settings(
        database_url=url,
        recordings_dir=folder / "recordings",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_api_base_url=server.base_url,
        recordings_key=key,
        recordings_listen_copy=False,
    )
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=server.base_url
    )
    try:
        yield Services(settings=settings, sessions=make_sessions(engine), telephony=telephony)
    finally:
        engine.dispose()


def ours(services: Services, workers: int = WORKERS) -> int:
    """Run the fetch job until a pass stores nothing, as `ivr recordings fetch` does."""
    stored = 0
    while True:
        report = fetch_due(services, limit=BATCH, workers=workers)
        stored += report.stored
        if report.stored == 0:
            return stored


def checked(services: Services, count: int, media: bytes) -> None:
    """Every recording STORED with the media's checksum, its provider copy deleted."""
    expected = hashlib.sha256(media).hexdigest()
    with services.sessions() as session:
        good = session.scalar(
            select(func.count()).where(
                Recording.status == RecordingStatus.STORED,
                Recording.sha256 == expected,
                Recording.provider_deleted_at.is_not(None),
            )
        )
    if good != count:
        raise AssertionError(f"{good} of {count} recordings stored, checked and deleted")


def run(options: Options) -> Outcome:
    """Baseline, ours, ours encrypted: each on the same recordings from the same server."""
    count = options.size or RECORDINGS
    media = recording_wav(DURATION_S)
    key = RecordingKey.generate().to_base64()
    with MediaServer(media) as server:
        with _scratch("baseline") as folder:
            written, baseline_s = timed(lambda: baseline(server, folder, count))
        with _scratch("ours") as folder, announced(server, folder, count) as services:
            before = server.deletes
            stored, ours_s = timed(lambda: ours(services))
            deletes = server.deletes - before
            checked(services, count, media)
        with _scratch("keyed") as folder, announced(server, folder, count, key) as services:
            _, keyed_s = timed(lambda: ours(services))
            checked(services, count, media)
        with _scratch("serial") as folder, announced(server, folder, count) as services:
            _, serial_s = timed(lambda: ours(services, workers=1))
            checked(services, count, media)
        digest = None
        if options.profile:
            few = min(count, PROFILE_RECORDINGS)
            with _scratch("profile") as folder, announced(server, folder, few) as services:
                _, digest = profiled(lambda: ours(services))
            print(digest)
    mb = written / 1e6
    rows = [
        ("recordings", f"{count} x {DURATION_S // 60} min, 8 kHz mono ({len(media) / 1e6:.1f} MB)"),
        ("baseline (GET + write)", f"{baseline_s:.2f} s  ({mb / baseline_s:.0f} MB/s)"),
        ("ours (fetch_due)", f"{ours_s:.2f} s  ({mb / ours_s:.0f} MB/s, {WORKERS} workers)"),
        ("ours, encrypted", f"{keyed_s:.2f} s  ({mb / keyed_s:.0f} MB/s, not in the ratio)"),
        ("ours, one worker", f"{serial_s:.2f} s  ({mb / serial_s:.0f} MB/s, not in the ratio)"),
        ("stored / provider deletes", f"{stored} / {deletes}"),
    ]
    figures: dict[str, object] = {
        "recordings": count,
        "duration_s": DURATION_S,
        "media_bytes": len(media),
        "baseline_seconds": baseline_s,
        "ours_seconds": ours_s,
        "ours_encrypted_seconds": keyed_s,
        "ours_one_worker_seconds": serial_s,
        "workers": WORKERS,
        "deletes": deletes,
    }
    if digest is not None:
        figures["profile"] = digest
    return Outcome(
        ratio=baseline_s / ours_s,
        memory=Memory(_max_rss(), "ru_maxrss of this process (server, baseline and ours)"),
        rows=rows,
        figures=figures,
    )


@contextmanager
def _scratch(tag: str) -> Iterator[Path]:
    """A temporary folder, removed at once after the pass: 960 MB per pass adds up."""
    folder = Path(tempfile.mkdtemp(prefix=f"ivr-bench-recordings-{tag}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _max_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
