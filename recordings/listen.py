"""The listening copy: a small mono MP3 of each stored recording, for people to play.

The stored WAV (dual-channel, 8 kHz, 16-bit: about 1.9 MB a minute) stays the evidence, never
touched. Next to it goes "YYYY/MM/<sid>.listen.mp3": both channels mixed to one, MPEG-2 Layer III
at 16 kHz, 32 kbit/s constant bit rate, about 240 KB a minute (an eighth of the evidence).

Why MP3 and these settings: every browser, phone and desktop player (the locked-down PCs of a
hospital ward included) plays MP3, while Ogg Opus still fails on older Safari and Windows
players. Phone audio carries nothing above 4 kHz, which 32 kbit/s keeps clear. 16 kHz (MPEG-2)
rather than 8 kHz, because 8 kHz MP3 is the non-standard "MPEG 2.5" some decoders refuse.
Constant bit rate, because a browser seeks in a piped VBR file (no Xing index) by guesswork.
LAME's quality 7 encodes about twice as fast as its default, which speech does not miss.

ffmpeg is run on pipes, not through pydub's export: pydub writes the audio to a temporary file in
the system's temp folder, which would leave a plain copy of an encrypted recording on disk.

The copy is written through the same store as the evidence, so it is encrypted when a key is set.
The step is idempotent and crash-safe: rows STORED with `listen_path` NULL are picked up by each
fetch run; a file written before a crash is overwritten and recorded by the next run. A failure
is logged, noted in `last_error` and retried on the next run, after the rows never tried.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field

from sqlalchemy import case, select, update

from ivr.db import rowcount
from ivr.models import Recording, RecordingStatus
from ivr.services import Services
from recordings.audio import AudioError, inspect_wav
from recordings.crypto import CryptoError
from recordings.ffmpeg import MISSING, ffmpeg_executable
from recordings.store import RecordingStore, StoreError

log = logging.getLogger(__name__)

SUFFIX = ".listen.mp3"
SAMPLE_RATE = 16_000
BITRATE_KBPS = 32
LAME_QUALITY = 7  # 0 slowest/best .. 9 fastest
ENCODE_TIMEOUT_S = 300.0
BATCH = 10  # copies per fetch run: a backlog (the feature newly on) drains without hogging runs
ERROR_PREFIX = "listening copy: "
_said: set[str] = set()  # "unavailable" reasons already logged as warnings by this process


class ListenError(Exception):
    """No listening copy could be made; `unavailable`: none can be this run (ffmpeg, store)."""

    def __init__(self, message: str, *, unavailable: bool = False) -> None:
        super().__init__(message)
        self.unavailable = unavailable


@dataclass
class ListenReport:
    """What one listening-copy pass did."""

    made: int = 0
    failed: int = 0
    messages: list[str] = field(default_factory=list)


def listen_path(evidence_path: str) -> str:
    """The listening copy's path next to the evidence: "2030/01/RE....listen.mp3"."""
    stem = evidence_path[:-4] if evidence_path.endswith(".wav") else evidence_path
    return stem + SUFFIX


