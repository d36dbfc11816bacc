"""`ivr queue callback ID --as USER`: ring the agent's phone, then bridge the customer in.

Attached to the `queue` group by ivr/cli.py, beside ivr.queue.cli's commands.
"""

from __future__ import annotations

import click

from ivr.audit.log import AuditKeyMissing
from ivr.cli_context import command_services, fail
from ivr.models import AgentCallbackStatus
from ivr.queue.access import acting_user
from ivr.queue.callback import request_callback
from ivr.queue.cli import AS_USER, ESCALATION_ID
from ivr.queue.errors import QueueError

__all__ = ["callback_command"]


@click.command("callback")
@ESCALATION_ID
@AS_USER
@click.option(
    "--override-window",
    is_flag=True,
    help="call even outside the campaign's calling windows (needs --reason; audited)",
)
@click.option("--reason", help="why the customer is called outside the windows")
def callback_command(
    escalation_id: int, actor: str, override_window: bool, reason: str | None
) -> None:
    """Call escalation ID's customer back: your phone rings first, press 1, then the customer's.

    Only the escalation's holder (or a supervisor or an admin) calls back, from the phone set
    with `ivr users phone NAME +E164`. The bridged call is recorded like every call and linked to
    the escalation as evidence. Outside the campaign's calling windows (in the customer's time
    zone) the call is refused unless --override-window is given with a --reason, which goes to
    the escalation's history and the audit log.

    Reads IVR_DATABASE_URL, IVR_PUBLIC_BASE_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER, TWILIO_API_BASE_URL and, for an override, IVR_SECRET_KEY.
    """
    if reason is not None and not override_window:
        fail("--reason goes with --override-window")
    from ivr.cli import telephony_for

    try:
        with command_services() as services:
            services.telephony = telephony_for(services.settings)
            with services.sessions() as session:
                agent = acting_user(session, actor)
            result = request_callback(
                services,
                escalation_id,
                agent,
                override_window=override_window,
                override_reason=reason,
            )
    except QueueError as exc:
        fail(str(exc))
    except AuditKeyMissing as exc:
        fail(str(exc), 2)
    if result.status == AgentCallbackStatus.FAILED:
        fail(result.message())
    click.echo(result.message())
