"""The case file export: the zip's contents and checksums, what it leaves out, its audit entry,
CSRF and roles; through the Flask test client on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import Recording
from ivr.privacy import mask_phone
from ivr.services import Services
from tests.conftest import FakeClock
from tests.console.support import form_token
from tests.console.test_compliance_pages import (
    FACT_HASH,
    PHONE_P1,
    World,
    build_world,
    client_of,
)
from tests.integration.test_replay import replays

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    return build_world(settings, services, clock)


def export(client: FlaskClient, world: World) -> tuple[int, bytes, dict[str, str]]:
    """Open the replay page, then post its export form with the page's CSRF token."""
    page = client.get(f"/console/recordings/{world.recording_id}")
    answer = client.post(
        f"/console/cases/{world.p1_case}/export", data={"csrf_token": form_token(page)}
    )
    return answer.status_code, answer.data, dict(answer.headers)


def manifest_lines(archive: zipfile.ZipFile) -> list[str]:
    return archive.read("manifest.txt").decode().splitlines()


def test_the_case_file_holds_the_case_timelines_and_recording_with_checksums(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """Every file's SHA-256 in the manifest matches it; the recording is the stored bytes and
    matches the checksum recorded when it was stored."""
    status, data, headers = export(client_of(world, "cora"), world)
    assert 200 == status
    assert f'attachment; filename="case-{world.p1_case}.zip"' == headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    with sessions() as session:
        stored = session.get_one(Recording, world.recording_id)
        sid, sha = stored.recording_sid, stored.sha256
    names = sorted(archive.namelist())
    expected = sorted(
        [
            "case.json",
            f"timelines/recording-{world.recording_id}.json",
            f"recordings/{sid}.wav",
            "manifest.txt",
        ]
    )
    assert expected == names
    listed = {}
    for line in manifest_lines(archive):
        if not line.startswith("#"):
            digest, name = line.split("  ", 1)
            listed[name] = digest
    assert {n for n in names if n != "manifest.txt"} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    assert world.recording == archive.read(f"recordings/{sid}.wav")
    assert f"# stored {sha}  recordings/{sid}.wav  match" in manifest_lines(archive)


def test_case_json_has_answers_escalations_and_no_identity_facts(world: World) -> None:
    """Answers by attempt, the escalation with its history and evidence; the fact hash, the
    contact's name and the full phone number are nowhere in the zip."""
    _, data, _ = export(client_of(world, "cora"), world)
    archive = zipfile.ZipFile(io.BytesIO(data))
    case = json.loads(archive.read("case.json"))
    assert "P-0001" == case["external_ref"]
    assert {"diagnosis": "fictional-diagnosis-x"} == case["details"]
    assert mask_phone(PHONE_P1) == case["contact"]["phone"]
    assert [[("pain", "3"), ("wound", None)], []] == [
        [(a["question"], a["value"]) for a in attempt["answers"]] for attempt in case["attempts"]
    ]
    (escalation,) = case["escalations"]
    assert "low_satisfaction" == escalation["reason"]
    assert escalation["history"] and escalation["history"][0]["action"]
    assert [("recording", world.recording_id)] == [
        (e["kind"], e["recording_id"]) for e in escalation["evidence"]
    ]
    assert "ok" == case["recordings"][0]["integrity"]
    timeline = json.loads(archive.read(f"timelines/recording-{world.recording_id}.json"))
    assert [0.0, 5.0, 30.0] == [e["offset_s"] for e in timeline["events"]]
    for name in archive.namelist():
        text = archive.read(name)
        assert FACT_HASH.encode() not in text
        assert PHONE_P1.encode() not in text and "测试患者".encode() not in text


def test_the_export_is_audited_with_the_zips_checksum(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """One `case.export` entry by the exporter, naming the zip's SHA-256 and the recordings."""
    _, data, headers = export(client_of(world, "adam"), world)
    (entry,) = replays(sessions, "case.export")
    assert ("adam", str(world.p1_case)) == (entry.actor, entry.object_id)
    assert hashlib.sha256(data).hexdigest() == entry.detail["zip_sha256"]
    assert headers["X-Content-SHA256"] == entry.detail["zip_sha256"]
    assert [world.recording_id] == entry.detail["recordings"]


def test_a_missing_recording_is_named_in_the_manifest_not_zipped(
    world: World, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The stored file deleted behind our back: the zip says `missing` and holds no audio."""
    with sessions() as session:
        stored = session.get_one(Recording, world.recording_id)
        path, sid = stored.path, stored.recording_sid
    assert path is not None
    (settings.recordings_dir / path).unlink()
    _, data, _ = export(client_of(world, "cora"), world)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert f"recordings/{sid}.wav" not in archive.namelist()
    assert any(line.endswith(f"recordings/{sid}.wav  missing") for line in manifest_lines(archive))
    assert "missing" == json.loads(archive.read("case.json"))["recordings"][0]["integrity"]


def test_an_export_without_its_csrf_token_is_refused(
    world: World, sessions: sessionmaker[Session]
) -> None:
    """No token, or a forged one: 400, no zip, no entry."""
    client = client_of(world, "cora")
    path = f"/console/cases/{world.p1_case}/export"
    assert 400 == client.post(path).status_code
    assert 400 == client.post(path, data={"csrf_token": "forged"}).status_code
    assert [] == replays(sessions, "case.export")


@pytest.mark.parametrize("username", ["ann", "sue"])
def test_agents_and_supervisors_may_not_export(
    world: World, sessions: sessionmaker[Session], username: str
) -> None:
    """With a valid token still 403: the export is for compliance and administrators."""
    client = client_of(world, username)
    token = form_token(client.get("/console/"))
    answer = client.post(f"/console/cases/{world.p1_case}/export", data={"csrf_token": token})
    assert 403 == answer.status_code
    assert [] == replays(sessions, "case.export")


def test_exporting_an_unknown_case_is_a_404(world: World) -> None:
    """Nothing to export, nothing audited."""
    client = client_of(world, "cora")
    token = form_token(client.get("/console/calls"))
    assert 404 == client.post("/console/cases/999/export", data={"csrf_token": token}).status_code
