"""What the command groups living beside their code share with ivr.cli: services and failing.

ivr.cli imports those groups while it registers them, so they cannot import ivr.cli at the top;
these helpers import it when a command runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from ivr.db import engine_of
from ivr.services import Services


@contextmanager
def command_services() -> Iterator[Services]:
    """The configured services; the engine's connections are closed when the command ends."""
    from ivr.cli import services_for, settings

    svc = services_for(settings())
    try:
        yield svc
    finally:
        engine_of(svc.sessions).dispose()


def fail(message: str, status: int = 1) -> NoReturn:
    """Print the message as ivr.cli does and exit with `status`."""
    from ivr.cli import fail as cli_fail

    cli_fail(message, status)
