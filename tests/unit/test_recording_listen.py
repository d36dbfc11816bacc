"""The listening copy's encoding: a mono MP3 of the same length, the evidence left as it was."""

from __future__ import annotations

import io
import warnings

import pytest

from ivr.telephony.sim_media import recording_wav
from recordings.audio import decode_to_wav
from recordings.listen import (
    BITRATE_KBPS,
    ListenError,
    encode_listening_copy,
    listen_path,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment


def decode_mp3(data: bytes) -> AudioSegment:
    """Decode with ffmpeg, as a player would."""
    return AudioSegment(data=decode_to_wav(data))


@pytest.mark.parametrize("channels", [1, 2])
def test_the_copy_is_a_mono_mp3_of_the_same_length(channels: int) -> None:
    """Both parties mixed into one channel, 16 kHz, as long as the call within an MP3 frame."""
    wav = recording_wav(12.0, channels=channels)

    copy = encode_listening_copy(wav)

    decoded = decode_mp3(copy)
    assert (1, 16_000) == (decoded.channels, decoded.frame_rate)
    assert 12.0 == pytest.approx(decoded.duration_seconds, abs=0.15)


def test_the_copy_is_an_eighth_of_a_dual_channel_recording() -> None:
    """32 kbit/s constant: about 4 KB a second, against 32 KB for 8 kHz 16-bit stereo."""
    wav = recording_wav(30.0, channels=2)

    copy = encode_listening_copy(wav)

    assert 30 * BITRATE_KBPS * 1000 / 8 == pytest.approx(len(copy), rel=0.05)
    assert len(wav) / len(copy) == pytest.approx(8, rel=0.1)


def test_both_voices_of_a_dual_channel_recording_are_heard() -> None:
    """A voice on one channel only is still in the mix, at its own loudness (summed)."""
    tone = AudioSegment.from_file(io.BytesIO(recording_wav(5.0)), format="wav")
    silence = AudioSegment.silent(duration=5000, frame_rate=8000).set_sample_width(2)
    left_only = AudioSegment.from_mono_audiosegments(tone, silence)
    buffer = io.BytesIO()
    left_only.export(buffer, format="wav")

    decoded = decode_mp3(encode_listening_copy(buffer.getvalue()))

    assert tone.dBFS == pytest.approx(decoded.dBFS, abs=1.5)


def test_something_that_is_not_a_wav_is_refused_before_ffmpeg() -> None:
    """An XML body or a damaged file never reaches the encoder."""
    with pytest.raises(ListenError, match="not usable audio"):
        encode_listening_copy(b'<?xml version="1.0"?><Error/>')


def test_without_ffmpeg_the_copy_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No encoder anywhere: an error that says so and stops the pass (unavailable)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/nonexistent/ffmpeg")

    with pytest.raises(ListenError, match="no ffmpeg found") as caught:
        encode_listening_copy(recording_wav(1.0))

    assert caught.value.unavailable


def test_the_bundled_ffmpeg_is_used_when_the_system_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pip install .` is enough: imageio-ffmpeg's static build encodes with LAME."""
    monkeypatch.setenv("PATH", "/nonexistent")

    copy = encode_listening_copy(recording_wav(2.0))

    assert 2.0 == pytest.approx(decode_mp3(copy).duration_seconds, abs=0.15)


def test_the_copy_lies_next_to_the_evidence_with_no_personal_data() -> None:
    """Same folder, same recording id, its own suffix."""
    assert "2030/01/RE0a1b.listen.mp3" == listen_path("2030/01/RE0a1b.wav")
