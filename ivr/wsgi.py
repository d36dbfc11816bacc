"""The webhook app for a WSGI server: `gunicorn 'ivr.wsgi:app'` (settings from the environment)."""

from __future__ import annotations

import logging

from ivr.app import create_app
from ivr.config import load_settings
from ivr.logs import configure
from ivr.webhooks.routes import warm_up

settings = load_settings()
configure(logging.INFO, settings.log_format)
app = create_app(settings)
warm_up(app.extensions["ivr"])
