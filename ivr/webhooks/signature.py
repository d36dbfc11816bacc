"""Twilio's X-Twilio-Signature, checked against the URL the provider was given."""

from __future__ import annotations

from urllib.parse import quote

from flask import Request
from twilio.request_validator import RequestValidator

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
