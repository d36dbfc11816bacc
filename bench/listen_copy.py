"""`python -m bench listen-copy`: how many times faster than real time listening copies are made.

Ours is `recordings.listen.encode_listening_copy` (ffmpeg on pipes: both channels summed to
mono, MP3 at 16 kHz, 32 kbit/s CBR) on 20 five-minute dual-channel 8 kHz recordings, one after
another as the fetch job makes them. The audio is speech-like: noise bursts of syllable length,
the two parties taking turns with pauses, so the encoder gets no easy silence or pure tone.
The baseline is real time, the recordings' own duration: ratio = audio seconds / encoding
seconds. A second, informational figure goes through the store with a key set (decrypt the
evidence, encode, encrypt and write the copy), as the fetch job does. `--size N` changes the
count.
"""

from __future__ import annotations

import io
import random
import shutil
import statistics
import tempfile
import warnings
from pathlib import Path

from bench.frame import Memory, Options, Outcome, UnavailableError
from bench.measure import children_max_rss, timed
from recordings.crypto import EncryptedStore, RecordingKey
from recordings.listen import BITRATE_KBPS, SAMPLE_RATE, encode_listening_copy, listen_path
from recordings.store import LocalStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment

TARGET = 100.0
RECORDINGS = 20
DURATION_S = 300
RATE = 8000
SEED = 20300107


def conversation(duration_s: int, seed: int = SEED) -> bytes:
    """A dual-channel 8 kHz 16-bit WAV: two parties taking turns, with pauses (deterministic)."""
    rng = random.Random(seed)
    # One second of noise per party, cut into syllables: building every sample in Python for
    # five minutes would take longer than what is measured.
    noise = [
        AudioSegment(data=rng.randbytes(RATE * 2), sample_width=2, frame_rate=RATE, channels=1) - 18
        for _ in range(2)
    ]
    silence = AudioSegment.silent(duration=1000, frame_rate=RATE).set_sample_width(2)
    parties = [AudioSegment.empty(), AudioSegment.empty()]
    elapsed_ms, speaker = 0, 0
    while elapsed_ms < duration_s * 1000:
        turn_ms = rng.randrange(1500, 6000)
        pause_ms = rng.randrange(200, 900)
        spoken = AudioSegment.empty()
        while len(spoken) < turn_ms:
            syllable = rng.randrange(120, 320)
            start = rng.randrange(0, 1000 - syllable)
            spoken += noise[speaker][start : start + syllable] + silence[: rng.randrange(20, 90)]
        spoken = spoken[:turn_ms] + silence[:pause_ms]
        parties[speaker] += spoken
        parties[1 - speaker] += AudioSegment.silent(duration=len(spoken), frame_rate=RATE)
        elapsed_ms += len(spoken)
        speaker = 1 - speaker
    mono = [party[: duration_s * 1000].set_sample_width(2) for party in parties]
    buffer = io.BytesIO()
    AudioSegment.from_mono_audiosegments(*mono).export(buffer, format="wav")
    return buffer.getvalue()


def run(options: Options) -> Outcome:
    """Encode the recordings one after another; then once more through an encrypted store."""
    if shutil.which("ffmpeg") is None:
        raise UnavailableError("ffmpeg is not installed (apt-get install ffmpeg)")
    count = options.size or RECORDINGS
    wav = conversation(DURATION_S)
    encode_listening_copy(wav)  # the first ffmpeg start pays for loading it from disk
    times: list[float] = []
    copy = b""
    for _ in range(count):
        copy, seconds = timed(lambda: encode_listening_copy(wav))
        times.append(seconds)
    encode_s = sum(times)
    audio_s = count * DURATION_S
    with tempfile.TemporaryDirectory(prefix="ivr-bench-listen-") as folder:
        store = EncryptedStore(LocalStore(Path(folder)), RecordingKey.generate())
        paths = [f"2030/01/RE{n:032x}.wav" for n in range(count)]
        for path in paths:
            store.put(path, wav)

        def copy_all() -> None:
            for path in paths:
                store.put(listen_path(path), encode_listening_copy(store.read(path)))

        _, stored_s = timed(copy_all)
    rows = [
        (
            "recordings",
            f"{count} x {DURATION_S // 60} min, dual-channel 8 kHz ({len(wav) / 1e6:.1f} MB)",
        ),
        (
            "copy",
            f"MP3 mono {SAMPLE_RATE // 1000} kHz {BITRATE_KBPS} kbit/s, {len(copy) / 1e3:.0f} KB",
        ),
        ("size of the evidence", f"{len(wav) / len(copy):.1f} x the copy"),
        ("encoding, all", f"{encode_s:.2f} s for {audio_s / 60:.0f} min of audio"),
        ("per recording", f"median {statistics.median(times):.2f} s, max {max(times):.2f} s"),
        ("through an encrypted store", f"{stored_s:.2f} s ({audio_s / stored_s:.0f} x real time)"),
    ]
    return Outcome(
        ratio=audio_s / encode_s,
        memory=Memory(children_max_rss(), "ru_maxrss of the largest ffmpeg child"),
        rows=rows,
        figures={
            "recordings": count,
            "duration_s": DURATION_S,
            "wav_bytes": len(wav),
            "mp3_bytes": len(copy),
            "encode_seconds": times,
            "encrypted_store_seconds": stored_s,
        },
    )
