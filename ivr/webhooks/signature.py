"""Twilio's X-Twilio-Signature, checked against the URL the provider was given."""

from __future__ import annotations

import hmac
import io
import logging
from urllib.parse import quote, urlsplit

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


_DEFAULT_PORTS = {"https": 443, "http": 80}
_FORM_TYPES = ("application/x-www-form-urlencoded", "")  # "": a POST with no body at all


def is_signed(auth_token: str, url: str, params: object, signature: str | None) -> bool:
    """True if the signature is Twilio's for this URL and form; an empty token never validates."""
    if not auth_token or not signature:
        return False
    validator = RequestValidator(auth_token)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        # RequestValidator also accepts the URL with its port removed, because Twilio signs
        # https://host/ and https://host:443/ alike. For any other port that stripped URL is
        # another server's (host:443, not host:8443): Twilio keeps a port it had to connect to,
        # so only the URL exactly as requested may validate.
        expected = validator.compute_signature(url, params)
        return hmac.compare_digest(expected.encode(), signature.encode())
    return bool(validator.validate(url, params, signature))


def require_provider_signature() -> None:
    """A blueprint's before_request for every route the provider calls: a body over the limit is
    refused before it is read (413), and an unsigned or wrongly signed request gets 403 before
    anything touches the database."""
    settings = current_services().settings
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        abort(413)
    if request.mimetype not in _FORM_TYPES:
        # Twilio posts urlencoded forms only; parsing multipart (files spooled to disk) for a
        # sender not yet known to be Twilio would be work done for anyone.
        abort(415)
    if request.content_length is None and request.environ.get("wsgi.input_terminated"):
        # A chunked body has no length to refuse up front, and werkzeug silently cuts it at
        # MAX_CONTENT_LENGTH: the check would then run on a truncated form. Read it here, one
        # byte past the limit, to tell an oversized body (413) from one that fits.
        data = request.environ["wsgi.input"].read(settings.max_body_bytes + 1)
        if len(data) > settings.max_body_bytes:
            abort(413)
        request.environ["wsgi.input"] = io.BytesIO(data)
        request.environ["CONTENT_LENGTH"] = str(len(data))
    url = signed_url(settings.public_base_url, request)
    if not is_signed(
        settings.twilio_auth_token, url, request.form, request.headers.get("X-Twilio-Signature")
    ):
        log.warning("bad signature", extra={"action": "webhook.forbidden", "path": request.path})
        abort(403)
