"""The `ivr` command line: every command a clerk, an operator or a script runs.

Settings come from the environment (IVR_*, TWILIO_*); each command's --help names the ones it
reads. Errors are one clear message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ivr.campaigns.campaign_cli import warn
from ivr.campaigns.options import OPTIONS, OptionError, parse_overrides
from ivr.campaigns.service import CampaignError, campaign_named, create_campaign, flow_warnings
from ivr.campaigns.templates import TEMPLATES
from ivr.cli_options import FORMAT
from ivr.config import ConfigError, Settings, load_settings
from ivr.db import make_engine, make_sessions
from ivr.flows.loader import FlowError
from ivr.logs import configure
from ivr.models import Campaign
from ivr.queue.access import usernames_of
from ivr.queue.service import list_escalations
from ivr.reports.case_counts import CaseCounts, case_counts
from ivr.services import Services, system_clock

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ENV_DB = "Reads IVR_DATABASE_URL (default sqlite:///var/ivr.db)."
ENV_DIAL = (
    "Reads IVR_DATABASE_URL, IVR_PUBLIC_BASE_URL (where Twilio reaches `ivr serve`), "
    "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER, IVR_CPS (calls per second, "
    "default 1, shared by every `ivr dial` on the database), IVR_TICK_SECONDS (default 2), "
    "IVR_MAX_CONCURRENT_CALLS (calls in flight from the caller id, default 0: no cap), "
    "IVR_PROVIDER_MAX_IN_FLIGHT (REST requests to the provider at once, default 4), "
    "IVR_RECORDINGS_DIR."
)
# The templates `ivr demo` has synthetic people for (ivr.demo.run.PROGRAMS; a test keeps the two
# lists equal without importing the demo, and the simulator with it, for every command).
DEMO_PROGRAMS = (
    "post-discharge",
    "post-discharge-72h",
    "post-discharge-1w",
    "cooling-off",
    "care-insurance",
    "renovation",
    "clinic-treated",
    "clinic-visitor",
)


def fail(message: str, status: int = 1) -> NoReturn:
    """Print one error message and exit."""
    err.print(f"[red]error:[/red] {message}", markup=True, soft_wrap=True)
    sys.exit(status)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail("the environment is not valid:\n  " + "\n  ".join(exc.problems), 2)


def services_for(current: Settings, *, check_schema: bool = True) -> Services:
    """Services on the configured database; refuses a database that is not migrated."""
    from ivr.migrate import is_up_to_date

    engine = make_engine(current.database_url)
    if check_schema:
        try:
            ready = is_up_to_date(current.database_url)
        except OperationalError as exc:
            fail(f"cannot open the database: {exc.orig}")
        if not ready:
            fail("the database is not at the current schema; run `ivr db upgrade` first")
    return Services(settings=current, sessions=make_sessions(engine), clock=system_clock)


def telephony_for(current: Settings) -> Any:
    from ivr.telephony.twilio import TwilioTelephony

    try:
        current.require_dialling()
    except ConfigError as exc:
        fail("cannot dial:\n  " + "\n  ".join(exc.problems), 2)
    return TwilioTelephony(
        account_sid=current.twilio_account_sid,
        auth_token=current.twilio_auth_token,
        api_base_url=current.twilio_api_base_url,
        connect_timeout=current.http_connect_timeout,
        read_timeout=current.http_read_timeout,
        max_in_flight=current.provider_max_in_flight,
    )


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the product's own error types into one-line messages."""
    try:
        yield
    except (CampaignError, OptionError, FlowError) as exc:
        fail(str(exc))


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="log what the product does (to stderr)")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Outbound follow-up calls: campaigns, IVR surveys, recordings, the human queue, reports.

    Start with `ivr demo` to watch a whole post-discharge campaign run on a simulated Twilio.
    """
    ctx.obj = {"verbose": verbose}
    configure(logging.INFO if verbose else logging.WARNING)


# --- demo -------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--patients",
    type=int,
    default=None,
    help="synthetic people (CSV rows) to call [default: 200; renovation: 70 jobs]",
)
@click.option("--seed", default=7, show_default=True, help="same seed, same run")
@click.option(
    "--template",
    "template_name",
    type=click.Choice(DEMO_PROGRAMS),
    default="post-discharge",
    show_default=True,
    help="the program to run",
)
@click.pass_context
def demo(ctx: click.Context, patients: int | None, seed: int, template_name: str) -> None:
    """Run a whole campaign of a program against the built-in Twilio simulator.

    Uses IVR_DATABASE_URL and IVR_RECORDINGS_DIR when set (so `ivr report`, `ivr queue list`
    can inspect the result afterwards), else a fresh folder under ./var/demo. Needs nothing else:
    the calls, webhooks and recordings all run on 127.0.0.1.
    """
    from ivr.demo.run import run_demo

    if not ctx.obj["verbose"]:
        # Refused wrong numbers and late recordings are part of the show, not news: keep the
        # progress bar clean unless asked (ivr -v demo).
        logging.getLogger().setLevel(logging.ERROR)
    with user_errors():
        run_demo(settings(), patients=patients, seed=seed, console=out, template=template_name)


# --- db ---------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the current schema (Alembic). Reads IVR_DATABASE_URL."""
    from ivr.migrate import current_revision, upgrade

    current = settings()
    try:
        before = current_revision(current.database_url)
        upgrade(current.database_url)
        after = current_revision(current.database_url)
    except OperationalError as exc:
        fail(f"cannot open the database: {exc.orig}")
    if before == after:
        out.print(f"database already at revision {after}")
    else:
        out.print(f"database upgraded from {before or 'empty'} to {after}")


