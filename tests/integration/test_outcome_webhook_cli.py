"""`ivr campaigns webhook-secret`, `ivr webhooks deliver` and `ivr webhooks list` as a user runs
them, against a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.outcome_receiver import serve_receiver

CSV = (
    "external_ref,name,phone,discharge_date,department,ward\n"
    "P-ICU,测试一,+12025550101,2029-12-31,Cardiology,ICU\n"
)


def test_secret_shown_once_signs_what_deliver_sends_and_list_shows_it(
    ivr: Any, tmp_path: Path
) -> None:
    """The printed secret verifies the POST; the list shows the event delivered."""
    with serve_receiver() as receiver:
        assert ivr("db", "upgrade").exit_code == 0
        created = ivr(
            "campaigns",
            "create",
            "--template",
            "post-discharge",
            "--name",
            "ward-7",
            "--set",
            f"outcome_webhook_url={receiver.url}",
        )
        assert created.exit_code == 0, created.output
        made = ivr("campaigns", "webhook-secret", "ward-7")
        assert made.exit_code == 0, made.output
        receiver.secret = made.stdout.strip()
        path = tmp_path / "cases.csv"
        path.write_text(CSV, encoding="utf-8")
        assert ivr("cases", "import", str(path), "--campaign", "ward-7").exit_code == 0

        delivered = ivr("webhooks", "deliver")
        listed = ivr("webhooks", "list", "--format", "json")
        table = ivr("webhooks", "list", "--campaign", "ward-7", "--status", "delivered")
        none_failed = ivr("webhooks", "list", "--status", "failed", "--format", "json")

    assert receiver.secret.startswith("whsec_")
    assert "shown only now" in made.stderr
    assert "1 delivered, 0 to retry, 0 failed" in delivered.output
    assert 1 == len(receiver.requests)
    assert 0 == receiver.bad_signatures
    (row,) = json.loads(listed.output)
    assert ("P-ICU", "delivered", 1) == (row["external_ref"], row["status"], row["tries"])
    assert receiver.requests[0].headers["X-IVR-Event-Id"] == row["event_id"]
    assert table.exit_code == 0 and "P-ICU" in table.output and "case.closed" in table.output
    assert [] == json.loads(none_failed.output)


def test_a_new_secret_replaces_the_old_one(ivr: Any) -> None:
    """Running the command again rotates the secret: the first one no longer matches."""
    assert ivr("db", "upgrade").exit_code == 0
    assert ivr("campaigns", "create", "--template", "post-discharge", "--name", "w").exit_code == 0

    first = ivr("campaigns", "webhook-secret", "w").stdout.strip()
    second = ivr("campaigns", "webhook-secret", "w").stdout.strip()

    assert first != second


def test_webhook_url_must_be_https_unless_it_is_this_machine(ivr: Any) -> None:
    """Plain http to another host is refused at creation, naming the rule."""
    assert ivr("db", "upgrade").exit_code == 0

    refused = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "w",
        "--set", "outcome_webhook_url=http://crm.example.test/hook",
    )  # fmt: skip
    accepted = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "w",
        "--set", "outcome_webhook_url=https://crm.example.test/hook",
    )  # fmt: skip

    assert refused.exit_code != 0
    assert "must be an https:// URL" in refused.output
    assert accepted.exit_code == 0, accepted.output


def test_webhook_secret_for_an_unknown_campaign_names_the_ones_there(ivr: Any) -> None:
    """One error line, no traceback, nothing changed."""
    assert ivr("db", "upgrade").exit_code == 0

    result = ivr("campaigns", "webhook-secret", "nope")

    assert result.exit_code == 1
    assert "no campaign named 'nope'" in result.output


def test_webhook_commands_explain_themselves(ivr: Any) -> None:
    """Each --help names the settings it reads."""
    for command in (("webhooks", "deliver"), ("webhooks", "list"), ("campaigns", "webhook-secret")):
        result = ivr(*command, "--help")
        assert result.exit_code == 0
        assert "IVR_SECRET_KEY" in result.output


def test_the_webhook_url_can_be_set_on_a_running_campaign(ivr: Any) -> None:
    """Read from the campaign's row at each outcome: `campaigns update` may change it."""
    assert ivr("db", "upgrade").exit_code == 0
    assert ivr("campaigns", "create", "--template", "post-discharge", "--name", "w").exit_code == 0

    plain = ivr(
        "campaigns", "update", "w", "--set", "outcome_webhook_url=http://crm.example.test/h"
    )
    updated = ivr(
        "campaigns", "update", "w", "--set", "outcome_webhook_url=https://crm.example.test/h"
    )
    shown = ivr("campaigns", "show", "w", "--format", "json")

    assert plain.exit_code == 1
    assert updated.exit_code == 0, updated.output
    assert "https://crm.example.test/h" in shown.output
