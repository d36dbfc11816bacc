"""The staff console: server-rendered pages for agents, supervisors, compliance officers and
administrators, at /console.

csrf.py     a token per session, required on every form that changes something
i18n.py     the interface in Chinese or English (?lang=zh|en, then the browser's choice)
access.py   signed in (else the sign-in page) and the right role (else 403) for each page
pages.py    sign-in, sign-out and each role's home
templates/  Jinja templates; base.html has the navigation of each role
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the console's pages (after ivr.staff.auth, whose session they use)."""
    # Imported for their routes, which attach themselves to the blueprint.
    import ivr.console.admin_campaigns
    import ivr.console.admin_pages
    import ivr.console.agent_pages
    import ivr.console.campaign_downloads
    import ivr.console.campaign_pages
    import ivr.console.case_page
    import ivr.console.compliance_audit
    import ivr.console.compliance_pages
    import ivr.console.pages
    import ivr.console.supervisor_pages  # noqa: F401
    from ivr.console.blueprint import bp

    app.register_blueprint(bp)
