"""Audio checks with pydub: is this really a WAV file, and how long is it?"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

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
