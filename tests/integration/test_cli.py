"""The `ivr` commands as a user runs them: environment in, text or JSON out, exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import responses

CSV_HEADER = "external_ref,name,phone,discharge_date,department,ward\n"


def ready(ivr: Any, tmp_path: Path, rows: str) -> Path:
    assert ivr("db", "upgrade").exit_code == 0
    created = ivr("campaigns", "create", "--template", "post-discharge", "--name", "ward-7")
    assert created.exit_code == 0, created.output
    path = tmp_path / "cases.csv"
    path.write_text(CSV_HEADER + rows, encoding="utf-8")
    return path


def test_every_command_explains_itself(ivr: Any) -> None:
    commands = [
        ("demo",),
        ("db", "upgrade"),
        ("campaigns", "create"),
        ("campaigns", "list"),
        ("cases", "import"),
        ("dial",),
        ("serve",),
        ("report",),
        ("queue", "list"),
        ("recordings", "fetch"),
    ]
    for command in commands:
        result = ivr(*command, "--help")
        assert result.exit_code == 0, command
        assert "Usage:" in result.output
    assert "IVR_CPS" in ivr("dial", "--help").output
    assert "retry_spacing" in ivr("campaigns", "create", "--help").output


def test_commands_refuse_a_database_that_is_not_migrated(ivr: Any) -> None:
    result = ivr("campaigns", "list")
    assert result.exit_code == 1
    assert "ivr db upgrade" in result.output


def test_db_upgrade_twice_says_it_is_current(ivr: Any) -> None:
    assert "upgraded" in ivr("db", "upgrade").output
    assert "already at revision" in ivr("db", "upgrade").output


def test_bad_environment_is_reported_in_one_message(ivr: Any) -> None:
    result = ivr("db", "upgrade", IVR_CPS="fast", TWILIO_ACCOUNT_SID="nope")
    assert result.exit_code == 2
    assert "IVR_CPS" in result.output and "TWILIO_ACCOUNT_SID" in result.output


def test_dialling_limits_are_read_and_checked(ivr: Any) -> None:
    """The dialler's caps name their variables when malformed, and `dial --help` names them."""
    result = ivr("db", "upgrade", IVR_MAX_CONCURRENT_CALLS="many", IVR_PROVIDER_MAX_IN_FLIGHT="0")
    assert result.exit_code == 2
    assert "IVR_MAX_CONCURRENT_CALLS" in result.output
    assert "IVR_PROVIDER_MAX_IN_FLIGHT" in result.output
    help_text = ivr("dial", "--help").output
    assert "IVR_MAX_CONCURRENT_CALLS" in help_text and "IVR_PROVIDER_MAX_IN_FLIGHT" in help_text


def test_campaign_options_are_checked_and_listed(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path, "")
    bad = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "x", "--set", "colour=red"
    )
    assert bad.exit_code == 1
    assert "colour" in bad.output and "max_attempts" in bad.output
    worse = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "y",
        "--set", "windows=25:00-26:00",
    )  # fmt: skip
    assert worse.exit_code == 1 and "windows" in worse.output
    good = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "z",
        "--set", "max_attempts=4", "--set", "retry_spacing=3h", "--set", "offset=72h",
    )  # fmt: skip
    assert good.exit_code == 0, good.output
    listed = json.loads(ivr("campaigns", "list", "--format", "json").output)
    assert [c["name"] for c in listed] == ["ward-7", "z"]
    assert listed[1]["options"]["max_attempts"] == "4"
    assert listed[1]["options"]["offset"] == "3d"
    assert "ward-7" in ivr("campaigns", "list").output


def test_import_reports_bad_lines_and_keeps_the_good(ivr: Any, tmp_path: Path) -> None:
    path = ready(
        ivr,
        tmp_path,
        "A-1,测试患者一,+12025550123,2029-12-31,Cardiology,W3\n"
        "A-2,测试患者二,not-a-phone,2029-12-31,Cardiology,W3\n"
        "A-3,测试患者三,+12025550124,2029-12-31,Cardiology,ICU\n",
    )
    result = ivr("cases", "import", str(path), "--campaign", "ward-7")
    assert result.exit_code == 1  # some lines were refused: a script must notice
    assert "2 imported (1 excluded" in result.output
    assert "line 3" in result.output and "phone" in result.output
    again = ivr("cases", "import", str(path), "--campaign", "ward-7")
    assert "0 imported" in again.output and "2 duplicates" in again.output
    unknown = ivr("cases", "import", str(path), "--campaign", "ward-9")
    assert unknown.exit_code == 1 and "ward-7" in unknown.output


