"""The webhook app for a WSGI server: `gunicorn 'ivr.wsgi:app'` (settings from the environment)."""

from __future__ import annotations

from ivr.app import create_app
from ivr.config import load_settings

app = create_app(load_settings())
