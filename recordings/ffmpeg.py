"""Which ffmpeg to run: the system's when installed, else the one imageio-ffmpeg ships.

The listening copies and mp3/m4a prompts need an ffmpeg with libmp3lame. A fresh machine has
none, and `pip install .` must be all a user does, so the wheel of imageio-ffmpeg (a static
build with LAME) is a dependency. An ffmpeg on the PATH comes first: the system's package gets
security fixes, and an administrator who installed one meant it to be used. IMAGEIO_FFMPEG_EXE
names another binary explicitly (imageio-ffmpeg reads it).
"""

from __future__ import annotations

import os
import shutil

MISSING = "no ffmpeg found (pip install imageio-ffmpeg, or apt-get install ffmpeg)"


def ffmpeg_executable() -> str | None:
    """The path of the ffmpeg to run, or None when there is none at all.

    Looked up on each call (a PATH lookup and imageio-ffmpeg's cached one are cheap beside
    encoding), so installing ffmpeg takes effect without restarting `ivr dial`.
    """
    explicit = os.environ.get("IMAGEIO_FFMPEG_EXE")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = shutil.which("ffmpeg")
    if found is not None:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:  # a platform its wheels do not cover, and no IMAGEIO_FFMPEG_EXE
        return None
