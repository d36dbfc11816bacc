"""inspect_wav: real WAV files are measured, everything else is refused with a clear error."""

from __future__ import annotations

import struct

import pytest

from ivr.telephony.sim_media import recording_wav
from recordings.audio import AudioError, AudioInfo, inspect_wav


def test_a_mono_recording_is_measured() -> None:
    """Twilio's format, 8 kHz mono, with its duration in seconds."""
    assert AudioInfo(duration_s=3.0, channels=1, sample_rate=8000) == inspect_wav(
        recording_wav(3.0)
    )


def test_a_dual_channel_recording_is_measured() -> None:
    """Dual-channel recordings report two channels and the same duration."""
    info = inspect_wav(recording_wav(1.5, channels=2))

    assert (1.5, 2) == (info.duration_s, info.channels)


def test_an_empty_recording_lasts_zero_seconds() -> None:
    """A valid file with no samples is still a WAV file; the caller judges the length."""
    assert 0.0 == inspect_wav(recording_wav(0)).duration_s


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"RIFF",
        b'<?xml version="1.0"?><TwilioResponse><RestException/></TwilioResponse>',
        b"<html><body>Service Unavailable</body></html>",
        b"ID3\x04\x00\x00\x00\x00\x00\x00 an mp3",
    ],
)
def test_bodies_that_are_not_riff_wave_are_refused(body: bytes) -> None:
    """Error pages and other formats never count as audio."""
    with pytest.raises(AudioError, match="not a RIFF/WAVE file"):
        inspect_wav(body)


def test_a_truncated_file_is_refused() -> None:
    """A download cut short is shorter than its own header says."""
    whole = recording_wav(2.0)

    with pytest.raises(AudioError, match="truncated"):
        inspect_wav(whole[: len(whole) // 2])


def test_a_riff_header_over_garbage_is_refused() -> None:
    """The right magic bytes over a body pydub cannot read is still an error."""
    junk = b"junk" * 10
    body = b"RIFF" + struct.pack("<I", 4 + len(junk)) + b"WAVE" + junk

    with pytest.raises(AudioError, match="unreadable WAV data"):
        inspect_wav(body)


def test_a_format_with_zero_channels_is_refused() -> None:
    """A header claiming no channels cannot give a duration."""
    fmt = struct.pack("<HHIIHH", 1, 0, 8000, 16000, 2, 16)
    chunks = (
        b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
    )
    body = b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks

    with pytest.raises(AudioError):
        inspect_wav(body)
