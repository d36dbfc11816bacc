"""Calling /api/v1 in tests, every answer checked against the OpenAPI document's schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.test import TestResponse

from ivr.api.openapi import document

SPEC = document()
SPEC_URI = "urn:ivr-api-openapi"
REGISTRY: Registry[Any] = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def _pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def check_against_spec(path: str, method: str, response: TestResponse) -> None:
    """Assert the status is documented for the operation and the JSON body fits its schema."""
    responses = SPEC["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method.upper()} {path} answered an undocumented {status}"
    assert response.mimetype == "application/json", response.data[:200]
    ref = SPEC_URI + "#" + _pointer("paths", path, method, "responses", status, "content")
    schema = {"$ref": ref + _pointer("application/json", "schema")}
    validator = Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(response.get_json())
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@dataclass
class Api:
    """The Flask test client with a token per user; each call is checked against the spec."""

    client: FlaskClient
    tokens: dict[str, str]

    def call(
        self,
        method: str,
        path: str,
        as_user: str | None,
        *,
        token: str | None = None,
        **kwargs: Any,
    ) -> TestResponse:
        """`path` is the document's template; `escalation_id=` or `name=` fill it; the rest goes
        to Flask."""
        url = path
        for name in ("escalation_id", "name"):  # the document's path parameters
            if name in kwargs:
                url = url.replace("{" + name + "}", str(kwargs.pop(name)))
        headers = dict(kwargs.pop("headers", {}))
        bearer = token if token is not None else self.tokens.get(as_user or "")
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        response = self.client.open(url, method=method.upper(), headers=headers, **kwargs)
        check_against_spec(path, method, response)
        return response

    def get(self, path: str, as_user: str | None, **kwargs: Any) -> TestResponse:
        return self.call("get", path, as_user, **kwargs)

    def post(self, path: str, as_user: str | None, **kwargs: Any) -> TestResponse:
        return self.call("post", path, as_user, **kwargs)


LIST = "/api/v1/escalations"
ONE = "/api/v1/escalations/{escalation_id}"
CLAIM = ONE + "/claim"
RELEASE = ONE + "/release"
RESOLVE = ONE + "/resolve"
REOPEN = ONE + "/reopen"
REASSIGN = ONE + "/reassign"
REPORT = "/api/v1/campaigns/{name}/report"
