"""Audio prompts for <Play>: prepared WAV files served from IVR_PROMPTS_DIR/<flow>/<file>.

Twilio fetches <Play> media with a plain GET and no signature, so this serves nothing but the
prepared prompt files themselves: recorded sentences of the script, no personal data.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, send_from_directory

from ivr.app import current_services

bp = Blueprint("prompts", __name__, url_prefix="/prompts")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@bp.get("/<flow>/<name>")
def prompt(flow: str, name: str) -> Response:
    """One prepared prompt file; names are plain file names, never paths."""
    if not (_NAME.match(flow) and _NAME.match(name) and name.endswith(".wav")):
        abort(404)
    folder = current_services().settings.prompts_dir / flow
    response = send_from_directory(folder.resolve(), name, mimetype="audio/wav", max_age=3600)
    return response
