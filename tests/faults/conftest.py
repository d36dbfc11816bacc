"""Fixtures of the fault and abuse suite: the app and its test client over the shared services."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ivr.app import create_app
from ivr.config import Settings
from ivr.services import Services


@pytest.fixture
def app(settings: Settings, services: Services) -> Flask:
    return create_app(settings, services=services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
