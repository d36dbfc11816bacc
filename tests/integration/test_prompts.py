"""Audio prompts: prepared for the phone by `ivr prompts prepare`, served for <Play>."""

from __future__ import annotations

import io
import subprocess
import warnings
from pathlib import Path

from click.testing import CliRunner

from ivr.app import create_app
from ivr.config import Settings
from ivr.prompts_cli import prompts
from ivr.services import Services
from recordings.ffmpeg import ffmpeg_executable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pydub import AudioSegment
    from pydub.generators import Sine


def tone(path: Path, *, volume: float, rate: int = 44100, channels: int = 2) -> None:
    segment = Sine(300, sample_rate=rate).to_audio_segment(duration=1500, volume=volume)
    buffer = io.BytesIO()
    segment.set_channels(channels).export(buffer, format="wav")
    if path.suffix == ".wav":
        path.write_bytes(buffer.getvalue())
        return
    ffmpeg = ffmpeg_executable()
    assert ffmpeg is not None
    command = [ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-f", path.suffix[1:], "pipe:1"]
    encoded = subprocess.run(command, input=buffer.getvalue(), capture_output=True, check=True)
    path.write_bytes(encoded.stdout)


def read(path: Path) -> AudioSegment:
    return AudioSegment(data=path.read_bytes())


def test_prepare_makes_mono_8khz_at_a_common_loudness(tmp_path: Path) -> None:
    tone(tmp_path / "quiet.wav", volume=-35.0)
    tone(tmp_path / "loud.wav", volume=-6.0, rate=16000, channels=1)
    result = CliRunner().invoke(prompts, ["prepare", str(tmp_path)])
    assert result.exit_code == 0, result.output
    levels = []
    for name in ("quiet", "loud"):
        prepared = read(tmp_path / "prepared" / f"{name}.wav")
        assert (prepared.channels, prepared.frame_rate, prepared.sample_width) == (1, 8000, 2)
        assert abs(prepared.duration_seconds - 1.5) < 0.01
        assert prepared.max_dBFS <= -0.9
        levels.append(prepared.dBFS)
    assert abs(levels[0] - levels[1]) < 0.5  # brought to one loudness
    assert abs(levels[0] + 20.0) < 0.5
    assert "prepared 2 of 2" in result.output


def test_prepare_reports_bad_files_and_fails(tmp_path: Path) -> None:
    tone(tmp_path / "good.wav", volume=-20.0)
    (tmp_path / "broken.wav").write_bytes(b"<Response>not audio</Response>")
    AudioSegment.silent(duration=500).export(tmp_path / "silent.wav", format="wav").close()
    result = CliRunner().invoke(prompts, ["prepare", str(tmp_path)])
    assert result.exit_code == 1
    assert "broken.wav: unreadable audio" in result.stderr
    assert "silent.wav: the recording is empty or silent" in result.stderr
    assert (tmp_path / "prepared" / "good.wav").exists()


def test_prepare_refuses_an_empty_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(prompts, ["prepare", str(tmp_path)])
    assert result.exit_code == 1


def test_prepare_reads_mp3(tmp_path: Path) -> None:
    tone(tmp_path / "greeting.mp3", volume=-12.0)
    result = CliRunner().invoke(prompts, ["prepare", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "o" / "greeting.wav").frame_rate == 8000


def test_prompts_are_served_for_play_and_nothing_else(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    prompts_dir = tmp_path / "prompts"
    (prompts_dir / "cooling-off").mkdir(parents=True)
    buffer = io.BytesIO()
    AudioSegment.silent(duration=200, frame_rate=8000).export(buffer, format="wav")
    (prompts_dir / "cooling-off" / "hello.wav").write_bytes(buffer.getvalue())
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    services.settings = settings.with_(prompts_dir=prompts_dir)
    client = create_app(services.settings, services=services).test_client()

    with client.get("/prompts/cooling-off/hello.wav") as served:
        assert served.status_code == 200
        assert served.mimetype == "audio/wav"
        assert served.data == buffer.getvalue()
    for path in (
        "/prompts/cooling-off/missing.wav",
        "/prompts/cooling-off/..%2Fsecret.wav",
        "/prompts/../secret.wav",
        "/prompts/cooling-off/notes.txt",
        "/prompts/.hidden/hello.wav",
    ):
        assert client.get(path).status_code == 404, path