# --- campaigns --------------------------------------------------------------------------------


@main.group()
def campaigns() -> None:
    """Campaigns: a template (flow, timing, windows, attempts) and its cases."""


def _option_help() -> str:
    keys = "; ".join(f"{key}: {option.help}" for key, option in OPTIONS.items())
    return f"override a template option, repeatable. Keys: {keys}"


@campaigns.command("create")
@click.option(
    "--template",
    "template_name",
    required=True,
    type=click.Choice(sorted(TEMPLATES)),
    help="the program to run",
)
@click.option("--name", required=True, help="a unique name, used by the other commands")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=_option_help())
@click.option(
    "--flow",
    "flow_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="run this flow (YAML) instead of the template's; checked now (see ivr flows check)",
)
def campaigns_create(
    template_name: str, name: str, overrides: Sequence[str], flow_file: Path | None
) -> None:
    """Create a campaign from a template. Reads IVR_DATABASE_URL.

    Example: ivr campaigns create --template post-discharge --name cardio-2026-11
    --set windows=08:00-11:00,14:00-17:00 --set max_attempts=3 --set retry_spacing=2h
    """
    svc = services_for(settings())
    with user_errors(), svc.sessions.begin() as session:
        campaign = create_campaign(
            session,
            name=name,
            template_name=template_name,
            overrides=parse_overrides(list(overrides)),
            now=svc.clock(),
            flow_file=flow_file,
        )
        options = dict(campaign.options)
        flow_id = campaign.flow
        warnings = flow_warnings(campaign)
    out.print(f"campaign {name!r} created from template {template_name!r}, flow {flow_id!r}")
    for key, value in options.items():
        out.print(f"  {key:15} {value}")
    warn(warnings)


@campaigns.command("list")
@FORMAT
def campaigns_list(fmt: str) -> None:
    """List campaigns with their template, status and case counts. Reads IVR_DATABASE_URL."""
    svc = services_for(settings())
    with svc.sessions() as session:
        counts = case_counts(session)
        rows = [
            _campaign_row(campaign, counts.get(campaign.id, CaseCounts()))
            for campaign in session.scalars(select(Campaign).order_by(Campaign.name))
        ]
    if fmt == "json":
        emit_json(rows)
        return
    table = Table("campaign", "template", "status", "cases", "open", "completed", "created")
    for row in rows:
        table.add_row(
            row["name"],
            row["template"],
            row["status"],
            str(row["cases"]),
            str(row["open_cases"]),
            str(row["completed"]),
            row["created_at"],
        )
    out.print(table)