def encode_listening_copy(wav: bytes) -> bytes:
    """The MP3 listening copy of a WAV recording (see the module docstring for the format)."""
    try:
        info = inspect_wav(wav)
    except AudioError as exc:
        raise ListenError(f"the stored recording is not usable audio: {exc}") from exc
    ffmpeg = ffmpeg_executable()
    if ffmpeg is None:
        raise ListenError(MISSING, unavailable=True)
    # Two channels are the two parties, each mostly silent while the other talks: summed rather
    # than averaged (ffmpeg's -ac 1), which would play each voice 6 dB quieter.
    mix = ["-af", "pan=mono|c0=c0+c1"] if info.channels == 2 else ["-ac", "1"]
    command = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "wav",
        "-i",
        "pipe:0",
        *mix,
        "-ar",
        str(SAMPLE_RATE),
        "-c:a",
        "libmp3lame",
        "-b:a",
        f"{BITRATE_KBPS}k",
        "-compression_level",
        str(LAME_QUALITY),
        "-map_metadata",
        "-1",
        "-id3v2_version",
        "0",
        "-f",
        "mp3",
        "pipe:1",
    ]
    try:
        done = subprocess.run(command, input=wav, capture_output=True, timeout=ENCODE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ListenError(f"ffmpeg took over {ENCODE_TIMEOUT_S:g} s", unavailable=True) from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise ListenError(f"ffmpeg failed (exit {done.returncode}): {reason[0][:200]}")
    # Constant bit rate: the size follows from the duration. Far less means ffmpeg stopped early.
    expected = info.duration_s * BITRATE_KBPS * 1000 / 8
    if len(done.stdout) < expected * 0.9 - 2048:
        raise ListenError(
            f"ffmpeg wrote {len(done.stdout)} bytes for {info.duration_s:.1f} s "
            f"(expected about {expected:.0f})"
        )
    return done.stdout


def make_listening_copies(
    services: Services, store: RecordingStore, *, limit: int = BATCH
) -> ListenReport:
    """Give up to `limit` stored recordings that have none a listening copy."""
    report = ListenReport()
    for row_id, sid, path in _due(services, limit):
        try:
            _make_one(services, store, row_id, path)
        except ListenError as exc:
            report.failed += 1
            report.messages.append(f"{sid}: {ERROR_PREFIX}{exc}")
            _note_failure(services, row_id, str(exc))
            # Without ffmpeg every run (every 30 s) fails the same way: say so loudly once.
            level = logging.INFO if str(exc) in _said else logging.WARNING
            if exc.unavailable:
                _said.add(str(exc))
            log.log(
                level,
                "listening copy failed: %s",
                exc,
                extra={"action": "recording.listen_failed", "recording_id": row_id},
            )
            if exc.unavailable:
                break  # the next rows would fail the same way: try again next run
            continue
        report.made += 1
        log.info(
            "listening copy stored",
            extra={"action": "recording.listen_stored", "recording_id": row_id},
        )
    return report


def _due(services: Services, limit: int) -> list[tuple[int, str, str]]:
    """Stored, unpurged recordings without a copy; those whose last try failed come last."""
    query = (
        select(Recording.id, Recording.recording_sid, Recording.path)
        .where(
            Recording.status == RecordingStatus.STORED,
            Recording.listen_path.is_(None),
            Recording.purged_at.is_(None),
            Recording.path.is_not(None),
        )
        # A copy that cannot be made (a damaged file) must not hold up the others forever.
        .order_by(Recording.last_error.is_not(None), Recording.id)
        .limit(limit)
    )
    with services.sessions.begin() as session:
        rows = session.execute(query).all()
    return [(row_id, sid, path) for row_id, sid, path in rows if path]


def _make_one(services: Services, store: RecordingStore, row_id: int, path: str) -> None:
    """Read the evidence, encode, write the copy, record its path; ListenError on failure."""
    target = listen_path(path)
    try:
        copy = encode_listening_copy(store.read(path))
        store.put(target, copy)
    except FileNotFoundError as exc:
        raise ListenError(f"the stored recording is missing ({path})") from exc
    except CryptoError as exc:
        raise ListenError(f"the stored recording cannot be decrypted: {exc}") from exc
    except OSError as exc:  # StoreError and disk errors: the store, not this recording
        raise ListenError(f"the recordings store failed: {exc}", unavailable=True) from exc
    with services.sessions.begin() as session:
        moved = session.execute(
            update(Recording)
            .where(
                Recording.id == row_id,
                Recording.status == RecordingStatus.STORED,
                Recording.purged_at.is_(None),
                Recording.listen_path.is_(None),
            )
            .values(listen_path=target, last_error=_cleared())
            .execution_options(synchronize_session=False)
        )
        if rowcount(moved) == 1:
            return
        row = session.get_one(Recording, row_id)
        gone = row.purged_at is not None or row.status != RecordingStatus.STORED
    if gone:
        # Purged while we encoded: the purge did not know of this file. Never leave it behind.
        try:
            store.delete(target)
        except OSError as exc:
            raise ListenError(
                f"recording purged meanwhile; its new copy {target} could not be deleted: {exc}",
                unavailable=isinstance(exc, StoreError),
            ) from exc
    # Otherwise another run made the same copy at the same path first: nothing to do.


def _cleared() -> object:
    """last_error without our own earlier failure (a provider-delete error stays)."""
    return case(
        (Recording.last_error.startswith(ERROR_PREFIX, autoescape=True), None),
        else_=Recording.last_error,
    )


def _note_failure(services: Services, row_id: int, message: str) -> None:
    """Keep the reason on the row, unless it holds another step's error (the provider delete)."""
    with services.sessions.begin() as session:
        session.execute(
            update(Recording)
            .where(
                Recording.id == row_id,
                Recording.listen_path.is_(None),
                Recording.last_error.is_(None)
                | Recording.last_error.startswith(ERROR_PREFIX, autoescape=True),
            )
            .values(last_error=(ERROR_PREFIX + message)[:1000])
            .execution_options(synchronize_session=False)
        )
