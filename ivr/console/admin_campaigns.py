"""The administrator's campaign pages: a new campaign from a template, and each campaign's flow
checked as `ivr flows check` does.

GET/POST /console/admin/campaigns/new   template, name, KEY=VALUE overrides (ivr campaigns create)
GET      /console/admin/flows           every campaign's flow: "valid" or its problems
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

import ivr.console.admin_texts  # noqa: F401  (registers the texts)
from ivr.app import current_services
from ivr.campaigns.options import OPTIONS, OptionError, parse_overrides
from ivr.campaigns.service import CampaignError, create_campaign
from ivr.campaigns.templates import TEMPLATES
from ivr.console.access import console_page, signed_in
from ivr.console.blueprint import bp
from ivr.console.i18n import t
from ivr.flows.loader import FlowError, check_flow_file, parse_flow_text, shipped_flow_path
from ivr.flows.model import Flow
from ivr.models import Campaign, StaffRole

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowCheck:
    """One campaign's flow and what the checker found (no problems: valid)."""

    campaign: str
    flow: str
    own: bool  #: the campaign runs its own flow (created with --flow), not the template's
    problems: tuple[str, ...]


def check_campaign_flow(campaign: Campaign) -> FlowCheck:
    """Load the campaign's flow as a new campaign would, and check it speaks its language."""
    languages = [campaign.options.get("language", "")]
    own = campaign.flow_definition is not None
    try:
        if campaign.flow_definition is None:
            check_flow_file(shipped_flow_path(campaign.flow), languages)
        else:
            # The text kept with the campaign, not a file: later edits to the file change nothing.
            flow: Flow = parse_flow_text(campaign.flow_definition, f"campaign {campaign.name!r}")
            missing = sorted(set(languages) - set(flow.languages))
            if missing:
                raise FlowError(
                    f"campaign {campaign.name!r}",
                    None,
                    f"has no prompts for {', '.join(missing)} (the campaign calls in it)",
                )
    except (FlowError, OSError) as exc:
        return FlowCheck(campaign.name, campaign.flow, own, (str(exc),))
    return FlowCheck(campaign.name, campaign.flow, own, ())


def _options_help() -> dict[str, list[tuple[str, str, str]]]:
    """Each template's options: key, default and what it means (as `ivr templates show`)."""
    return {
        name: [(key, default, OPTIONS[key].help) for key, default in tpl.defaults.items()]
        for name, tpl in sorted(TEMPLATES.items())
    }


def _new_page(form: dict[str, str], status: int = 200, problem: str | None = None) -> Any:
    page = render_template(
        "admin/new_campaign.html",
        templates=sorted(TEMPLATES.values(), key=lambda tpl: tpl.name),
        options=_options_help(),
        form=form,
        problem=problem,
    )
    return page, status


@bp.get("/admin/campaigns/new")
@console_page(StaffRole.ADMIN)
def admin_new_campaign() -> Any:
    """The form: a template, a name, option overrides; each template's options explained."""
    return _new_page({"template": request.args.get("template", "")})


@bp.post("/admin/campaigns/new")
@console_page(StaffRole.ADMIN)
def admin_create_campaign() -> Response | Any:
    """Create the campaign; an unknown template, a bad option or a name in use is shown."""
    services = current_services()
    form = {key: request.form.get(key, "") for key in ("template", "name", "overrides")}
    lines = [line.strip() for line in form["overrides"].splitlines() if line.strip()]
    try:
        with services.sessions.begin() as session:
            campaign = create_campaign(
                session,
                name=form["name"].strip(),
                template_name=form["template"],
                overrides=parse_overrides(lines),
                now=services.clock(),
            )
            name = campaign.name
    except (OptionError, CampaignError, FlowError) as exc:
        return _new_page(form, 400, str(exc))
    log.info(
        "campaign created from the console",
        extra={
            "action": "console.campaign_created",
            "campaign": name,
            "actor": signed_in().username,
        },
    )
    flash(f"{t('ad_created')} {name}", "ok")
    return redirect(url_for("console.campaign_page", name=name))


@bp.get("/admin/flows")
@console_page(StaffRole.ADMIN)
def admin_flows() -> str:
    """Every campaign's flow checked; problems listed per campaign, or "valid"."""
    with current_services().sessions() as session:
        checks = [
            check_campaign_flow(campaign)
            for campaign in session.scalars(select(Campaign).order_by(Campaign.name))
        ]
    return render_template("admin/flows.html", checks=checks)
