"""Dispatcher test fixtures: Twilio's REST API faked with `responses`, a clock in a window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner, Result

from ivr.cli import main
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    SECRET_KEY,
    FakeClock,
)

API = "http://127.0.0.1:9"  # never reached: `responses` answers every request
CALLS_URL = f"{API}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
# 2030-01-07 is a Monday; 01:00 UTC is 09:00 in Asia/Shanghai, inside the 08:00-11:00 window.
IN_WINDOW = datetime(2030, 1, 7, 1, 0, tzinfo=UTC)
DISCHARGED = date(2029, 12, 31)  # offset 7d: first call from 2030-01-07 08:00 local


class NoWait:
    def __init__(self) -> None:
        self.waits = 0

    def wait(self) -> None:
        self.waits += 1


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def dialling(services: Services, clock: FakeClock) -> Services:
    clock.now = IN_WINDOW
    services.telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=API, sleep=lambda _: None
    )
    return services


CLI_API = "http://127.0.0.1:9"  # never reached: the CLI tests' provider calls are answered first


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh SQLite database and recordings folder, and every setting a command may read."""
    for name in list(__import__("os").environ):
        if name.startswith(("IVR_", "TWILIO_")):
            monkeypatch.delenv(name)
    return {
        "IVR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "IVR_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "IVR_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "IVR_SECRET_KEY": SECRET_KEY,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": CLI_API,
    }


@pytest.fixture
def ivr(env: dict[str, str]) -> Iterator[Any]:
    """Run `ivr ...` in this process with `env` (plus any extra settings given)."""
    runner = CliRunner()

    def run(*args: str, **extra_env: str) -> Result:
        return runner.invoke(main, list(args), env={**env, **extra_env}, catch_exceptions=False)

    yield run
