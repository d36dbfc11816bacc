"""Twilio's X-Twilio-Signature, checked against the URL the provider was given."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Request, abort, request
from twilio.request_validator import RequestValidator

from ivr.app import current_services

log = logging.getLogger(__name__)

# Characters a URL path may carry unescaped (RFC 3986 pchar); quote() must leave them alone so
# the rebuilt URL is byte for byte the one Twilio signed.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def signed_url(public_base_url: str, request: Request) -> str:
    """The URL Twilio requested, rebuilt from the configured public base URL.

    Behind a proxy the app sees its own host and scheme, never Twilio's; trusting a forwarded
    Host header would let anyone pick the URL that is checked. The query string is used raw:
    decoding and re-encoding it turns %20 into + and breaks the signature.
    """
    url = public_base_url + quote(request.path, safe=_PATH_SAFE)
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def is_signed(auth_token: str, url: str, params: object, signature: str | None) -> bool:
    """True if the signature is Twilio's for this URL and form; an empty token never validates."""
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def require_provider_signature() -> None:
    """A blueprint's before_request for every route the provider calls: a body over the limit is
    refused before it is read (413), and an unsigned or wrongly signed request gets 403 before
    anything touches the database."""
    settings = current_services().settings
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        abort(413)
    url = signed_url(settings.public_base_url, request)
    if not is_signed(
        settings.twilio_auth_token, url, request.form, request.headers.get("X-Twilio-Signature")
    ):
        log.warning("bad signature", extra={"action": "webhook.forbidden", "path": request.path})
        abort(403)
