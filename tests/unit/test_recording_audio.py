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


def wav_bytes(
    *,
    tag: int = 1,
    channels: int = 2,
    rate: int = 8000,
    bits: int = 16,
    byte_rate: int | None = None,
    data: bytes = b"\0" * 32000,
    data_size: int | None = None,
    extra: bytes = b"",
) -> bytes:
    """A WAV built chunk by chunk, so each header field can be made wrong on its own."""
    align = channels * bits // 8
    fmt = struct.pack(
        "<HHIIHH",
        tag,
        channels,
        rate,
        rate * align if byte_rate is None else byte_rate,
        align,
        bits,
    )
    size = len(data) if data_size is None else data_size
    chunks = (
        b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + extra
        + b"data"
        + struct.pack("<I", size)
        + data
    )
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_duration_comes_from_the_header_and_the_byte_count() -> None:
    """32,000 bytes of 8 kHz 16-bit stereo are one second, whatever the samples hold."""
    assert AudioInfo(duration_s=1.0, channels=2, sample_rate=8000) == inspect_wav(wav_bytes())


def test_chunks_before_the_data_are_skipped() -> None:
    """A LIST chunk (odd length, padded) between fmt and data does not confuse the reader."""
    listing = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"

    assert 1.0 == inspect_wav(wav_bytes(extra=listing)).duration_s


def test_a_data_chunk_longer_than_the_file_is_truncated() -> None:
    """The data chunk claims more bytes than the RIFF chunk holds: a cut download."""
    with pytest.raises(AudioError, match="truncated: data chunk says 64000 bytes"):
        inspect_wav(wav_bytes(data_size=64000))


def test_data_that_is_not_whole_frames_is_refused() -> None:
    """Stereo 16-bit frames are 4 bytes: 31,998 bytes cannot be a recording."""
    with pytest.raises(AudioError, match="not whole 4-byte frames"):
        inspect_wav(wav_bytes(data=b"\0" * 31998))


def test_a_byte_rate_that_disagrees_with_the_format_is_refused() -> None:
    """A header whose rates contradict each other gives no duration we could trust."""
    with pytest.raises(AudioError, match="does not make 4-byte frames at 16000 bytes/s"):
        inspect_wav(wav_bytes(byte_rate=16000))


def test_a_compressed_format_is_refused() -> None:
    """Only PCM is measured from its size: mu-law (tag 7) and others are not the format agreed."""
    with pytest.raises(AudioError, match="format tag 0x0007, not PCM"):
        inspect_wav(wav_bytes(tag=7, bits=8))


def test_a_data_chunk_before_any_fmt_is_refused() -> None:
    """Without a format the bytes have no duration."""
    body = b"data" + struct.pack("<I", 4) + b"\0" * 4
    wav = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body

    with pytest.raises(AudioError, match="no fmt chunk"):
        inspect_wav(wav)
