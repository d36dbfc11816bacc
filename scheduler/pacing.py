"""Pacing shared by every dispatcher process through one database row.

The provider counts calls per second per account, not per process: four `ivr dial` processes each
pacing itself to IVR_CPS would together dial four times too fast, and Twilio queues the excess (for
up to a day) instead of refusing it, so calls would start after their window closed. So the next
free moment to dial lives in the `dial_pace` table, and a process takes a moment with one
conditional UPDATE: whoever moves `next_at` forward owns the moment, the others read how long to
wait and try again. The same table holds the provider's pause (after it could not be reached) so
that every process stops and resumes together.

Times are seconds since the epoch from the database's clock on PostgreSQL (one clock for
dispatchers on several machines) and from this machine's clock on SQLite (one machine by design).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from ivr.db import is_postgres

log = logging.getLogger(__name__)

# Calls are spaced 3 % wider than 1/cps: over any cps + 1 moments that is 30 ms to spare in a
# second. _SLACK (below) spends 25 ms of it on keeping the grid when a process wakes late, which is
# what lets four processes reach 96 % of the rate (measured: `python -m bench cps`); the other 5 ms
# absorb the jitter between taking a moment and the request reaching the provider. Measured at
# the provider, no clock second ever held more than IVR_CPS calls; a sliding window placed between
# two clock seconds occasionally holds one more.
PACE_MARGIN = 0.97

CALLS_KEY = "calls"
PROVIDER_PAUSE_KEY = "provider.paused"
_SLACK = 0.025  # seconds a moment may be taken late and still keep the grid (see DbPacer._take)
_LONGEST_NAP = 0.5  # re-read the row at least this often: another process may have paused us

_PG_NOW = "extract(epoch from clock_timestamp())"


class MonotonicPacer:
    """Real-time pacing: at most `cps` calls per second, no bursts after idle time."""

    def __init__(
        self,
        cps: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if cps <= 0:
            raise ValueError("cps must be positive")
        self._interval = 1.0 / cps
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        """Return when the next call may be placed."""
        now = self._monotonic()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self._interval


class DbPacer:
    """At most `cps` calls a second across every process sharing the database."""

    def __init__(
        self,
        engine: Engine,
        cps: float,
        *,
        key: str = CALLS_KEY,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if cps <= 0:
            raise ValueError("cps must be positive")
        self._engine = engine
        self._interval = 1.0 / (cps * PACE_MARGIN)
        self._key = key
        self._sleep = sleep
        self._wall = wall
        self._postgres = is_postgres(engine)
        self._greatest = "GREATEST" if self._postgres else "max"  # SQLite's two-argument max()
        self.waited_s = 0.0  #: total time spent waiting for a moment (for the tick's log line)

    def wait(self) -> None:
        """Return once this process owns the next moment to place a call."""
        while True:
            wait_s = self._take()
            if wait_s is None:
                return
            nap = min(wait_s, _LONGEST_NAP)
            self.waited_s += nap
            self._sleep(nap)

    def _take(self) -> float | None:
        """Take the moment if it has come (None), else how many seconds until it comes."""
        with self._engine.begin() as conn:
            if self._postgres:
                # A moment taken is worth nothing after a crash of the database (the grid restarts
                # from now), so its commit need not wait for a WAL flush; nor does every other
                # dispatcher queued on this row's lock behind it.
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            now_sql, params = self._now()
            # Moments sit on a grid (the last one plus the interval), so the time a process takes
            # to wake and reach the database is not added to every gap; a grid left behind by more
            # than _SLACK (idle, or everyone late) restarts from now rather than bursting to catch
            # up. With _SLACK under the 3 % margin of a second, no eleven moments of a 10/s pace
            # (nor N+1 of any N/s) fall within one second.
            taken = conn.execute(
                text(
                    f"UPDATE dial_pace SET next_at = {self._greatest}(next_at, {now_sql} - :slack)"
                    f" + :interval WHERE key = :key AND next_at <= {now_sql}"
                ),
                {"key": self._key, "interval": self._interval, "slack": _SLACK, **params},
            )
            if taken.rowcount == 1:
                return None
            left = conn.execute(
                text(f"SELECT next_at - {now_sql} FROM dial_pace WHERE key = :key"),
                {"key": self._key, **params},
            ).scalar_one_or_none()
            if left is None:
                ensure_pace_row(conn, self._key)
                return 0.0
            return max(float(left), 0.0)

    def _now(self) -> tuple[str, dict[str, float]]:
        if self._postgres:
            return _PG_NOW, {}
        return ":now", {"now": self._wall()}


def pause_provider(
    bind: Engine | Connection, seconds: float, *, wall: Callable[[], float] = time.time
) -> None:
    """Stop every dispatcher from dialling for `seconds` (the provider could not be reached)."""
    with _transaction(bind) as conn:
        ensure_pace_row(conn, PROVIDER_PAUSE_KEY)
        now_sql, params = _now_for(conn, wall)
        conn.execute(
            text(
                f"UPDATE dial_pace SET next_at = {now_sql} + :seconds "
                f"WHERE key = :key AND next_at < {now_sql} + :seconds"
            ),
            {"key": PROVIDER_PAUSE_KEY, "seconds": seconds, **params},
        )


def provider_paused_for(
    bind: Engine | Connection, *, wall: Callable[[], float] = time.time
) -> float:
    """Seconds left of a provider pause; 0.0 when dialling may go on."""
    with _transaction(bind) as conn:
        now_sql, params = _now_for(conn, wall)
        left = conn.execute(
            text(f"SELECT next_at - {now_sql} FROM dial_pace WHERE key = :key"),
            {"key": PROVIDER_PAUSE_KEY, **params},
        ).scalar_one_or_none()
    return max(float(left or 0.0), 0.0)


@contextmanager
def _transaction(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction on the engine (a pooled connection) or on the connection given."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        with bind.begin():
            yield bind


def _now_for(conn: Connection, wall: Callable[[], float]) -> tuple[str, dict[str, float]]:
    if is_postgres(conn.engine):
        return _PG_NOW, {}
    return ":now", {"now": wall()}


def ensure_pace_row(conn: Connection, key: str) -> None:
    """Create the pace row `key` (next_at 0: free at once) unless it exists."""
    # The migration seeds the rows; a key added later (or a table emptied by hand) starts here.
    # ON CONFLICT DO NOTHING lets two processes race to create it.
    conn.execute(
        text("INSERT INTO dial_pace (key, next_at) VALUES (:key, 0) ON CONFLICT (key) DO NOTHING"),
        {"key": key},
    )
