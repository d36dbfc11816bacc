"""/healthz for load balancers and /metrics for Prometheus."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ivr.app import current_services
from ivr.ops.health import check
from ivr.ops.metrics import registry_for

bp = Blueprint("ops", __name__)

LOOPBACK = frozenset({"127.0.0.1", "::1"})


@bp.get("/healthz")
def healthz() -> Response:
    """200 when the database and the recordings store work, 503 naming what does not."""
    health = check(current_services())
    response = jsonify({"status": "ok" if health.ok else "failing", "checks": health.checks})
    response.status_code = 200 if health.ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format; volumes of work are business data, so not for everyone."""
    if not _may_scrape():
        return Response("metrics: IVR_METRICS_TOKEN as a bearer token required\n", 401)
    registry = registry_for(current_services())
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _may_scrape() -> bool:
    token = current_services().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    # No token: only a scraper on this host talking to us directly. A request relayed by a
    # reverse proxy on the same host also comes from 127.0.0.1, but carries X-Forwarded-For.
    return request.remote_addr in LOOPBACK and "X-Forwarded-For" not in request.headers
