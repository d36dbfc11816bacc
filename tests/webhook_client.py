"""Signing requests the way Twilio does, for the Flask test client and for real HTTP."""

from __future__ import annotations

from collections.abc import Mapping

from flask.testing import FlaskClient
from twilio.request_validator import RequestValidator
from werkzeug.test import TestResponse

from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL


def signature(url: str, form: Mapping[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature for a POST of form to url (the full URL Twilio requested)."""
    return str(RequestValidator(token).compute_signature(url, dict(form)))


def signed_post(
    client: FlaskClient,
    path_with_query: str,
    form: Mapping[str, str],
    token: str = AUTH_TOKEN,
    base_url: str = PUBLIC_BASE_URL,
) -> TestResponse:
    """POST form to path as Twilio would, signed over the public URL it was given."""
    headers = {"X-Twilio-Signature": signature(base_url + path_with_query, form, token)}
    return client.post(path_with_query, data=dict(form), headers=headers)
