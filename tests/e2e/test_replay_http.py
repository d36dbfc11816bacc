"""Replaying a recording over real HTTP on 127.0.0.1, as a browser's <audio> element seeks.

A 60 s, 8 kHz, 16-bit mono WAV is stored; a `requests` session signs in, reads the WAV header
through a first range request, computes where 30 s into the audio lies, and asks for that.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from ivr.app import create_app
from ivr.config import Settings
from ivr.models import AuditEntry, StaffRole
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.test_replay import PASSWORD, add_user, store_recording, wav_bytes

pytestmark = pytest.mark.e2e

SECONDS = 60
USER = "compliance-1"


@dataclass(frozen=True)
class Server:
    base_url: str
    recording_id: int
    data: bytes


@pytest.fixture
def server(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock
) -> Iterator[Server]:
    """create_app on a werkzeug server at an ephemeral port, with one stored recording."""
    add_user(sessions, clock.now, USER, StaffRole.COMPLIANCE)
    data = wav_bytes(SECONDS)
    recording_id = store_recording(sessions, settings, clock.now, data)
    apps: list[Flask] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return apps[0](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    public = settings.with_(public_base_url=f"http://127.0.0.1:{http.server_port}")
    apps.append(create_app(public, services=Services(public, sessions, clock=clock)))
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Server(public.public_base_url, recording_id, data)
    finally:
        http.shutdown()
        thread.join(5)
        http.server_close()


@pytest.fixture
def browser(server: Server) -> Iterator[requests.Session]:
    """A signed-in HTTP client keeping the session cookie, as a browser does."""
    with requests.Session() as client:
        answer = client.post(
            f"{server.base_url}/auth/login",
            json={"username": USER, "password": PASSWORD},
            timeout=10,
        )
        assert 200 == answer.status_code, answer.text
        yield client


@dataclass(frozen=True)
class WavLayout:
    byte_rate: int
    block_align: int
    data_start: int


def wav_layout(header: bytes) -> WavLayout:
    """Walk the RIFF chunks of a WAV's first bytes to its format and where its samples start."""
    assert header[:4] == b"RIFF" and header[8:12] == b"WAVE"
    offset, byte_rate, block_align = 12, 0, 0
    while offset + 8 <= len(header):
        chunk, size = (
            header[offset : offset + 4],
            struct.unpack("<I", header[offset + 4 : offset + 8])[0],
        )
        if chunk == b"fmt ":
            byte_rate, block_align = struct.unpack("<IH", header[offset + 16 : offset + 22])
        elif chunk == b"data":
            return WavLayout(byte_rate, block_align, offset + 8)
        offset += 8 + size + (size & 1)
    raise AssertionError("no data chunk in the header read")


def audio_url(server: Server) -> str:
    return f"{server.base_url}/recordings/{server.recording_id}/audio?reason=complaint%20C-104"


def test_seeking_to_30_seconds_returns_the_samples_of_second_30(
    server: Server, browser: requests.Session, sessions: sessionmaker[Session]
) -> None:
    """Header first, then one second of audio from 30 s: the exact bytes, audited twice."""
    head = browser.get(audio_url(server), headers={"Range": "bytes=0-1023"}, timeout=10)
    assert 206 == head.status_code
    assert f"bytes 0-1023/{len(server.data)}" == head.headers["Content-Range"]
    layout = wav_layout(head.content)
    assert (16000, 2) == (layout.byte_rate, layout.block_align)

    at = layout.data_start + 30 * layout.byte_rate
    at -= (at - layout.data_start) % layout.block_align
    end = at + layout.byte_rate - 1
    second = browser.get(audio_url(server), headers={"Range": f"bytes={at}-{end}"}, timeout=10)
    assert 206 == second.status_code
    assert f"bytes {at}-{end}/{len(server.data)}" == second.headers["Content-Range"]
    assert server.data[at : end + 1] == second.content
    # The test file's samples count up: sample n holds n mod 65536, so this is sample 240,000.
    first_sample = int.from_bytes(second.content[:2], "little")
    assert (30 * 8000) % 65536 == first_sample

    with sessions() as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "recording.replay")
            .order_by(AuditEntry.id)
        ).all()
    assert [("0-1023", USER), (f"{at}-{end}", USER)] == [
        (e.detail["range"], e.actor) for e in entries
    ]


def test_an_open_ended_seek_abandoned_after_a_few_kilobytes_leaves_the_server_serving(
    server: Server, browser: requests.Session, sessions: sessionmaker[Session]
) -> None:
    """Browsers ask `bytes=N-` and drop the connection when the user seeks again."""
    at = len(server.data) // 2
    with browser.get(
        audio_url(server), headers={"Range": f"bytes={at}-"}, stream=True, timeout=10
    ) as partial:
        assert 206 == partial.status_code
        assert (
            f"bytes {at}-{len(server.data) - 1}/{len(server.data)}"
            == partial.headers["Content-Range"]
        )
        assert server.data[at : at + 4096] == partial.raw.read(4096)
    again = browser.get(audio_url(server), headers={"Range": "bytes=-100"}, timeout=10)
    assert (206, server.data[-100:]) == (again.status_code, again.content)
    with sessions() as session:
        ranges = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "recording.replay")
        ).all()
    # The abandoned request was audited before its first byte left.
    assert 2 == len(ranges)


def test_over_http_nobody_signed_in_gets_401_and_the_cookie_is_httponly(
    server: Server, browser: requests.Session
) -> None:
    """No cookie, no audio; the session cookie cannot be read by page scripts."""
    assert 401 == requests.get(audio_url(server), timeout=10).status_code
    [cookie] = list(browser.cookies)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # plain http on 127.0.0.1; behind https it is Secure
