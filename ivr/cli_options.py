"""Command-line options several `ivr` command groups share."""

from __future__ import annotations

import click

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for scripts",
)
