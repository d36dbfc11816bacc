"""Mail settings: defaults, STARTTLS by host, and every bad value named in one error."""

from __future__ import annotations

import pytest

from ivr.config import ConfigError, Settings, load_settings

MAIL = {
    "IVR_SMTP_HOST": "smtp.example.test",
    "IVR_SMTP_FROM": "ivr@example.test",
    "IVR_SUPERVISOR_EMAILS": "duty.supervisor@example.test, ward.lead@example.test",
}


def test_without_mail_settings_nothing_is_mailed_and_the_digest_is_at_eight_in_shanghai() -> None:
    """No host: mail is off; the digest defaults to 08:00 Asia/Shanghai, port 587."""
    settings = load_settings({})
    assert (settings.smtp_host, settings.supervisor_emails) == ("", ())
    assert (settings.smtp_port, settings.digest_hour, settings.digest_timezone) == (
        587,
        8,
        "Asia/Shanghai",
    )


def test_supervisor_addresses_are_split_on_commas_and_trimmed() -> None:
    """A comma-separated list, spaces ignored."""
    settings = load_settings(MAIL)
    assert settings.supervisor_emails == ("duty.supervisor@example.test", "ward.lead@example.test")


@pytest.mark.parametrize(
    ("host", "flag", "expected"),
    [
        ("smtp.example.test", None, True),
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("127.0.0.1", "on", True),
        ("smtp.example.test", "off", False),
    ],
)
def test_starttls_is_on_except_for_a_loopback_relay_unless_set(
    host: str, flag: str | None, expected: bool
) -> None:
    """A relay on the same machine usually speaks plain SMTP; anything else gets STARTTLS."""
    env = {**MAIL, "IVR_SMTP_HOST": host}
    if flag is not None:
        env["IVR_SMTP_STARTTLS"] = flag
    assert load_settings(env).smtp_starttls is expected


def test_the_password_never_shows_in_the_settings_repr() -> None:
    """Settings are printed in errors and debug logs; the SMTP password must not be."""
    settings = load_settings({**MAIL, "IVR_SMTP_USER": "ivr", "IVR_SMTP_PASSWORD": "s3cret-pw"})
    assert settings.smtp_password == "s3cret-pw"
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in repr(Settings(smtp_password="s3cret-pw"))


def test_every_bad_mail_setting_is_named_in_one_error() -> None:
    """Port, addresses, hour, zone, and a password that would travel in clear."""
    with pytest.raises(ConfigError) as raised:
        load_settings(
            {
                "IVR_SMTP_HOST": "smtp.example.test",
                "IVR_SMTP_PORT": "smtp",
                "IVR_SMTP_USER": "ivr",
                "IVR_SMTP_STARTTLS": "off",
                "IVR_SMTP_FROM": "not an address",
                "IVR_SUPERVISOR_EMAILS": "ok@example.test,nobody",
                "IVR_DIGEST_HOUR": "24",
                "IVR_DIGEST_TIMEZONE": "Asia/Atlantis",
            }
        )
    problems = "\n".join(raised.value.problems)
    for variable in (
        "IVR_SMTP_PORT",
        "IVR_SMTP_STARTTLS=off",
        "IVR_SMTP_FROM",
        "IVR_SUPERVISOR_EMAILS",
        "IVR_DIGEST_HOUR",
        "IVR_DIGEST_TIMEZONE",
    ):
        assert variable in problems
    assert len(raised.value.problems) == 6


def test_a_host_without_sender_or_supervisors_is_refused_at_start_up() -> None:
    """Otherwise the mistake would show only at the first overdue escalation."""
    with pytest.raises(ConfigError) as raised:
        load_settings({"IVR_SMTP_HOST": "smtp.example.test"})
    assert raised.value.problems == [
        "IVR_SMTP_FROM is required when IVR_SMTP_HOST is set",
        "IVR_SUPERVISOR_EMAILS is required when IVR_SMTP_HOST is set",
    ]
