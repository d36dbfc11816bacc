"""`ivr templates`: what each ready campaign expects (CSV columns), when it calls, what it asks.

The lead registers the group on the main command: ``main.add_command(templates)``.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Column, Table

from ivr.campaigns.templates import TEMPLATES, Template
from ivr.cli_options import FORMAT

__all__ = ["describe", "templates"]


def describe(tpl: Template) -> dict[str, Any]:
    """Everything `templates show` says about a template, as JSON-ready values."""
    return {
        "name": tpl.name,
        "flow": tpl.flow,
        "description": tpl.description,
        "timing": tpl.timing(),
        "options": dict(tpl.defaults),
        "csv": {
            "anchor": tpl.csv.anchor,
            "anchor_may_have_time": tpl.csv.anchor_time,
            "columns": [
                {
                    "name": column.name,
                    "required": column.required,
                    "role": str(column.role),
                    "meaning": column.meaning,
                }
                for column in tpl.csv.columns
            ],
        },
        "identity_facts": list(tpl.identity_facts),
        "questions": list(tpl.questions),
        "example": tpl.example,
    }


def _console() -> Console:
    # Made per call, not at import: click's test runner swaps sys.stdout for each invocation.
    return Console(highlight=False, soft_wrap=True)


def _echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False))


@click.group()
def templates() -> None:
    """Ready campaigns: the CSV each expects, when it calls, what it asks."""


@templates.command("list")
@FORMAT
def templates_list(fmt: str) -> None:
    """List the templates a campaign can be created from. Reads no settings."""
    rows: list[dict[str, Any]] = [
        {
            "name": tpl.name,
            "flow": tpl.flow,
            "program": tpl.description.partition(":")[0],
            "anchor": tpl.csv.anchor,
            "offset": tpl.defaults["offset"],
            "deadline": _deadline(tpl),
            "identity_facts": list(tpl.identity_facts),
            "description": tpl.description,
        }
        for tpl in TEMPLATES.values()
    ]
    if fmt == "json":
        _echo_json(rows)
        return
    table = Table("program", "first call", "deadline")
    table.columns.insert(0, Column("template", no_wrap=True))
    for row in rows:
        first = f"{row['offset']} after {row['anchor']}"
        table.add_row(row["name"], row["program"], first, row["deadline"])
    _console().print(table)
    click.echo("ivr templates show NAME: the CSV columns, timing and questions of one")


def _deadline(tpl: Template) -> str:
    """The deadline after the anchor, in the list's short form."""
    if "cooling_off_days" in tpl.defaults:
        return f"10d/15d per case (default {tpl.defaults['cooling_off_days']}d)"
    return tpl.defaults.get("deadline", "none")


@templates.command("show")
@click.argument("name", type=click.Choice(sorted(TEMPLATES)), metavar="NAME")
@FORMAT
def templates_show(name: str, fmt: str) -> None:
    """Describe one template: CSV columns, timing, options, questions. Reads no settings."""
    info = describe(TEMPLATES[name])
    if fmt == "json":
        _echo_json(info)
        return
    console = _console()
    console.print(f"[bold]{info['name']}[/bold] (flow {info['flow']})")
    console.print(info["description"])
    console.print(f"\n[bold]timing[/bold]: {info['timing']}")
    columns = Table("column", "required", "meaning", title=f"CSV columns ({info['example']})")
    for column in info["csv"]["columns"]:
        columns.add_row(column["name"], "yes" if column["required"] else "", column["meaning"])
    console.print(columns)
    if info["identity_facts"]:
        facts = ", ".join(info["identity_facts"])
        console.print(
            f"identity facts {facts} are hashed with IVR_SECRET_KEY on import and never stored; "
            "importing needs IVR_SECRET_KEY"
        )
    console.print("\n[bold]questions[/bold]")
    for number, question in enumerate(info["questions"], start=1):
        console.print(f"  {number}. {question}")
    console.print("\n[bold]options[/bold] (change with ivr campaigns create --set KEY=VALUE)")
    for key, value in info["options"].items():
        console.print(f"  {key:16} {value}")