def _campaign_row(campaign: Campaign, counts: CaseCounts) -> dict[str, Any]:
    figures = asdict(counts)
    return {
        "name": campaign.name,
        "template": campaign.template,
        "status": str(campaign.status),
        "options": dict(campaign.options),
        "created_at": iso(campaign.created_at),
        **figures,
    }


# --- cases ------------------------------------------------------------------------------------


@main.group()
def cases() -> None:
    """Cases: the people a campaign calls."""


@cases.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaign_name", required=True, help="campaign to add the cases to")
def cases_import(file: Path, campaign_name: str) -> None:
    """Import cases from a CSV file (UTF-8, header row). Reads IVR_DATABASE_URL.

    The columns depend on the campaign's template: `ivr templates show NAME` lists them, and
    examples/ has a file for each. Bad lines are reported with their line number and skipped;
    a case already imported (same external_ref) is skipped, so re-running an import is safe.
    Identity facts (cooling-off: dob, id_last4) are stored only as keyed hashes, which needs
    IVR_SECRET_KEY; the clear values are never written.
    """
    from ivr.cases.csv_rows import CsvFormatError, count_data_lines
    from ivr.cases.importer import import_cases

    svc = services_for(settings())
    with user_errors(), svc.sessions() as session:
        campaign_id = campaign_named(session, campaign_name).id
    try:
        with file.open(encoding="utf-8-sig", newline="") as stream, user_errors():
            total = count_data_lines(stream)
            stream.seek(0)
            with _progress(f"importing {file.name}", total) as advance:
                report = import_cases(
                    svc.sessions,
                    campaign_id,
                    stream,
                    now=svc.clock(),
                    on_progress=advance,
                    secret_key=svc.settings.secret_key or None,
                )
    except CsvFormatError as exc:
        fail(f"{file}: {exc}")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text: {exc.reason} at byte {exc.start}")
    out.print(report.summary)
    for duplicate in report.duplicates[:20]:
        err.print(f"  {duplicate}", soft_wrap=True)
    for problem in report.errors[:50]:
        ref = f" ({problem.external_ref})" if problem.external_ref else ""
        err.print(f"  line {problem.line}{ref}: {problem.reason}", soft_wrap=True)
    if len(report.errors) > 50:
        err.print(f"  ... and {len(report.errors) - 50} more")
    if report.errors:
        sys.exit(1)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done: progress.update(task, completed=done)


# --- dial, serve, recordings --------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="one dispatcher pass, then exit")
def dial(once: bool) -> None:
    """Call the cases that are due, inside their calling windows; runs until stopped.

    Every IVR_TICK_SECONDS it claims due cases and places their calls at IVR_CPS; every 15 ticks
    (30 s by default) it fetches finished recordings. Stop it with Ctrl-C or SIGTERM: a pass
    in progress finishes.
    """
    from ivr.db import engine_of
    from scheduler.dispatcher import dispatch_once
    from scheduler.pacing import DbPacer
    from scheduler.runner import run_until_stopped

    current = settings()
    svc = services_for(current)
    svc.telephony = telephony_for(current)
    pacer = DbPacer(engine_of(svc.sessions), current.cps)
    if once:
        out.print(str(dispatch_once(svc, pacer)))
        return
    out.print(f"dialling every {current.tick_seconds:g} s at {current.cps:g} calls/s; Ctrl-C stops")
    run_until_stopped(svc, pacer)


