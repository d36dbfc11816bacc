"""`ivr tokens add | list | revoke`: the API's bearer tokens, one per integration.

Registered on the main group by ivr/cli.py. Every command reads IVR_DATABASE_URL; add and
revoke also IVR_SECRET_KEY, because each change is written to the keyed audit log.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ivr.api.tokens import TokenError, list_tokens, make_token, revoke_token
from ivr.cli_context import command_services, fail
from ivr.cli_options import FORMAT
from ivr.staff.cli import cli_actor

__all__ = ["tokens"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@click.group()
def tokens() -> None:
    """Bearer tokens for the JSON API at /api/v1: each acts as one staff user."""


@tokens.command("add")
@click.argument("name")
@click.option("--user", "username", required=True, help="the staff user the token acts as")
def tokens_add(name: str, username: str) -> None:
    """Make token NAME (the integration, e.g. his-sync) acting as USER, with its role and scope.

    The token is printed once, here, and stored only as a hash. Reads IVR_DATABASE_URL and
    IVR_SECRET_KEY.
    """
    with command_services() as services:
        if not services.settings.secret_key:
            fail("IVR_SECRET_KEY is required: token changes are written to the keyed audit log", 2)
        try:
            with services.sessions.begin() as session:
                made = make_token(
                    session, services, name=name, username=username, actor=cli_actor()
                )
        except TokenError as exc:
            fail(str(exc))
    # The token alone on stdout, so that a script can capture it; the advice goes to stderr.
    click.echo(made.secret)
    err.print(
        f"token {made.name} acts as {made.username}. It is not shown again: store it now in "
        "the integration's secret store. Lost? Revoke it and make another."
    )


@tokens.command("list")
@FORMAT
def tokens_list(fmt: str) -> None:
    """List tokens: name, user, prefix, created, last used (to the minute), revoked.

    Reads IVR_DATABASE_URL.
    """
    from ivr.cli import emit_json, iso

    with command_services() as services, services.sessions() as session:
        rows = list_tokens(session)
    if fmt == "json":
        emit_json(
            [
                {
                    "name": row.name,
                    "user": row.username,
                    "prefix": row.prefix,
                    "created_at": iso(row.created_at),
                    "last_used_at": iso(row.last_used_at),
                    "revoked_at": iso(row.revoked_at),
                }
                for row in rows
            ]
        )
        return
    table = Table(
        "name",
        "user",
        "prefix",
        "created (UTC)",
        "last used",
        "revoked",
        title=f"tokens ({len(rows)})",
    )
    for row in rows:
        table.add_row(
            row.name,
            row.username,
            row.prefix + "…",
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "",
        )
    out.print(table)


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Stop token NAME working, at once. Reads IVR_DATABASE_URL and IVR_SECRET_KEY."""
    with command_services() as services:
        if not services.settings.secret_key:
            fail("IVR_SECRET_KEY is required: token changes are written to the keyed audit log", 2)
        try:
            with services.sessions.begin() as session:
                changed = revoke_token(session, services, name=name, actor=cli_actor())
        except TokenError as exc:
            fail(str(exc))
    click.echo(f"revoked {name.strip().lower()}" if changed else f"{name} was already revoked")
