"""WAV files: is this a whole WAV, how long is it (header only); prompts made phone-ready."""

from __future__ import annotations

import io
import struct
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from recordings.ffmpeg import MISSING, ffmpeg_executable

# pydub imports audioop (deprecated since 3.11) and warns at import when ffmpeg is missing; WAV
# needs neither, so keep both warnings out of the logs of every process that imports this.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    warnings.filterwarnings("ignore", "Couldn't find ffmpeg or avconv", RuntimeWarning)
    from pydub import AudioSegment

_HEADER = 12  # "RIFF", the chunk size, "WAVE"
_PCM = 0x0001
_EXTENSIBLE = (
    0xFFFE  # WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first two bytes
)
_SAMPLE_BITS = (8, 16, 24, 32)


class AudioError(ValueError):
    """The bytes are not a complete, readable WAV file."""


@dataclass(frozen=True)
class AudioInfo:
    """What a WAV file holds."""

    duration_s: float
    channels: int
    sample_rate: int


def inspect_wav(data: bytes) -> AudioInfo:
    """Check that data is a whole PCM RIFF/WAVE file and return its duration and format.

    Read from the header alone, no sample decoded (a five-minute recording is checked in
    microseconds): the RIFF size must fit the bytes received, the data chunk must fit the RIFF
    chunk and hold whole frames, and the format's rates must agree with each other.
    """
    if len(data) < _HEADER or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        # Providers answer some failures with 200 and an XML or HTML body: name what came.
        raise AudioError(f"not a RIFF/WAVE file (starts with {data[:16]!r}, {len(data)} bytes)")
    (riff_size,) = struct.unpack_from("<I", data, 4)
    end = riff_size + 8
    if len(data) < end:
        raise AudioError(f"WAV file truncated: header says {end} bytes, got {len(data)}")
    block_align = sample_rate = channels = 0
    offset = _HEADER
    while True:
        if offset + 8 > end:
            raise AudioError("unreadable WAV data (no data chunk)")
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"data":
            if not block_align:
                raise AudioError("unreadable WAV data (no fmt chunk before the data)")
            if body + size > end:
                raise AudioError(
                    f"WAV file truncated: data chunk says {size} bytes, {end - body} follow"
                )
            if size % block_align:
                raise AudioError(
                    f"unreadable WAV data ({size} data bytes are not whole "
                    f"{block_align}-byte frames)"
                )
            return AudioInfo(
                duration_s=size / block_align / sample_rate,
                channels=channels,
                sample_rate=sample_rate,
            )
        if body + size > end:
            raise AudioError(f"unreadable WAV data (chunk {chunk_id!r} runs past the end)")
        if chunk_id == b"fmt ":
            channels, sample_rate, block_align = _pcm_format(data[body : body + size])
        offset = body + size + (size & 1)  # chunks are padded to an even length


def _pcm_format(fmt: bytes) -> tuple[int, int, int]:
    """Channels, sample rate and frame size from a fmt chunk; AudioError unless consistent PCM."""
    if len(fmt) < 16:
        raise AudioError(f"unreadable WAV data (fmt chunk of {len(fmt)} bytes)")
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        (tag,) = struct.unpack_from("<H", fmt, 24)
    if tag != _PCM:
        raise AudioError(f"WAV format is not usable: format tag {tag:#06x}, not PCM")
    if channels <= 0 or rate <= 0 or bits not in _SAMPLE_BITS:
        raise AudioError(f"WAV format is not usable: {channels} channels, {rate} Hz, {bits}-bit")
    if block_align != channels * bits // 8 or byte_rate != rate * block_align:
        raise AudioError(
            f"WAV format is not usable: {channels} x {bits}-bit at {rate} Hz "
            f"does not make {block_align}-byte frames at {byte_rate} bytes/s"
        )
    return channels, rate, block_align


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

    WAV is read by pydub itself; mp3 and m4a are decoded by ffmpeg (AudioError when none).
    """
    suffix = path.suffix.lower()
    if suffix not in PROMPT_SOURCES:
        raise AudioError(f"{path.name}: not a prompt source ({', '.join(PROMPT_SOURCES)})")
    try:
        wav = path.read_bytes() if suffix == ".wav" else decode_to_wav(path.read_bytes())
        segment = AudioSegment(data=wav)
    except AudioError as exc:
        raise AudioError(f"{path.name}: {exc}") from exc
    except Exception as exc:  # pydub fails in many shapes; the name is what helps
        raise AudioError(f"{path.name}: unreadable audio ({type(exc).__name__})") from exc
    if len(segment) == 0 or segment.dBFS == float("-inf"):
        raise AudioError(f"{path.name}: the recording is empty or silent")
    segment = segment.set_channels(1).set_frame_rate(PROMPT_RATE).set_sample_width(2)
    gain = min(PROMPT_TARGET_DBFS - segment.dBFS, PROMPT_PEAK_LIMIT_DBFS - segment.max_dBFS)
    segment = segment.apply_gain(gain)
    buffer = io.BytesIO()
    segment.export(buffer, format="wav")
    return PreparedPrompt(buffer.getvalue(), float(segment.duration_seconds), round(gain, 2))


def decode_to_wav(data: bytes, *, timeout_s: float = 120.0) -> bytes:
    """Any audio ffmpeg reads (mp3, m4a, ...) as 16-bit PCM WAV, through pipes.

    Not pydub's from_file: that asks ffprobe first, which the ffmpeg of imageio-ffmpeg lacks,
    and writes temporary files.
    """
    ffmpeg = ffmpeg_executable()
    if ffmpeg is None:
        raise AudioError(MISSING)
    command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", "pipe:0"]
    command += ["-map_metadata", "-1", "-c:a", "pcm_s16le", "-f", "wav", "pipe:1"]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise AudioError(f"ffmpeg took over {timeout_s:g} s to decode") from None
    if done.returncode != 0 or not done.stdout:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
        raise AudioError(f"unreadable audio (ffmpeg: {reason[0][:200]})")
    # Written to a pipe, ffmpeg cannot seek back to fill in the RIFF sizes: set them here.
    return _fix_wav_sizes(done.stdout)


def _fix_wav_sizes(wav: bytes) -> bytes:
    """Set the RIFF and data chunk sizes of a WAV written to a pipe to the bytes that came."""
    fixed = bytearray(wav)
    offset = _HEADER
    while offset + 8 <= len(fixed):
        chunk_id = bytes(fixed[offset : offset + 4])
        if chunk_id == b"data":
            struct.pack_into("<I", fixed, offset + 4, len(fixed) - offset - 8)
            struct.pack_into("<I", fixed, 4, len(fixed) - 8)
            return bytes(fixed)
        (size,) = struct.unpack_from("<I", fixed, offset + 4)
        offset += 8 + size + (size & 1)
    raise AudioError("ffmpeg wrote no WAV data chunk")
