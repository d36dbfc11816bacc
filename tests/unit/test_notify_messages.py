"""The supervisors' messages, composed from plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ivr.notify.messages import Digest, EscalationLine, digest_message, overdue_message

NOW = datetime(2030, 1, 8, 2, 0, tzinfo=UTC)
TO = ("duty.supervisor@example.test",)


def line(
    eid: int, ref: str, *, holder: str | None = None, tz: str = "Asia/Shanghai"
) -> EscalationLine:
    return EscalationLine(
        id=eid,
        reason="complaint",
        priority=2,
        campaign="ward-7",
        case_ref=ref,
        due_at=datetime(2030, 1, 7, 16, 0, tzinfo=UTC),
        timezone=tz,
        holder=holder,
        status="open",
    )


def test_the_due_time_is_shown_in_the_campaigns_zone() -> None:
    """16:00 UTC is midnight in Shanghai and 11:00 in New York."""
    assert line(1, "P-1").due_local() == "2030-01-08 00:00 Asia/Shanghai"
    assert line(1, "P-1", tz="America/New_York").due_local() == "2030-01-07 11:00 America/New_York"


def test_the_overdue_message_lists_each_escalation_with_its_holder() -> None:
    """Id, reason, case reference, due time and who holds it; addressed and machine-marked."""
    message = overdue_message(
        [line(7, "P-7", holder="agent.lin"), line(9, "P-9")],
        sender="ivr@example.test",
        to=TO,
        now=NOW,
    )
    assert message["Subject"] == "[ivr] 2 escalations are overdue"
    assert (message["From"], message["To"]) == ("ivr@example.test", TO[0])
    assert message["Auto-Submitted"] == "auto-generated"
    body = message.get_content()
    rows = [row.split() for row in body.splitlines() if row.startswith("#")]
    assert rows == [
        [
            "#7",
            "complaint",
            "2",
            "ward-7",
            "P-7",
            "2030-01-08",
            "00:00",
            "Asia/Shanghai",
            "agent.lin",
        ],
        [
            "#9",
            "complaint",
            "2",
            "ward-7",
            "P-9",
            "2030-01-08",
            "00:00",
            "Asia/Shanghai",
            "nobody",
            "(unclaimed)",
        ],
    ]


def test_one_overdue_escalation_reads_in_the_singular() -> None:
    """`1 escalation is overdue`, not `1 escalations are`."""
    message = overdue_message([line(7, "P-7")], sender="ivr@example.test", to=TO, now=NOW)
    assert message["Subject"] == "[ivr] 1 escalation is overdue"


def test_the_digest_says_none_for_empty_sections_and_counts_by_reason() -> None:
    """Each section has a count; empty ones say none; reasons are sorted with open / overdue."""
    digest = Digest(
        today=date(2030, 1, 8),
        next_working_day=date(2030, 1, 9),
        timezone="Asia/Shanghai",
        overdue=(line(7, "P-7"),),
        due_today=(),
        due_next=(),
        by_reason={"complaint": (3, 1), "bad_line": (1, 0)},
    )
    body = digest_message(digest, sender="ivr@example.test", to=TO, now=NOW).get_content()
    assert "Overdue: 1" in body and "Due today: 0\n  none" in body
    assert "Due by the end of the next working day, Wed 2030-01-09: 0\n  none" in body
    tail = body.split("by reason (open / of which overdue):\n")[1].splitlines()
    assert [row.split() for row in tail] == [
        ["bad_line", "1", "/", "0"],
        ["complaint", "3", "/", "1"],
    ]
