"""`ivr prompts prepare`: recorded prompt files made ready for the phone."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from recordings.audio import PROMPT_SOURCES, AudioError, prepare_prompt

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@click.group()
def prompts() -> None:
    """Audio prompts played instead of synthesised speech."""


@prompts.command("prepare")
@click.argument(
    "source", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--out",
    "target",
    type=click.Path(file_okay=False, path_type=Path),
    help="where to write the prepared WAV files (default: DIR/prepared)",
)
def prepare(source: Path, target: Path | None) -> None:
    """Convert the wav, mp3 and m4a files in DIR to mono 8 kHz WAV at a common loudness.

    Copy the result to IVR_PROMPTS_DIR/<flow>/ and name the files in the flow's prompts
    (`{audio: greeting.wav}`); the webhooks serve them for <Play>. mp3 and m4a need ffmpeg.
    """
    target = target or source / "prepared"
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PROMPT_SOURCES)
    if not files:
        err.print(f"no {', '.join(PROMPT_SOURCES)} files in {source}")
        sys.exit(1)
    target.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in files:
        try:
            prepared = prepare_prompt(path)
        except AudioError as exc:
            err.print(f"  {exc}", soft_wrap=True)
            failed += 1
            continue
        destination = target / f"{path.stem}.wav"
        destination.write_bytes(prepared.wav)
        out.print(
            f"  {path.name} -> {destination} ({prepared.duration_s:.1f} s, "
            f"gain {prepared.gain_db:+.1f} dB)"
        )
    out.print(f"prepared {len(files) - failed} of {len(files)} prompts into {target}")
    if failed:
        sys.exit(1)
