"""`ivr users add | list | disable | phone | scope`: staff accounts from the command line.

Registered on the main group by ivr/cli.py. Every command reads IVR_DATABASE_URL; those that
change something also need IVR_SECRET_KEY, because each change is written to the keyed audit log.
"""

from __future__ import annotations

import getpass
import sys

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ivr.campaigns.service import CampaignError
from ivr.cli_context import fail as _fail
from ivr.cli_options import FORMAT
from ivr.models import StaffRole, StaffUser
from ivr.privacy import mask_phone
from ivr.services import Services
from ivr.staff.accounts import AccountError, add_user, disable_user, list_users
from ivr.staff.passwords import MIN_LENGTH
from ivr.staff.profile import add_scope, remove_scope, scopes_by_user, set_phone

__all__ = ["users"]

out = Console(highlight=False)


def _services(*, audited: bool) -> Services:
    # Imported here: ivr.cli imports this module while it registers its groups.
    from ivr.cli import services_for, settings

    services = services_for(settings())
    if audited and not services.settings.secret_key:
        _fail("IVR_SECRET_KEY is required: account changes are written to the keyed audit log", 2)
    return services


def cli_actor() -> str:
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
                actor=cli_actor(),
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
        ids: dict[str, int] = {}
        phones: dict[str, str | None] = {}
        for name, user_id, phone in session.execute(
            select(StaffUser.username, StaffUser.id, StaffUser.phone)
        ):
            ids[name], phones[name] = user_id, phone
        scopes = scopes_by_user(session)
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
                    "phone": mask_phone(phones.get(row.username)) or None,
                    "scopes": [
                        {"campaign": scope.campaign, "department": scope.department}
                        for scope in scopes.get(ids[row.username], [])
                    ],
                }
                for row in rows
            ]
        )
        return
    table = Table(
        "user", "role", "status", "scope", "phone", "created (UTC)", title=f"users ({len(rows)})"
    )
    for row in rows:
        status = "active" if row.active else "disabled"
        if row.active and row.locked_until is not None and row.locked_until > now:
            status = f"locked until {row.locked_until:%H:%M} UTC"
        scope = ", ".join(s.label() for s in scopes.get(ids[row.username], [])) or "all"
        table.add_row(
            row.username,
            row.role.value,
            status,
            scope if row.role is StaffRole.AGENT else "all",
            mask_phone(phones.get(row.username)),
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
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
            changed = disable_user(session, services, username=name, actor=cli_actor())
    except AccountError as exc:
        _fail(str(exc))
    out.print(f"disabled {name.strip().lower()}" if changed else f"{name} was already disabled")


@users.command("phone")
@click.argument("name")
@click.argument("phone", required=False)
@click.option("--clear", is_flag=True, help="remove the phone instead")
def users_phone(name: str, phone: str | None, clear: bool) -> None:
    """Set the phone an agent's callback rings first: PHONE in international form (+E.164).

    Shown masked. Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    if clear == (phone is not None):
        _fail("give a PHONE (e.g. +12025550123) or --clear, not both")
    services = _services(audited=True)
    try:
        with services.sessions.begin() as session:
            stored = set_phone(session, services, username=name, phone=phone, actor=cli_actor())
    except AccountError as exc:
        _fail(str(exc))
    user = name.strip().lower()
    out.print(
        f"phone of {user} set to {mask_phone(stored)}" if stored else f"phone of {user} cleared"
    )


@users.command("scope")
@click.argument("name")
@click.option("--campaign", help="the campaign's name (`ivr campaigns list`)")
@click.option("--department", help="a department, as the cases' department column names it")
@click.option("--remove", is_flag=True, help="remove this scope instead of adding it")
def users_scope(name: str, campaign: str | None, department: str | None, remove: bool) -> None:
    """Limit agent NAME to a campaign, a department, or a department of a campaign.

    Several scopes add up; an agent with none works every campaign. Supervisors, compliance
    officers and administrators are never limited. Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    services = _services(audited=True)
    change = remove_scope if remove else add_scope
    try:
        with services.sessions.begin() as session:
            scope = change(
                session,
                services,
                username=name,
                campaign=campaign,
                department=department,
                actor=cli_actor(),
            )
    except (AccountError, CampaignError) as exc:
        _fail(str(exc))
    verb = "removed from" if remove else "added to"
    out.print(f"scope {scope.label()} {verb} {name.strip().lower()}")
