"""`ivr audit sample | record | table`: audit re-calls and the yearly table hospitals publish.

Attached to the `audit` group by ivr/cli.py. Reads IVR_DATABASE_URL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Column, Table

from ivr.campaigns.service import CampaignError, campaign_named
from ivr.cli_context import command_services, fail
from ivr.queue.access import acting_user
from ivr.queue.errors import QueueError
from ivr.reports.audit_outcomes import OUTCOMES
from ivr.reports.audits import (
    METHODS,
    AuditError,
    DrawRequest,
    draw_sample,
    record_outcome,
    sample_view,
)
from ivr.reports.build import build_report, month_period

out = Console(highlight=False, soft_wrap=True)
Command = TypeVar("Command", bound=Callable[..., Any])

# The yearly table: (column, where it comes from in a report, whether it is a rate). The
# hospitals' published table with its rates, then the audit office's figures.
YEAR_COLUMNS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("discharged", ("cases",), False),
    ("excluded", ("excluded",), False),
    ("followed_up", ("attempted",), False),
    ("follow_up_rate", ("follow_up_rate",), True),
    ("audited", ("audit", "audited"), False),
    ("audit_rate", ("audit", "audit_rate"), True),
    ("effectively_reached", ("audit", "effectively_reached"), False),
    ("effective_rate", ("audit", "effective_audit_rate"), True),
    ("confirmed", ("audit", "confirmed"), False),
    ("confirmed_share", ("audit", "confirmed_share"), True),
    ("satisfied", ("satisfied",), False),
    ("not_satisfied", ("not_satisfied",), False),
    ("satisfaction_rate", ("satisfaction_rate",), True),
)
# Table headers that wrap onto two lines, so the thirteen columns stay readable side by side.
YEAR_HEADERS = {
    "discharged": "dis-\ncharged",
    "excluded": "ex-\ncluded",
    "followed_up": "followed\nup",
    "follow_up_rate": "follow-up\nrate",
    "audited": "audited",
    "audit_rate": "audit\nrate",
    "effectively_reached": "effectively\nreached",
    "effective_rate": "effective\nrate",
    "confirmed": "con-\nfirmed",
    "confirmed_share": "confirmed\nshare",
    "satisfied": "satis-\nfied",
    "not_satisfied": "not\nsatisfied",
    "satisfaction_rate": "satisfaction\nrate",
}


def _format_option(*choices: str) -> Callable[[Command], Command]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default="table",
        show_default=True,
        help="table for people, json for scripts"
        + (", csv for spreadsheets" if "csv" in choices else ""),
    )


@click.command("sample")
@click.option("--campaign", "campaign_name", required=True, help="the campaign's name")
@click.option("--month", required=True, metavar="YYYY-MM", help="cases whose anchor date is in it")
@click.option("--share", type=float, default=0.2, show_default=True, help="fraction to draw")
@click.option("--seed", help="the same seed draws the same sample (default: a new one, printed)")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="random",
    show_default=True,
    help="random: of the completed cases; interval: the regulator's draw of the due call-backs",
)
@click.option("--min", "min_count", type=click.IntRange(min=1), help="draw at least this many")
@click.option("--as", "actor", default="cli", show_default=True, help="who draws (kept)")
@_format_option("table", "json")
def sample_command(
    campaign_name: str,
    month: str,
    share: float,
    seed: str | None,
    method: str,
    min_count: int | None,
    actor: str,
    fmt: str,
) -> None:
    """Draw a reproducible sample of a month's cases for audit re-calls, and keep it.

    `--method interval --share 0.005 --min 1200` is the insurance regulator's draw: sorted by
    policy number, every k-th case of each channel and product, problem cases always included.
    """
    try:
        start, end = month_period(month)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    try:
        with command_services() as services, services.sessions.begin() as session:
            request = DrawRequest(
                campaign_named(session, campaign_name),
                start,
                end,
                method=method,
                share=share,
                seed=seed,
                min_count=min_count,
            )
            sample, new = draw_sample(session, request, actor=actor, now=services.clock())
            view = sample_view(session, sample)
    except (CampaignError, AuditError) as exc:
        fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps({**view, "new": new}, indent=2, ensure_ascii=False))
        return
    out.print(
        f"audit sample {view['sample']} of {view['campaign']} {month}: {view['drawn']} of "
        f"{view['population']} ({view['method']}, share {view['share']:g}, seed {view['seed']})"
        + ("" if new else " — drawn before; shown as kept")
    )
    if len(view["strata"]) > 1 or view["method"] == "interval":
        for name, counts in view["strata"].items():
            out.print(f"  stratum {name}: {counts['drawn']} of {counts['population']}")
    table = Table("case", "why", "outcome")
    for item in view["items"]:
        table.add_row(item["external_ref"], item["why"], item["outcome"] or "")
    out.print(table)


@click.command("record")
@click.argument("sample_id", type=int, metavar="SAMPLE")
@click.argument("external_ref", metavar="CASE")
@click.option("--outcome", type=click.Choice(OUTCOMES), required=True)
@click.option("--as", "actor", required=True, metavar="USER", help="the staff user who re-called")
@click.option("--note", help="what the person said, briefly")
def record_command(
    sample_id: int, external_ref: str, outcome: str, actor: str, note: str | None
) -> None:
    """Record what the audit re-call of one drawn case found."""
    try:
        with command_services() as services, services.sessions.begin() as session:
            user = acting_user(session, actor)
            record_outcome(
                session,
                sample_id,
                external_ref,
                outcome,
                actor=user.username,
                now=services.clock(),
                note=note,
            )
    except (AuditError, QueueError) as exc:
        fail(str(exc))
    out.print(f"audit sample {sample_id}, case {external_ref}: {outcome}")


@click.command("table")
@click.option("--campaign", "campaign_name", required=True, help="the campaign's name")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@_format_option("table", "json", "csv")
def table_command(campaign_name: str, year: int, fmt: str) -> None:
    """The yearly table by month of discharge: discharged, excluded, followed up (follow-up
    rate), audited (audit rate), effectively reached (effective rate), confirmed (confirmed
    share), satisfied / not satisfied (satisfaction rate)."""
    try:
        with command_services() as services, services.sessions() as session:
            campaign = campaign_named(session, campaign_name)
            periods = [month_period(f"{year}-{m:02d}") for m in range(1, 13)]
            periods.append((date(year, 1, 1), date(year, 12, 31)))
            rows = []
            for start, end in periods:
                report = build_report(session, services, campaign, start=start, end=end)
                label = "year" if (start.month, end.month) == (1, 12) else start.strftime("%Y-%m")
                rows.append({"period": label, **_year_row(report)})
    except CampaignError as exc:
        fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps({"campaign": campaign_name, "year": year, "rows": rows}, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, ["period", *(c for c, _, _ in YEAR_COLUMNS)], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
        click.echo(buffer.getvalue(), nl=False)
    else:
        print_year_table(campaign_name, year, rows)


def print_year_table(
    campaign_name: str, year: int, rows: list[dict[str, Any]], console: Console = out
) -> None:
    """The yearly table, every column whole: never cut to the terminal's width (wider lines
    wrap in the terminal; a pipe or a file gets them as they are)."""
    table = Table(
        Column("period", no_wrap=True),
        *(Column(YEAR_HEADERS[c], justify="right", no_wrap=True) for c, _, _ in YEAR_COLUMNS),
        title=f"{campaign_name}, {year}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
    )
    for row in rows:
        table.add_row(
            row["period"],
            *(
                ("n/a" if row[c] is None else f"{row[c]:.1%}") if rate else str(row[c])
                for c, _, rate in YEAR_COLUMNS
            ),
        )
    # Rich fits a table to the console's width (80 columns in a pipe), squeezing and cutting
    # cells with "…"; printed at its own full width instead, nothing is lost.
    unbounded = console.options.update_width(10_000)
    width = max(Measurement.get(console, unbounded, table).maximum, console.width)
    lines = console.render_lines(table, console.options.update_width(width), new_lines=True)
    console.print(Segments(segment for line in lines for segment in line), crop=False)


def _year_row(report: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for column, path, _rate in YEAR_COLUMNS:
        value: Any = report
        for key in path:
            value = value[key]
        row[column] = value
    return row
