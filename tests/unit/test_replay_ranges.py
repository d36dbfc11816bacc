"""Range headers and the checksum cache, as pure functions: no app, no database.

(Unit tests; they sit here because tests/integration/test_replay* is where replay tests live.)
"""

from __future__ import annotations

import pytest

from recordings.byte_ranges import ByteRange, RangeNotSatisfiableError, parse_range
from recordings.stored_audio import DigestCache

SIZE = 1000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=100-", ByteRange(100, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file: all of it
        ("bytes=990-5000", ByteRange(990, 999)),  # the end is cut to the file's last byte
        ("bytes=999-999", ByteRange(999, 999)),
        ("bytes=0-", ByteRange(0, 999)),
        ("BYTES=10-19", ByteRange(10, 19)),  # the unit is case-insensitive
        ("bytes= 10-19 ", ByteRange(10, 19)),
    ],
)
def test_a_single_bytes_range_is_read_as_rfc_9110_says(header: str, expected: ByteRange) -> None:
    """First-last, first- and -suffix forms, clipped to the file."""
    assert expected == parse_range(header, SIZE)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=20-10",  # last before first: invalid
        "bytes=a-b",
        "bytes=0-1,5-6",  # several ranges: allowed to answer with the whole file
        "items=0-10",  # another unit
        "bytes 0-10",
        "bytes=" + "9" * 19 + "-",  # longer than any offset: not a number we parse
    ],
)
def test_a_header_that_is_not_one_valid_bytes_range_is_ignored(header: str | None) -> None:
    """Ignored means the whole file with 200, never an error."""
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize(
    ("header", "size"),
    [("bytes=1000-", 1000), ("bytes=5000-6000", 1000), ("bytes=-0", 1000), ("bytes=0-", 0)],
)
def test_a_valid_range_with_no_byte_in_the_file_is_not_satisfiable(header: str, size: int) -> None:
    """Answered 416 with the file's size."""
    with pytest.raises(RangeNotSatisfiableError):
        parse_range(header, size)


def test_content_range_counts_both_ends() -> None:
    """206 answers name the first and last byte and the whole size."""
    assert ("bytes 10-19/1000", 10) == (ByteRange(10, 19).content_range(1000), 10)


def test_a_cached_digest_holds_only_for_the_same_stamp() -> None:
    """Any change of inode, size, mtime or ctime makes the file unknown again."""
    cache = DigestCache()
    stamp = (1, 2, 3, 4, 5)
    cache.put("/r/a.wav", stamp, "abc")
    assert "abc" == cache.get("/r/a.wav", stamp)
    for changed in [(1, 9, 3, 4, 5), (1, 2, 9, 4, 5), (1, 2, 3, 9, 5), (1, 2, 3, 4, 9)]:
        assert cache.get("/r/a.wav", changed) is None
    assert cache.get("/r/b.wav", stamp) is None


def test_the_cache_forgets_the_least_recently_used_file_first() -> None:
    """Bounded: a long-running server does not keep a digest for every file it ever served."""
    cache = DigestCache(capacity=2)
    stamp = (0, 0, 0, 0, 0)
    cache.put("a", stamp, "1")
    cache.put("b", stamp, "2")
    assert "1" == cache.get("a", stamp)  # a is now the most recent
    cache.put("c", stamp, "3")
    assert (cache.get("a", stamp), cache.get("b", stamp), cache.get("c", stamp)) == ("1", None, "3")
