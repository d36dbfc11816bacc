"""Log lines for operators: key=value text or one JSON object a line, phone numbers masked.

Every record passes the masking filter whatever its format: the product's own code already logs
masked numbers and ids, but a library's message (an SQL error quoting a parameter, a provider's
error text) can carry a number in full, and logs are kept and shipped far more widely than the
database is.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from types import TracebackType

from ivr.privacy import mask_phone

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# E.164, the only shape the product stores and sends: "+" and 8-15 digits, not inside a word.
# Wider shapes (any run of digits) would mask dates and durations in ordinary messages.
_E164 = re.compile(r"(?<![\w+])\+\d{8,15}(?!\d)")


def mask_numbers(text: str) -> str:
    """Every E.164 number in text, masked as mask_phone shows them (+86*******8000)."""
    return _E164.sub(lambda found: mask_phone(found.group(0)), text)


class MaskPhones(logging.Filter):
    """Masks numbers in the message (arguments merged in) and in string `extra=` fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_numbers(value))
        return True


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


class _MaskedTracebacks(logging.Formatter):
    # A traceback quotes the values of the failing call: an SQL statement's parameters included.
    def formatException(self, ei: ExcInfo) -> str:
        return mask_numbers(super().formatException(ei))


class KeyValueFormatter(_MaskedTracebacks):
    """`2026-11-23 10:00:00 WARNING scheduler.dispatcher: call refused action=... code=21211`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        return f"{line} {fields}" if fields else line


class JsonFormatter(_MaskedTracebacks):
    """One object a line: time (UTC, ISO 8601), level, logger, message, pid, then the fields.

    The structured fields (action, case_id, attempt_id, call_sid, ...) stay their own keys, so a
    log collector can search for a call or a case without parsing the message.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: int, log_format: str | None = None) -> None:
    """Send the product's logs to stderr at `level`, as text or JSON (IVR_LOG_FORMAT)."""
    chosen = log_format or os.environ.get("IVR_LOG_FORMAT", "").strip() or "text"
    handler = logging.StreamHandler(sys.stderr)
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskPhones())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