dial.help = f"{dial.help}\n\n{ENV_DIAL}"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the webhooks Twilio calls (voice, gather, status, recording, AMD).

    Needs IVR_PUBLIC_BASE_URL (the https URL Twilio uses to reach this server, which signatures
    are checked against), TWILIO_AUTH_TOKEN and IVR_SECRET_KEY: without them it refuses to start.
    This is a threaded development-grade server; in production run `gunicorn 'ivr.wsgi:app'`.
    """
    from werkzeug.serving import run_simple

    from ivr.app import create_app

    current = settings()
    svc = services_for(current)
    # The webhooks pause the recording while identity digits are keyed: they need the provider.
    svc.telephony = telephony_for(current)
    try:
        app = create_app(current, services=svc)
    except ConfigError as exc:
        fail("cannot serve webhooks:\n  " + "\n  ".join(exc.problems), 2)
    out.print(f"webhooks on http://{host}:{port}/twilio/ (public URL {current.public_base_url})")
    run_simple(host, port, app, threaded=True)


@main.group()
def recordings() -> None:
    """Call recordings kept for compliance."""


@recordings.command("reseal")
def recordings_reseal() -> None:
    """Re-encrypt stored recordings with IVR_RECORDINGS_KEY after a key rotation.

    Files under a key listed in IVR_RECORDINGS_OLD_KEYS (or stored in clear) are rewritten under
    the current key; a file whose audio no longer matches its recorded checksum is skipped and
    reported (exit 1). Reads IVR_DATABASE_URL, IVR_RECORDINGS_STORE, IVR_RECORDINGS_DIR or
    IVR_S3_*, IVR_RECORDINGS_KEY, IVR_RECORDINGS_OLD_KEYS.
    """
    from recordings.crypto import EncryptedStore, reseal_recordings
    from recordings.store import open_store

    current = settings()
    store = open_store(current)
    if not isinstance(store, EncryptedStore):
        fail("IVR_RECORDINGS_KEY is not set: nothing to reseal with", 2)
    try:
        report = reseal_recordings(services_for(current).sessions, store)
    except OSError as exc:
        fail(f"cannot use the recordings store: {exc}", 2)
    for reason in report.skipped:
        err.print(f"  skipped {reason}", soft_wrap=True)
    out.print(f"resealed {report.resealed}, skipped {len(report.skipped)}")
    if report.skipped:
        sys.exit(1)


@recordings.command("fetch")
def recordings_fetch() -> None:
    """Download the recordings that are ready, verify, store them, delete the provider's copy.

    `ivr dial` does the same every 30 s. Reads IVR_DATABASE_URL, IVR_RECORDINGS_DIR,
    TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN.
    """
    from recordings.fetch import fetch_due

    current = settings()
    svc = services_for(current)
    svc.telephony = telephony_for(current)
    stored = failed = deleted = 0
    while True:  # a batch at a time while batches store something
        report = fetch_due(svc)
        stored, failed, deleted = (
            stored + report.stored,
            failed + report.failed,
            deleted + report.deleted,
        )
        for message in report.messages:
            err.print(f"  {message}", soft_wrap=True)
        if report.stored == 0:
            break
    out.print(
        f"stored {stored}, waiting {report.waiting} (retried later), failed {failed}, "
        f"provider copies deleted {deleted}"
    )
    if failed:
        sys.exit(1)


@recordings.command("verify")
@FORMAT
def recordings_verify(fmt: str) -> None:
    """Re-hash every stored recording; report missing, altered and unreferenced files.

    Exits 1 if anything is found (a missing listening copy is reported but passes), 2 if the
    store cannot be read. Reads IVR_DATABASE_URL, IVR_RECORDINGS_STORE, IVR_RECORDINGS_DIR or
    IVR_S3_*, IVR_RECORDINGS_KEY and IVR_RECORDINGS_OLD_KEYS.
    """
    from dataclasses import asdict

    from recordings.store import open_store
    from recordings.verify import verify_store

    current = settings()
    svc = services_for(current)
    try:
        report = verify_store(svc.sessions, open_store(current))
    except OSError as exc:  # the store itself: unreachable bucket, refused credentials
        fail(f"cannot read the recordings store: {exc}", 2)
    if fmt == "json":
        emit_json(
            {
                "checked": report.checked,
                "intact": report.intact,
                "findings": [asdict(f) for f in report.findings],
            }
        )
    else:
        for finding in report.findings:
            sid = f" ({finding.recording_sid})" if finding.recording_sid else ""
            detail = f": {finding.detail}" if finding.detail else ""
            out.print(f"  {finding.kind:12} {finding.path}{sid}{detail}", soft_wrap=True)
        out.print(str(report))
    if not report.ok:
        sys.exit(1)


# --- report, queue ----------------------------------------------------------------------------


@main.group()
def queue() -> None:
    """The human follow-up queue: what the machine could not finish."""


@queue.command("list")
@click.option("--campaign", "campaign_name", help="only this campaign's escalations")
@FORMAT
def queue_list(campaign_name: str | None, fmt: str) -> None:
    """List escalations, most urgent first (priority, then due time). Reads IVR_DATABASE_URL."""
    svc = services_for(settings())
    with user_errors(), svc.sessions() as session:
        campaign_id = None
        if campaign_name is not None:
            campaign_id = campaign_named(session, campaign_name).id
        rows = queue_rows_for(session, campaign_id)
    print_queue(rows, fmt)


def queue_rows_for(session: Session, campaign_id: int | None) -> list[dict[str, Any]]:
    """Escalations as plain rows, most urgent first, each naming its holder."""
    escalations = list_escalations(session, campaign_id=campaign_id)
    holders = usernames_of(session, (e.claimed_by_id for e in escalations))
    from ivr.queue.cli import escalation_row

    return [escalation_row(e, holders) for e in escalations]


def print_queue(rows: list[dict[str, Any]], fmt: str, console: Console = out) -> None:
    """Escalation rows as JSON or a table."""
    if fmt == "json":
        emit_json(rows)
        return
    campaigns = {row["campaign"] for row in rows}
    # The id is what `ivr queue claim|show|resolve ID` take.
    columns = ["id", "ref", "reason", "priority", "status", "due (UTC)"]
    if len(campaigns) > 1:
        columns.append("campaign")
    held = any(row.get("claimed_by") for row in rows)
    if held:
        columns.append("held by (since, UTC)")
    table = Table(*columns, title=f"escalations ({len(rows)})")
    for row in rows:
        cells = [
            str(row["id"]),
            row["external_ref"],
            row["reason"],
            str(row["priority"]),
            row["status"],
            (row["due"] or "")[:16].replace("T", " "),
        ]
        if len(campaigns) > 1:
            cells.append(row["campaign"])
        if held:
            since = (row["claimed_at"] or "")[:16].replace("T", " ")
            cells.append(f"{row['claimed_by']} since {since}" if row["claimed_by"] else "")
        table.add_row(*cells)
    console.print(table)


def _register() -> None:
    # Command groups that live beside the code they drive.
    from ivr.api.cli import tokens
    from ivr.audit.cli import audit
    from ivr.campaigns.campaign_cli import show_command, update_command
    from ivr.campaigns.cli import templates
    from ivr.consent.cli import dnc
    from ivr.flows.cli import flows
    from ivr.outcome_webhook.cli import webhook_secret_command, webhooks
    from ivr.prompts_cli import prompts
    from ivr.queue.callback_cli import callback_command
    from ivr.queue.cli import QUEUE_COMMANDS
    from ivr.queue.sla_cli import digest_command, sla_command
    from ivr.reports.audit_cli import record_command, sample_command, table_command
    from ivr.reports.cli import report_command
    from ivr.staff.cli import users
    from recordings.retention_cli import hold, purge, release
    from recordings.timeline import timeline_command

    main.add_command(dnc)
    main.add_command(flows)
    main.add_command(prompts)
    main.add_command(templates)
    campaigns.add_command(show_command)
    campaigns.add_command(update_command)
    main.add_command(audit)
    recordings.add_command(hold)
    recordings.add_command(release)
    recordings.add_command(purge)
    main.add_command(users)
    main.add_command(tokens)
    main.add_command(report_command)
    for command in (sample_command, record_command, table_command):
        audit.add_command(command)
    recordings.add_command(timeline_command)
    for command in QUEUE_COMMANDS:
        queue.add_command(command)
    queue.add_command(callback_command)
    queue.add_command(sla_command)
    queue.add_command(digest_command)
    main.add_command(webhooks)
    campaigns.add_command(webhook_secret_command)


_register()
