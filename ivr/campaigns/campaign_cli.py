"""`ivr campaigns show` and `ivr campaigns update`: one campaign's options and escalation terms.

ivr.cli registers both on its `campaigns` group (`campaigns.add_command(...)`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ivr.audit.log import AuditKeyMissing
from ivr.campaigns.options import OptionError, parse_overrides
from ivr.campaigns.service import (
    UPDATABLE,
    CampaignError,
    campaign_named,
    effective_terms,
    flow_warnings,
    update_campaign,
)
from ivr.cli_context import command_services, fail
from ivr.cli_options import FORMAT
from ivr.flows.loader import FlowError
from ivr.staff.cli import cli_actor


def _console(stderr: bool = False) -> Console:
    # Made per call, not at import: click's test runner swaps the streams for each invocation.
    return Console(highlight=False, soft_wrap=True, stderr=stderr)


def warn(warnings: Sequence[str]) -> None:
    """Each warning on stderr, prefixed so that scripts can tell them from the output."""
    for line in warnings:
        click.echo(f"warning: {line}", err=True)


def _warnings_of(campaign: Any) -> list[str]:
    try:
        return flow_warnings(campaign)
    except (FlowError, OSError) as exc:  # `ivr flows check` and the console report it fully
        return [f"the flow could not be checked: {exc}"]


@click.command("show")
@click.argument("name")
@FORMAT
def show_command(name: str, fmt: str) -> None:
    """One campaign: template, flow, options, and the escalation terms in effect per reason.

    A reason's terms come from the campaign (options sla and priority), else the defaults;
    "fallback" is the 72 h a reason without any term gets. Reads IVR_DATABASE_URL.
    """
    with command_services() as services, services.sessions() as session:
        try:
            campaign = campaign_named(session, name)
        except CampaignError as exc:
            fail(str(exc))
        info: dict[str, Any] = {
            "name": campaign.name,
            "template": campaign.template,
            "flow": campaign.flow,
            "status": str(campaign.status),
            "options": dict(campaign.options),
            "terms": effective_terms(campaign),
            "warnings": _warnings_of(campaign),
        }
    if fmt == "json":
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
        return
    console = _console()
    console.print(
        f"[bold]{info['name']}[/bold]: template {info['template']}, flow {info['flow']}, "
        f"{info['status']}"
    )
    for key, value in info["options"].items():
        console.print(f"  {key:22} {value}")
    table = Table("reason", "priority", "due", "from", title="escalation terms")
    for row in info["terms"]:
        table.add_row(row["reason"], str(row["priority"]), row["sla"], row["source"])
    console.print(table)
    warn(info["warnings"])


@click.command("update")
@click.argument("name")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    required=True,
    metavar="KEY=VALUE",
    help=f"an option to change, repeatable: {', '.join(UPDATABLE)}; sla.REASON=TERM and "
    "priority.REASON=N change one reason (none removes it)",
)
def update_command(name: str, overrides: Sequence[str]) -> None:
    """Change a campaign's queue options: escalation terms, outcomes, evidence reasons.

    Example: ivr campaigns update co-2030 --set sla.complaint=2wd --set priority.complaint=1

    Takes effect for escalations raised from now on (open ones keep their due time). Audited
    (`campaign.update`). Reads IVR_DATABASE_URL and IVR_SECRET_KEY.
    """
    with command_services() as services:
        try:
            with services.sessions.begin() as session:
                campaign = campaign_named(session, name)
                changed = update_campaign(
                    session,
                    services,
                    campaign,
                    parse_overrides(list(overrides)),
                    actor=cli_actor(),
                )
                warnings = _warnings_of(campaign)
        except AuditKeyMissing:
            fail("IVR_SECRET_KEY is required: campaign changes are written to the audit log", 2)
        except (CampaignError, OptionError) as exc:
            fail(str(exc))
    console = _console()
    if not changed:
        console.print(f"campaign {name!r}: nothing changed")
    for key, (old, new) in changed.items():
        console.print(f"campaign {name!r}: {key} {old or 'unset'} -> {new}")
    warn(warnings)
