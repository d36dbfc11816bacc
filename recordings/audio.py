"""Audio with pydub: is this really a WAV file and how long is it; prompts made phone-ready."""

from __future__ import annotations

import io
import shutil
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

# pydub imports audioop (deprecated since 3.11) and warns at import when ffmpeg is missing; WAV
# needs neither, so keep both warnings out of the logs of every process that imports this.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    warnings.filterwarnings("ignore", "Couldn't find ffmpeg or avconv", RuntimeWarning)
    from pydub import AudioSegment

_HEADER = 12  # "RIFF", the chunk size, "WAVE"


class AudioError(ValueError):
    """The bytes are not a complete, readable WAV file."""


@dataclass(frozen=True)
class AudioInfo:
    """What a WAV file holds."""

    duration_s: float
    channels: int
    sample_rate: int


def inspect_wav(data: bytes) -> AudioInfo:
    """Check that data is a whole RIFF/WAVE file and return its duration and format."""
    if len(data) < _HEADER or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        # Providers answer some failures with 200 and an XML or HTML body: name what came.
        raise AudioError(f"not a RIFF/WAVE file (starts with {data[:16]!r}, {len(data)} bytes)")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if len(data) < riff_size + 8:
        raise AudioError(f"WAV file truncated: header says {riff_size + 8} bytes, got {len(data)}")
    try:
        # The constructor, not AudioSegment.from_file: when its own WAV parser fails, from_file
        # hands the bytes to ffmpeg, so a broken download would spawn a decoder (or fail with
        # FileNotFoundError on hosts without one) instead of raising a decode error.
        segment = AudioSegment(data=data)
    except Exception as exc:  # pydub raises CouldntDecodeError, struct.error, ValueError, ...
        raise AudioError(f"unreadable WAV data ({type(exc).__name__}: {exc})") from exc
    if segment.frame_rate <= 0 or segment.channels <= 0 or segment.sample_width <= 0:
        raise AudioError(
            f"WAV format is not usable: {segment.channels} channels, "
            f"{segment.frame_rate} Hz, {segment.sample_width * 8}-bit"
        )
    return AudioInfo(
        duration_s=float(segment.duration_seconds),
        channels=int(segment.channels),
        sample_rate=int(segment.frame_rate),
    )


PROMPT_RATE = 8000  # what the phone network carries; Twilio would resample anything else
PROMPT_TARGET_DBFS = -20.0  # average loudness every prompt is brought to
PROMPT_PEAK_LIMIT_DBFS = -1.0  # never amplify a peak past this: clipping sounds worse than quiet
PROMPT_SOURCES = (".wav", ".mp3", ".m4a")


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt converted for the phone: mono 8 kHz 16-bit WAV at a common loudness."""

    wav: bytes
    duration_s: float
    gain_db: float


def prepare_prompt(path: Path) -> PreparedPrompt:
    """Convert a recorded prompt (wav, mp3 or m4a) to what telephony plays well.

    WAV is read by pydub itself; mp3 and m4a need ffmpeg on the PATH (AudioError says so).
    """
    suffix = path.suffix.lower()
    if suffix not in PROMPT_SOURCES:
        raise AudioError(f"{path.name}: not a prompt source ({', '.join(PROMPT_SOURCES)})")
    if suffix != ".wav" and shutil.which("ffmpeg") is None:
        raise AudioError(f"{path.name}: reading {suffix} needs ffmpeg, which is not installed")
    try:
        # Opened here: given a path, pydub's WAV reader leaves the file open.
        with path.open("rb") as stream:
            segment = AudioSegment.from_file(stream, format=suffix.lstrip("."))
    except Exception as exc:  # pydub and ffmpeg fail in many shapes; the name is what helps
        raise AudioError(f"{path.name}: unreadable audio ({type(exc).__name__})") from exc
    if len(segment) == 0 or segment.dBFS == float("-inf"):
        raise AudioError(f"{path.name}: the recording is empty or silent")
    segment = segment.set_channels(1).set_frame_rate(PROMPT_RATE).set_sample_width(2)
    gain = min(PROMPT_TARGET_DBFS - segment.dBFS, PROMPT_PEAK_LIMIT_DBFS - segment.max_dBFS)
    segment = segment.apply_gain(gain)
    buffer = io.BytesIO()
    segment.export(buffer, format="wav")
    return PreparedPrompt(buffer.getvalue(), float(segment.duration_seconds), round(gain, 2))
