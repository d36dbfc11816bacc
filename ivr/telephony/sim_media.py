"""Recording media for the Twilio simulator: real WAV files of a given length.

Twilio serves a recording's media as a 128 kbps WAV (8 kHz, 16-bit) when the RecordingUrl is
fetched with no extension or with `.wav`. The simulator makes one on demand: a quiet tone (so a
check for "all silence" does not call it broken) of exactly the recording's duration.
"""

from __future__ import annotations

import io
import warnings
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


@cache
def _one_second() -> AudioSegment:
    # pydub computes each sample in Python; a whole second of a 440 Hz tone ends on a full
    # cycle, so longer recordings repeat it seamlessly instead of computing every sample.
    generator = Sine(TONE_HZ, sample_rate=FRAME_RATE, bit_depth=SAMPLE_WIDTH * 8)
    segment: AudioSegment = generator.to_audio_segment(duration=1000, volume=TONE_DBFS)
    return segment.set_frame_rate(FRAME_RATE).set_sample_width(SAMPLE_WIDTH)


def recording_wav(duration_s: float, *, channels: int = 1) -> bytes:
    """Return a WAV (8 kHz, 16-bit, mono unless told) holding a quiet tone of duration_s."""
    duration_ms = max(0, round(duration_s * 1000))
    whole, rest = divmod(duration_ms, 1000)
    second = _one_second()
    segment = (second * whole + second[:rest]).set_channels(channels)
    buffer = io.BytesIO()
    segment.export(buffer, format="wav")
    return buffer.getvalue()
