"""`ivr report`: a campaign's figures for a period, whole or split, as a table, JSON or CSV.

Attached to the main group by ivr/cli.py. Reads IVR_DATABASE_URL. Definitions of every figure are
in the README ("Report figures").
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Column, Table

from ivr.campaigns.service import CampaignError, campaign_named
from ivr.cli_context import command_services, fail
from ivr.reports.build import (
    DEADLINE,
    GROUP_COLUMNS,
    HEADLINE,
    RATES,
    build_report,
    month_period,
    period_label,
)
from ivr.reports.scope import GROUPS

out = Console(highlight=False)
EXPORT_SUFFIXES = (".xlsx", ".html")


@click.command("report")
@click.option("--campaign", "campaign_name", required=True, help="the campaign's name")
@click.option("--month", metavar="YYYY-MM", help="cases whose anchor date is in that month")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="anchor date from")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="anchor date to (included)")
@click.option("--by", type=click.Choice(list(GROUPS)), help="split the figures into groups")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts, csv for spreadsheets (one row per group)",
)
@click.option(
    "--export",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="also write the report to a file: .xlsx (a workbook) or .html (a page with charts)",
)
def report_command(
    campaign_name: str,
    month: str | None,
    start: Any,
    end: Any,
    by: str | None,
    fmt: str,
    export: Path | None,
) -> None:
    """A campaign's figures: cases, excluded, attempted, reached, completed, rates, satisfaction,
    escalations and their SLA, reach by hour; for deadline programs the success within the
    deadline. The period is the cases' anchor date (discharge, policy receipt, job start).
    """
    first = None if start is None else start.date()
    last = None if end is None else end.date()
    if month is not None:
        if first is not None or last is not None:
            raise click.UsageError("give --month or --from/--to, not both")
        try:
            first, last = month_period(month)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--month") from None
    if export is not None and export.suffix not in EXPORT_SUFFIXES:
        raise click.BadParameter(
            f"{export.name}: use {' or '.join(EXPORT_SUFFIXES)}", param_hint="--export"
        )
    try:
        with command_services() as services, services.sessions() as session:
            campaign = campaign_named(session, campaign_name)
            if export is None:
                report = build_report(session, services, campaign, start=first, end=last, by=by)
            else:
                # matplotlib and openpyxl load only when a file is asked for: every other
                # `ivr` command starts without them.
                from ivr.reports.monthly import monthly_report, write_export

                monthly = monthly_report(session, services, campaign, start=first, end=last, by=by)
                report = monthly.report
                write_export(monthly, export)
    except (CampaignError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {export}: {exc.strerror}")
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(report_csv(report), nl=False)
    else:
        print_report(report)


def _rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    groups: dict[str, dict[str, Any]] = report.get("groups", {})
    return [("all", report), *groups.items()]


def report_csv(report: dict[str, Any]) -> str:
    """One row for the whole campaign, then one per group; rates as fractions."""
    columns = HEADLINE + (DEADLINE if "deadline_passed" in report else ())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("campaign", "from", "to", report.get("by") or "group", *columns))
    period = report["period"]
    for key, figures in _rows(report):
        values = ["" if figures[c] is None else figures[c] for c in columns]
        writer.writerow(
            (report["campaign"], period["from"] or "", period["to"] or "", key, *values)
        )
    return buffer.getvalue()


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _shown(name: str, value: Any) -> str:
    if name in RATES:
        return _percent(value)
    return "n/a" if value is None else str(value)


def print_report(report: dict[str, Any], console: Console = out) -> None:
    """The report as tables: the figures against their targets, the groups side by side, then
    satisfaction, escalations with their SLA, and the best hours to call."""
    names = HEADLINE + (DEADLINE if "deadline_passed" in report else ())
    table = Table(
        Column("figure", no_wrap=True),
        "value",
        "target",
        title=f"{report['campaign']}, {period_label(report['period'])}",
    )
    for name in names:
        target = report["targets"].get(name)
        shown_target = ""
        if target is not None:
            verdict = {True: "met", False: "NOT met", None: "n/a"}[target["met"]]
            shown_target = f"{target['target']:.0%} ({verdict})"
        table.add_row(name, _shown(name, report[name]), shown_target)
    console.print(table)
    if "groups" in report:
        by_group = Table(
            Column(report["by"], no_wrap=True),
            *(Column(header, justify="right", no_wrap=True) for _, header in GROUP_COLUMNS),
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        for key, figures in report["groups"].items():
            by_group.add_row(key, *(_shown(name, figures[name]) for name, _ in GROUP_COLUMNS))
        console.print(by_group)
        console.print("f-up: follow-up rate, eff.: effective rate, sat.: satisfaction rate")
    for question, counts in report["satisfaction"].items():
        if counts["rated"]:
            spread = " ".join(f"{v}:{n}" for v, n in counts["distribution"].items())
            console.print(
                f"{question}: {_percent(counts['satisfied_share'])} satisfied "
                f"(4-5 of {counts['rated']} rated; {spread})"
            )
    for reason, count in report["escalations"].items():
        sla = report["sla"][reason]
        console.print(
            f"escalations {reason}: {count} (SLA met {sla['met']}, missed {sla['missed']}, "
            f"pending {sla['pending']})"
        )
    for name, did in report["staff"].items():
        console.print(
            f"staff {name}: resolved {did['resolved']} (SLA met {did['sla_met']}, missed "
            f"{did['sla_missed']}), callbacks {did['callbacks']} ({did['callbacks_completed']} "
            "reached the customer)"
        )
    if report["best_hours"]:
        console.print(
            "best hours to reach: " + ", ".join(f"{h:02d}:00" for h in report["best_hours"])
        )
