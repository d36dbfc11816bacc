"""The API's blueprint at /api/v1: every request authenticated by token, every error JSON.

Route modules (queue_routes, openapi) add their views to `bp`; ivr.api.init_app registers it.
"""

from __future__ import annotations

from flask import Blueprint

from ivr.api.auth import require_token
from ivr.api.errors import API_PREFIX, register_blueprint_errors

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
# Once, at import: init_app runs for every app a process builds (the tests build many).
bp.before_request(require_token)
register_blueprint_errors(bp)
