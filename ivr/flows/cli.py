"""`ivr flows ...`: check flow definitions before a campaign uses them.

Registered on the main group by ivr/cli.py (`main.add_command(flows)`); reads no environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ivr.flows.loader import LANGUAGES, FlowError, check_flow_file
from ivr.queue.rules import DEFAULT_TERMS, TERMS, format_sla


@click.group()
def flows() -> None:
    """Flow definitions (YAML): check them before a campaign uses them."""


@flows.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--language",
    "languages",
    multiple=True,
    type=click.Choice(sorted(LANGUAGES)),
    help="a language the campaign calls in; the flow must have prompts for it (repeatable)",
)
@click.option(
    "--prompts",
    "prompts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder of the prepared audio prompts; every audio prompt must be a file there",
)
def check(files: tuple[Path, ...], languages: tuple[str, ...], prompts_dir: Path | None) -> None:
    """Validate each FILE; print "FILE: ok" or the node and problem, exit 1 if any is invalid.

    An escalation reason with no default SLA term is a warning (stderr), not a failure.
    """
    invalid = 0
    for file in files:
        try:
            flow = check_flow_file(file, languages, prompts_dir=prompts_dir)
        except FlowError as exc:
            invalid += 1
            click.echo(str(exc), err=True)
            continue
        click.echo(f"{file}: ok ({len(flow.nodes)} nodes, languages {', '.join(flow.languages)})")
        # Valid, but a new reason without a term is due in the fallback time: a campaign running
        # the flow should give it one (its sla option); `ivr campaigns show` checks that one.
        for reason in sorted(flow.escalation_reasons() - set(TERMS)):
            click.echo(
                f"warning: {file}: reason {reason!r} has no default SLA term (due in "
                f"{format_sla(DEFAULT_TERMS.sla)}, priority {DEFAULT_TERMS.priority}); give it "
                f"one in the campaign: --set sla.{reason}=TERM",
                err=True,
            )
    if invalid:
        sys.exit(1)