def test_import_refuses_a_file_without_the_columns(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path, "")
    path = tmp_path / "wrong.csv"
    path.write_text("ref,who\n1,2\n", encoding="utf-8")
    result = ivr("cases", "import", str(path), "--campaign", "ward-7")
    assert result.exit_code == 1 and "missing required column" in result.output


@responses.activate
def test_dial_once_then_report_and_queue(ivr: Any, tmp_path: Path) -> None:
    path = ready(
        ivr,
        tmp_path,
        # Discharged long ago: the 10-day deadline has passed, so the case is closed unreached.
        "B-1,测试患者一,+12025550125,2020-01-01,Cardiology,W3\n",
    )
    assert ivr("cases", "import", str(path), "--campaign", "ward-7").exit_code == 0
    dialled = ivr("dial", "--once")
    assert dialled.exit_code == 0, dialled.output
    assert "claimed 0" in dialled.output
    report = json.loads(ivr("report", "--campaign", "ward-7", "--format", "json").output)
    assert report["cases"] == 1 and report["attempted"] == 0
    assert report["escalations"] == {"unreachable": 1}
    queue = json.loads(ivr("queue", "list", "--format", "json").output)
    assert [(q["external_ref"], q["reason"], q["status"]) for q in queue] == [
        ("B-1", "unreachable", "open")
    ]
    assert queue[0]["due"].endswith("Z")
    assert "B-1" in ivr("queue", "list").output
    assert "cases" in ivr("report", "--campaign", "ward-7").output


def test_dial_and_serve_refuse_without_twilio_settings(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path, "")
    no_token = ivr("dial", "--once", TWILIO_AUTH_TOKEN="")
    assert no_token.exit_code == 2 and "TWILIO_AUTH_TOKEN" in no_token.output
    no_url = ivr("serve", IVR_PUBLIC_BASE_URL="")
    assert no_url.exit_code == 2 and "IVR_PUBLIC_BASE_URL" in no_url.output


def test_recordings_fetch_with_nothing_pending(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path, "")
    result = ivr("recordings", "fetch")
    assert result.exit_code == 0, result.output
    assert "stored 0" in result.output


def test_campaign_with_a_broken_flow_file_is_refused(ivr: Any, tmp_path: Path) -> None:
    ready(ivr, tmp_path, "")
    flow = tmp_path / "mine.yaml"
    flow.write_text("id: mine\nlanguages: [zh-CN]\nstart: a\nnodes: {}\n", encoding="utf-8")
    result = ivr(
        "campaigns", "create", "--template", "post-discharge", "--name", "own",
        "--flow", str(flow),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "mine.yaml" in result.output


def test_recordings_reseal_needs_a_key_and_rewrites_clear_files_under_it(
    ivr: Any, env: dict[str, str]
) -> None:
    """Without IVR_RECORDINGS_KEY: exit 2, nothing touched. With it: a clear file is sealed."""
    import base64
    import hashlib
    from datetime import UTC, datetime

    from ivr.db import make_engine, make_sessions
    from ivr.models import Recording, RecordingStatus
    from ivr.telephony.sim_media import recording_wav
    from recordings.crypto import sealed_key_id

    assert ivr("db", "upgrade").exit_code == 0
    data = recording_wav(1.0)
    store = Path(env["IVR_RECORDINGS_DIR"])
    (store / "2030/01").mkdir(parents=True)
    (store / "2030/01/RE01.wav").write_bytes(data)
    engine = make_engine(env["IVR_DATABASE_URL"])
    with make_sessions(engine).begin() as session:
        session.add(
            Recording(
                recording_sid="RE01",
                call_sid="CA01",
                media_url="https://api.example.test/RE01",
                status=RecordingStatus.STORED,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                path="2030/01/RE01.wav",
                created_at=datetime(2030, 1, 7, 1, 0, tzinfo=UTC),
            )
        )
    engine.dispose()

    refused = ivr("recordings", "reseal")
    assert refused.exit_code == 2 and "IVR_RECORDINGS_KEY" in refused.output
    assert (store / "2030/01/RE01.wav").read_bytes() == data

    key = base64.b64encode(bytes(range(32))).decode()
    resealed = ivr("recordings", "reseal", IVR_RECORDINGS_KEY=key)
    assert resealed.exit_code == 0, resealed.output
    assert "resealed 1, skipped 0" in resealed.output
    assert sealed_key_id((store / "2030/01/RE01.wav").read_bytes()) is not None
    verified = ivr("recordings", "verify", IVR_RECORDINGS_KEY=key)
    assert verified.exit_code == 0, verified.output
