"""`ivr webhooks deliver|list` and `ivr campaigns webhook-secret NAME`.

The lead registers them (ivr.cli._register): ``main.add_command(webhooks)`` and
``campaigns.add_command(webhook_secret_command)``.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import select

from ivr.audit.log import AuditKeyMissing, record
from ivr.campaigns.service import CampaignError, campaign_named
from ivr.cli_context import command_services, fail
from ivr.cli_options import FORMAT
from ivr.models import Campaign, Case, OutboxEvent, OutboxStatus
from ivr.outcome_webhook.delivery import deliver_due
from ivr.outcome_webhook.payload import iso
from ivr.outcome_webhook.signing import derive_secret, new_salt

ENV = "Reads IVR_DATABASE_URL and IVR_SECRET_KEY (the signing secrets are derived from it)."


def _console() -> Console:
    # Made per call, not at import: click's test runner swaps sys.stdout for each invocation.
    return Console(highlight=False, soft_wrap=True)


@click.command(
    "webhook-secret",
    help=f"Make a new signing secret for NAME's outcome webhook and "
    f"print it, once: give it to the receiver. Running it again replaces the secret "
    f"(the old one stops verifying at once). {ENV}",
)
@click.argument("name")
def webhook_secret_command(name: str) -> None:
    with command_services() as services:
        key = services.settings.secret_key
        if not key:
            fail("IVR_SECRET_KEY must be set: the signing secret is derived from it", 2)
        try:
            with services.sessions.begin() as session:
                campaign = campaign_named(session, name)
                campaign.webhook_salt = new_salt()
                secret = derive_secret(key, campaign.id, campaign.webhook_salt)
                url = campaign.options.get("outcome_webhook_url", "none")
                record(
                    session,
                    services,
                    actor="cli",
                    action="webhook.secret",
                    object_kind="campaign",
                    object_id=campaign.id,
                    detail={"campaign": campaign.name},
                )
        except (CampaignError, AuditKeyMissing) as exc:
            fail(str(exc))
    click.echo(secret)
    # The secret alone on stdout (for scripts); what to do with it on stderr.
    click.echo(
        f"signing secret for campaign {name!r}; shown only now. Outcomes go to {url}",
        err=True,
    )


@click.group()
def webhooks() -> None:
    """Outcome webhooks: each case's final outcome POSTed, signed, to the campaign's URL."""


@webhooks.command(
    "deliver",
    help=f"Send the due outcome events once (`ivr dial` does it every "
    f"10 s at the default tick) and say what happened. {ENV}",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="events to send at most",
)
def webhooks_deliver(limit: int) -> None:
    with command_services() as services:
        report = deliver_due(services, limit=limit)
    click.echo(str(report))
    for message in report.messages:
        click.echo(f"  {message}")


@webhooks.command("list", help=f"List outcome events, newest first. {ENV}")
@click.option("--campaign", "campaign_name", help="only this campaign's events")
@click.option(
    "--status",
    type=click.Choice([s.value for s in OutboxStatus]),
    help="only events in this state (failed: the ones that need a person)",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@FORMAT
def webhooks_list(campaign_name: str | None, status: str | None, limit: int, fmt: str) -> None:
    with command_services() as services, services.sessions() as session:
        query = (
            select(OutboxEvent, Campaign.name, Case.external_ref)
            .join(Campaign, Campaign.id == OutboxEvent.campaign_id)
            .join(Case, Case.id == OutboxEvent.case_id)
            .order_by(OutboxEvent.id.desc())
            .limit(limit)
        )
        if campaign_name is not None:
            try:
                query = query.where(
                    OutboxEvent.campaign_id == campaign_named(session, campaign_name).id
                )
            except CampaignError as exc:
                fail(str(exc))
        if status is not None:
            query = query.where(OutboxEvent.status == OutboxStatus(status))
        rows = [_row(event, name, ref) for event, name, ref in session.execute(query)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(
        "id",
        "campaign",
        Column("case", no_wrap=True),
        Column("event", no_wrap=True),
        Column("status", no_wrap=True),
        "tries",
        "next try (UTC)",
        "last answer",
    )
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["campaign"],
            row["external_ref"],
            row["kind"],
            row["status"],
            str(row["tries"]),
            (row["next_try_at"] or "")[:19].replace("T", " "),
            row["last_error"] or (str(row["last_status_code"] or "")),
        )
    _console().print(table)


def _row(event: OutboxEvent, campaign: str, external_ref: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "event_id": event.event_id,
        "kind": event.kind,
        "campaign": campaign,
        "case_id": event.case_id,
        "external_ref": external_ref,
        "status": str(event.status),
        "tries": event.tries,
        "next_try_at": iso(event.next_try_at),
        "last_status_code": event.last_status_code,
        "last_error": event.last_error,
        "created_at": iso(event.created_at),
        "delivered_at": iso(event.delivered_at),
        "failed_at": iso(event.failed_at),
    }
