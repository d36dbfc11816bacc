"""The baselines of the webhook benchmarks: fixed TwiML (webhook), one INSERT (callbacks)."""

from __future__ import annotations

import os
from functools import cache

from flask import Flask, Response, request
from sqlalchemy import Engine, text

from ivr.db import make_engine

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://ivr.bench.example'
    '/twilio/gather?attempt=1&amp;step=3" input="dtmf" numDigits="1" timeout="6" '
    'actionOnEmptyResult="true"><Say language="en-US">Since you left hospital, how is your '
    "recovery? Better, press 1. About the same, press 2. Worse, press 3.</Say></Gather>"
    "</Response>"
)

app = Flask(__name__)


@app.post("/bare")
def bare() -> Response:
    return Response(TWIML, mimetype="text/xml")


@cache
def _engine() -> Engine:
    # The same engine settings as ours (WAL, synchronous=NORMAL, BEGIN IMMEDIATE).
    return make_engine(os.environ["BENCH_BARE_DB"])


@app.post("/insert")
def insert() -> tuple[str, int]:
    with _engine().begin() as conn:
        conn.execute(
            text("INSERT INTO callback (call_sid, body) VALUES (:sid, :body)"),
            {"sid": request.form.get("CallSid", ""), "body": request.get_data(as_text=True)},
        )
    return "", 204


@app.get("/healthz")
def healthz() -> str:
    return "ok"
