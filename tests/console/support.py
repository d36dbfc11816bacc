"""Signing in to the console in tests, as a browser would: fetch the form, post it with its
CSRF token, follow the session cookie."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.integration.test_replay import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(page: TestResponse) -> str:
    """The CSRF token of the first form on a page."""
    found = TOKEN.search(page.get_data(as_text=True))
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    """Sign in through the console's form; the response to the form's POST."""
    token = form_token(client.get("/console/sign-in"))
    return client.post(
        "/console/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
    )


def post_form(
    client: FlaskClient, page_path: str, action: str, data: dict[str, str]
) -> TestResponse:
    """Open a page, then post one of its forms with the page's CSRF token."""
    token = form_token(client.get(page_path))
    return client.post(action, data={**data, "csrf_token": token})
