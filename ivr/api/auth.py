"""Bearer tokens on the API: `Authorization: Bearer ivr_...` -> the staff user it acts as.

Each request looks its token up again (one indexed read), so a revoked token or a disabled user
stops working at once. last_used_at is written at most once a minute per token: a write per
request would serialise every API call on SQLite's single writer.
"""

from __future__ import annotations

from typing import cast

from flask import g, request

from ivr.api.errors import ApiError
from ivr.api.tokens import TokenHolder, mark_used, token_holder
from ivr.app import current_services

LAST_USED_EVERY_S = 60
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})  # readable without a token: the API's description


def require_token() -> None:
    """The API blueprint's before_request: sets the acting user, or answers 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send the header Authorization: Bearer <token> (made with `ivr tokens add`)",
        )
    services = current_services()
    with services.sessions.begin() as session:
        holder = token_holder(session, presented.strip())
        if holder is None:
            raise ApiError(
                401,
                "unauthorized",
                "the token is unknown or revoked, or its user is disabled",
                challenge='Bearer realm="ivr", error="invalid_token"',
            )
        now = services.clock()
        stale = holder.last_used_at is None or (
            (now - holder.last_used_at).total_seconds() >= LAST_USED_EVERY_S
        )
        if stale:
            mark_used(session, holder.token_id, now=now, every_s=LAST_USED_EVERY_S)
    g.api_holder = holder


def current_holder() -> TokenHolder:
    """Who the current API request acts as (set by require_token)."""
    return cast(TokenHolder, g.api_holder)
