"""Recording media for the Twilio simulator: real WAV files of a given length.

Twilio serves a recording's media as a 128 kbps WAV (8 kHz, 16-bit) when the RecordingUrl is
fetched with no extension or with `.wav`. The simulator makes one on demand: a quiet tone (so a
check for "all silence" does not call it broken) of exactly the recording's duration, with digital
silence where the recording was paused (PauseBehavior=silence) or nothing at all (skip).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# pydub imports audioop (deprecated since 3.11) and warns at import when ffmpeg is missing; WAV
# needs neither, and the test suite turns warnings into errors, so silence them here only.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.generators import Sine

FRAME_RATE = 8000
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
TONE_HZ = 440.0
TONE_DBFS = -40.0


@dataclass(frozen=True)
class PausedSpan:
    """Where a recording was paused: seconds from the recording's start, as the call ran."""

    start_s: float
    end_s: float
    skip: bool = False  # PauseBehavior=skip: left out of the audio; otherwise kept as silence


@cache
def _one_second() -> AudioSegment:
    # pydub computes each sample in Python; a whole second of a 440 Hz tone ends on a full
    # cycle, so longer recordings repeat it seamlessly instead of computing every sample.
    generator = Sine(TONE_HZ, sample_rate=FRAME_RATE, bit_depth=SAMPLE_WIDTH * 8)
    segment: AudioSegment = generator.to_audio_segment(duration=1000, volume=TONE_DBFS)
    return segment.set_frame_rate(FRAME_RATE).set_sample_width(SAMPLE_WIDTH)


def _tone(duration_ms: int) -> AudioSegment:
    whole, rest = divmod(duration_ms, 1000)
    second = _one_second()
    return second * whole + second[:rest]


def recording_wav(
    duration_s: float, *, channels: int = 1, paused: Sequence[PausedSpan] = ()
) -> bytes:
    """Return a WAV (8 kHz, 16-bit, mono unless told) of duration_s: tone, silent where paused.

    duration_s is the time the recording ran, paused spans included; spans with skip=True are
    cut out, so the file is that much shorter.
    """
    total_ms = max(0, round(duration_s * 1000))
    segment, cursor = _tone(0), 0
    for span in sorted(paused, key=lambda span: span.start_s):
        # Clamped: spans may overlap or run past the end (a pause never resumed before hang-up).
        start = min(max(round(span.start_s * 1000), cursor), total_ms)
        end = min(max(round(span.end_s * 1000), start), total_ms)
        segment += _tone(start - cursor)
        if not span.skip:
            segment += AudioSegment.silent(duration=end - start, frame_rate=FRAME_RATE)
        cursor = end
    segment = (segment + _tone(total_ms - cursor)).set_channels(channels)
    buffer = io.BytesIO()
    segment.export(buffer, format="wav")
    return buffer.getvalue()
