"""HTTP byte ranges (RFC 9110, section 14): one range of a file, as a seeking player asks. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ByteRange:
    """Bytes start..end of a file, both included (as HTTP counts them)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """How many bytes the range holds."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The Content-Range header of a 206 answer."""
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiableError(ValueError):
    """The Range header is valid but no byte of it lies inside the file."""


# Up to 18 digits: any real offset, and never a number too long for int() to take.
_RANGE_SPEC = re.compile(r"(\d{0,18})-(\d{0,18})")


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a Range header asks of a file of `size` bytes; None: the whole file.

    As RFC 9110 (14.2) allows, a header that is not one valid `bytes` range (another unit, bad
    syntax, several ranges) is ignored and the whole file is sent. A valid range with no byte in
    the file raises RangeNotSatisfiableError (answered 416).
    """
    if header is None:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    spec = spec.strip()
    if "," in spec:  # several ranges: no audio player asks for them; the whole file is valid
        return None
    match = _RANGE_SPEC.fullmatch(spec)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # bytes=-n: the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(spec)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid, so ignored
    if start >= size:
        raise RangeNotSatisfiableError(spec)
    return ByteRange(start, size - 1 if not last else min(int(last), size - 1))
