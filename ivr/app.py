"""Flask app factory: the provider's webhooks (the staff console and API register here later)."""

from __future__ import annotations

from typing import cast

from flask import Flask, current_app

from ivr.config import Settings
from ivr.db import make_engine, make_sessions
from ivr.services import Clock, Services, system_clock
from ivr.telephony.port import Telephony


def current_services() -> Services:
    """The services of the app handling this request (set by create_app)."""
    return cast(Services, current_app.extensions["ivr"])


def create_app(
    settings: Settings,
    *,
    telephony: Telephony | None = None,
    clock: Clock | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the web app; refuses to start without what signature checks need (fail closed)."""
    settings.require_webhooks()
    if services is None:
        engine = make_engine(settings.database_url)
        services = Services(
            settings=settings,
            sessions=make_sessions(engine),
            telephony=telephony,
            clock=clock or system_clock,
        )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["ivr"] = services

    from ivr.staff.auth import init_app as init_staff
    from ivr.webhooks.agent_routes import bp as agent_callbacks
    from ivr.webhooks.prompts import bp as prompts
    from ivr.webhooks.routes import bp as webhooks
    from ivr.webhooks.sms_routes import bp as sms_replies
    from recordings.replay import bp as replay

    app.register_blueprint(webhooks)
    app.register_blueprint(agent_callbacks)  # an agent's callback: /twilio/agent/...
    app.register_blueprint(prompts)
    app.register_blueprint(sms_replies)  # replies to the unreachable text
    init_staff(app)  # sign-in and the session cookie; the staff console builds on it
    app.register_blueprint(replay)
    from ivr.api import init_app as init_api

    init_api(app)  # the JSON API at /api/v1 (bearer tokens)
    from ivr.console import init_app as init_console

    init_console(app)  # the staff console at /console (the session cookie, CSRF on forms)

    from ivr.ops.metrics import time_webhooks
    from ivr.ops.routes import bp as ops

    app.register_blueprint(ops)  # /healthz and /metrics
    time_webhooks(app)
    return app
