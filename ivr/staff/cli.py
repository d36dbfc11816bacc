"""`ivr users add | list | disable`: staff accounts from the command line.

Registered on the main group by ivr/cli.py. Every command reads IVR_DATABASE_URL; add and
disable also need IVR_SECRET_KEY, because each change is written to the keyed audit log.
"""

from __future__ import annotations

import getpass
import sys

import click
from rich.console import Console
from rich.table import Table

from ivr.cli_context import fail as _fail
from ivr.cli_options import FORMAT
from ivr.models import StaffRole
from ivr.services import Services
from ivr.staff.accounts import AccountError, add_user, disable_user, list_users
from ivr.staff.passwords import MIN_LENGTH

__all__ = ["users"]

out = Console(highlight=False)


def _services(*, audited: bool) -> Services:
    # Imported here: ivr.cli imports this module while it registers its groups.
    from ivr.cli import services_for, settings

    services = services_for(settings())
    if audited and not services.settings.secret_key:
        _fail("IVR_SECRET_KEY is required: account changes are written to the keyed audit log", 2)
    return services


def _actor() -> str:
    """Who ran the command, for the audit log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


@click.group()
def users() -> None:
    """Staff accounts: who may sign in and replay recordings (see `ivr users add --help`)."""


@users.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice([role.value for role in StaffRole]),
    required=True,
    help="agent, supervisor, compliance (replays recordings) or admin",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from the first line of standard input (for scripts)",
)
def users_add(name: str, role: str, password_stdin: bool) -> None:
    """Add a user NAME with a role; asks for the password without echoing it.

    Passwords have at least 12 characters. Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            f"password for {name} (at least {MIN_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    services = _services(audited=True)
    try:
        with services.sessions.begin() as session:
            user = add_user(
                session,
                services,
                username=name,
                password=password,
                role=StaffRole(role),
                actor=_actor(),
            )
            username = user.username
    except AccountError as exc:
        _fail(str(exc))
    out.print(f"added {username} ({role})")


@users.command("list")
@FORMAT
def users_list(fmt: str) -> None:
    """List users: role, whether they may sign in, any lock. Reads IVR_DATABASE_URL."""
    from ivr.cli import emit_json, iso

    services = _services(audited=False)
    with services.sessions() as session:
        rows = list_users(session)
    now = services.clock()
    if fmt == "json":
        emit_json(
            [
                {
                    "username": row.username,
                    "role": row.role.value,
                    "active": row.active,
                    "locked_until": iso(row.locked_until)
                    if row.locked_until and row.locked_until > now
                    else None,
                    "created_at": iso(row.created_at),
                }
                for row in rows
            ]
        )
        return
    table = Table("user", "role", "status", "created (UTC)", title=f"users ({len(rows)})")
    for row in rows:
        status = "active" if row.active else "disabled"
        if row.active and row.locked_until is not None and row.locked_until > now:
            status = f"locked until {row.locked_until:%H:%M} UTC"
        table.add_row(row.username, row.role.value, status, f"{row.created_at:%Y-%m-%d %H:%M}")
    out.print(table)


@users.command("disable")
@click.argument("name")
def users_disable(name: str) -> None:
    """Stop NAME from signing in; their open sessions end at their next request.

    Users are never deleted: the audit log names them. Reads IVR_DATABASE_URL, IVR_SECRET_KEY.
    """
    services = _services(audited=True)
    try:
        with services.sessions.begin() as session:
            changed = disable_user(session, services, username=name, actor=_actor())
    except AccountError as exc:
        _fail(str(exc))
    out.print(f"disabled {name.strip().lower()}" if changed else f"{name} was already disabled")
