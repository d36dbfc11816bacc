"""Is this process able to work: the database answers, the recordings store takes a write.

A load balancer or an orchestrator asks /healthz every few seconds; an answer of 503 takes the
worker out of rotation until both checks pass again. Each check has its own time limit, so a
hung store cannot hang the health answer too (which would look like a dead worker, not a
failing dependency).
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from recordings.store import PROBE_PREFIX, open_store

if TYPE_CHECKING:
    from ivr.services import Services

log = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 5.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


@dataclass(frozen=True)
class Health:
    """Each check's "ok" or what went wrong (no secrets, no paths beyond the store's own)."""

    checks: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(result == "ok" for result in self.checks.values())


def check(services: Services) -> Health:
    """Run every check in parallel, each within CHECK_TIMEOUT_S."""
    futures = {
        "database": _pool.submit(_database, services),
        "recordings_store": _pool.submit(_recordings_store, services),
    }
    results: dict[str, str] = {}
    for name, future in futures.items():
        try:
            future.result(timeout=CHECK_TIMEOUT_S)
            results[name] = "ok"
        except FutureTimeout:
            results[name] = f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:  # any failure of a dependency is a failed check, said plainly
            first_line = (str(exc).splitlines() or [""])[0][:200]
            results[name] = f"{type(exc).__name__}: {first_line}"
            log.warning("health check %s failed: %s", name, results[name])
    return Health(results)


def _database(services: Services) -> None:
    with services.sessions() as session:
        session.execute(text("SELECT 1")).scalar_one()


def _recordings_store(services: Services) -> None:
    """Write, read back and delete a small file: the path every stored recording takes."""
    store = open_store(services.settings)
    path = f"{PROBE_PREFIX}{socket.gethostname()}-{os.getpid()}"
    payload = b"ivr health probe"
    store.put(path, payload)
    try:
        if store.read(path) != payload:
            raise OSError("the store gave back other bytes than were written")
    finally:
        store.delete(path)
