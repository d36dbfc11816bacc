"""`ivr queue sla` and `ivr queue digest`: run the SLA job or the digest once, by hand or cron."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from ivr.cli_context import command_services
from ivr.cli_options import FORMAT
from ivr.queue.digest import daily_digest
from ivr.queue.sla import SlaReport, mark_overdue

ENV_MAIL = (
    "Reads IVR_DATABASE_URL, IVR_SMTP_HOST, IVR_SMTP_PORT (default 587), IVR_SMTP_USER, "
    "IVR_SMTP_PASSWORD, IVR_SMTP_STARTTLS (default on, off for 127.0.0.1/localhost), "
    "IVR_SMTP_FROM, IVR_SUPERVISOR_EMAILS (comma-separated)."
)


@click.command(
    "sla",
    help=f"""Mark escalations past their deadline overdue and mail the
supervisors the new ones (`ivr dial` does this every minute). With --dry-run only list what
would be marked. {ENV_MAIL}""",
)
@click.option("--dry-run", is_flag=True, help="list what would be marked; write and send nothing")
@FORMAT
def sla_command(dry_run: bool, fmt: str) -> None:
    with command_services() as services:
        report = mark_overdue(services, dry_run=dry_run)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        return
    _print_sla(report, Console(highlight=False), dry_run=dry_run)


def _print_sla(report: SlaReport, console: Console, *, dry_run: bool) -> None:
    verb = "would be marked overdue" if dry_run else "marked overdue"
    table = Table("id", "reason", "priority", "campaign", "ref", "due", "held by")
    table.title = f"{len(report.marked)} {verb}"
    for line in report.marked:
        table.add_row(
            str(line.id),
            line.reason,
            str(line.priority),
            line.campaign,
            line.case_ref,
            line.due_local(),
            line.holder or "",
        )
    console.print(table)
    if not dry_run:
        console.print(f"supervisors told about {len(report.notified)}: {report.mail}")


@click.command(
    "digest",
    help=f"""Mail the supervisors' digest now: overdue, due today, due by
the next working day, counts by reason (`ivr dial` sends it daily at IVR_DIGEST_HOUR in
IVR_DIGEST_TIMEZONE). With --dry-run print it instead. {ENV_MAIL}""",
)
@click.option("--dry-run", is_flag=True, help="print the digest; send nothing")
def digest_command(dry_run: bool) -> None:
    from ivr.notify.messages import digest_message

    with command_services() as services:
        report = daily_digest(services, send=not dry_run)
        if dry_run:
            message = digest_message(
                report.digest,
                sender=services.settings.smtp_from or "ivr@localhost",
                to=services.settings.supervisor_emails,
                now=services.clock(),
            )
            click.echo(f"Subject: {message['Subject']}\n")
            click.echo(message.get_content())
            return
    click.echo(str(report))
