"""Log lines: text or JSON, structured fields kept, phone numbers masked whatever logged them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from ivr.logs import configure, mask_numbers

NUMBER = "+12025550123"  # reserved for fiction (555-01xx)
MASKED = "+12*****0123"


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_numbers_are_masked_but_dates_durations_and_sids_are_not() -> None:
    text = f"call to {NUMBER} at 2030-01-07 09:00:00, 125 s, CA0123456789abcdef, +8613800138000"

    masked = mask_numbers(text)

    assert NUMBER not in masked and "+8613800138000" not in masked
    assert MASKED in masked and "+86*******8000" in masked
    assert "2030-01-07 09:00:00, 125 s, CA0123456789abcdef" in masked


def test_json_lines_carry_the_fields_and_mask_the_number(
    root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(logging.INFO, "json")

    logging.getLogger("scheduler.dispatcher").warning(
        "provider refused %s", NUMBER, extra={"action": "call.refused", "case_id": 7}
    )

    (line,) = lines(capsys)
    entry = json.loads(line)
    assert "WARNING" == entry["level"] and "scheduler.dispatcher" == entry["logger"]
    assert f"provider refused {MASKED}" == entry["message"]
    assert ("call.refused", 7) == (entry["action"], entry["case_id"])
    assert entry["time"].endswith("+00:00")
    assert NUMBER not in line


def test_text_lines_mask_fields_and_tracebacks(
    root_restored: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(logging.INFO, "text")
    log = logging.getLogger("sqlalchemy.engine")

    try:
        raise RuntimeError(f"duplicate key (phone)=({NUMBER})")
    except RuntimeError:
        log.exception("insert failed", extra={"to": NUMBER})

    output = "\n".join(lines(capsys))
    assert NUMBER not in output
    assert f"to={MASKED}" in output
    assert f"(phone)=({MASKED})" in output  # inside the traceback


def test_the_format_is_read_from_the_environment(
    root_restored: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_LOG_FORMAT", "json")
    configure(logging.INFO)

    logging.getLogger("ivr").info("started")

    assert "started" == json.loads(lines(capsys)[0])["message"]
