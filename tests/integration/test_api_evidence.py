"""Uploading a signed receipt's scan over /api/v1, then resolving with it; SQLite and PostgreSQL.

Every answer is checked against the OpenAPI document (tests.integration.api_client).
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import Any

import pytest
from sqlalchemy import select

from ivr.config import Settings
from ivr.models import AuditEntry, Evidence, EvidenceKind
from ivr.queue.evidence import MAX_SCAN_BYTES
from ivr.services import Services
from tests.conftest import FakeClock
from tests.integration.api_client import CLAIM, ONE, RESOLVE
from tests.integration.test_api_queue import World, build_world
from tests.integration.test_queue_actions import PDF, SID

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

EVIDENCE = "/api/v1/escalations/{escalation_id}/evidence"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def world(settings: Settings, services: Services, clock: FakeClock) -> World:
    return build_world(settings, services, clock)


def upload(
    world: World,
    user: str,
    escalation_id: int,
    data: bytes = PDF,
    filename: str = "receipt.pdf",
    content_type: str | None = None,
    **fields: Any,
) -> Any:
    """POST the file as multipart/form-data in the part `file`, with any other fields."""
    part: tuple[Any, ...] = (BytesIO(data), filename)
    if content_type is not None:
        part = (*part, content_type)
    return world.api.post(
        EVIDENCE,
        user,
        escalation_id=escalation_id,
        data={"file": part, **fields},
        content_type="multipart/form-data",
    )


BOUNDARY = "fictional-boundary-7f3a"


def raw_multipart(data: bytes) -> bytes:
    """A one-file multipart body built by hand: for a large file the test client's own encoder
    spools to a temporary file it never closes (a ResourceWarning, an error under our filters)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json["error"]["code"]


def test_an_uploaded_scan_is_stored_linked_audited_and_lets_a_letter_close_the_case(
    world: World, services: Services, settings: Settings
) -> None:
    """The holder uploads; the same file again is the same link; resolve then accepts the letter."""
    api = world.api
    assert 200 == api.post(CLAIM, "ann", escalation_id=world.missell).status_code
    recorded_only = api.post(
        RESOLVE,
        "ann",
        escalation_id=world.missell,
        json={"outcome": "letter_sent", "recording_sid": SID},
    )
    assert (422, "evidence_required") == error_of(recorded_only)
    assert "a recording proves a call" in recorded_only.json["error"]["message"]
    first = upload(world, "ann", world.missell, note="signed receipt, posted back")
    assert 201 == first.status_code, first.json
    body = first.json
    digest = hashlib.sha256(PDF).hexdigest()
    assert ("scan", "application/pdf", digest, len(PDF), "ann") == (
        body["kind"],
        body["media_type"],
        body["sha256"],
        body["size_bytes"],
        body["added_by"],
    )
    assert body["path"].startswith("evidence/") and body["path"].endswith(f"{digest}.pdf")
    assert PDF == (settings.recordings_dir / body["path"]).read_bytes()
    again = upload(world, "ann", world.missell, filename="copy.PDF")
    assert (200, body["id"]) == (again.status_code, again.json["id"])
    view = api.get(ONE, "ann", escalation_id=world.missell).json
    assert [body["id"]] == [e["id"] for e in view["evidence"]]
    assert "evidence_added" in [event["action"] for event in view["history"]]
    done = api.post(RESOLVE, "ann", escalation_id=world.missell, json={"outcome": "letter_sent"})
    assert 200 == done.status_code, done.json
    assert ("resolved", "letter_sent") == (done.json["status"], done.json["outcome"])
    with services.sessions() as session:
        audited = list(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_kind == "escalation",
                    AuditEntry.object_id == str(world.missell),
                )
            )
        )
        kinds = list(session.scalars(select(Evidence.kind)))
    assert ["escalation.evidence_added", "escalation.resolve"] == audited
    assert [EvidenceKind.SCAN] == kinds
    closed = upload(world, "ann", world.missell, data=PNG, filename="late.png")
    assert (409, "conflict") == error_of(closed)


def test_only_who_may_resolve_may_upload(world: World) -> None:
    """Not before claiming, not outside the scope, never the policy's seller; a supervisor may."""
    assert (403, "forbidden") == error_of(upload(world, "ann", world.missell))
    assert (403, "forbidden") == error_of(upload(world, "cara", world.missell))
    assert (403, "forbidden") == error_of(upload(world, "carl", world.missell))
    assert 201 == upload(world, "sue", world.missell).status_code
    assert (404, "not_found") == error_of(upload(world, "sue", 999_999))
    assert 401 == upload(world, "nobody", world.missell).status_code


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        (b"GIF89a fictional", "receipt.gif", "image/gif", "not a PDF, PNG, JPEG or TIFF"),
        (b"PK\x03\x04 a docx", "receipt.pdf", None, "not a PDF, PNG, JPEG or TIFF"),
        (PNG, "receipt.pdf", None, "named .pdf but its content is image/png"),
        (PDF, "receipt", "image/jpeg", "sent as image/jpeg"),
        (b"", "receipt.pdf", None, "empty"),
    ],
)
def test_a_file_that_is_not_a_scan_is_422_and_nothing_is_stored(
    world: World,
    services: Services,
    data: bytes,
    filename: str,
    content_type: str | None,
    message: str,
) -> None:
    """The content decides the type; a name or a type that disagrees is refused."""
    refused = upload(world, "sue", world.missell, data, filename, content_type)
    assert (422, "invalid_scan") == error_of(refused)
    assert message in refused.json["error"]["message"]
    with services.sessions() as session:
        assert [] == list(session.scalars(select(Evidence.id)))


def test_malformed_uploads_are_4xx_never_500(world: World) -> None:
    """Not multipart, no file, two files, unknown fields, a body over the scan limit."""
    api = world.api
    as_json = api.post(EVIDENCE, "sue", escalation_id=world.missell, json={"file": "x"})
    assert (415, "unsupported_media_type") == error_of(as_json)
    no_file = api.post(
        EVIDENCE,
        "sue",
        escalation_id=world.missell,
        data={"note": "forgot it"},
        content_type="multipart/form-data",
    )
    assert (400, "invalid_request") == error_of(no_file)
    two = api.post(
        EVIDENCE,
        "sue",
        escalation_id=world.missell,
        data={"file": [(BytesIO(PDF), "a.pdf"), (BytesIO(PDF), "b.pdf")]},
        content_type="multipart/form-data",
    )
    assert (400, "invalid_request") == error_of(two)
    extra = upload(world, "sue", world.missell, other="x")
    assert (400, "invalid_request") == error_of(extra)
    assert "unknown fields: other" in extra.json["error"]["message"]
    for size in (MAX_SCAN_BYTES + 1, MAX_SCAN_BYTES + 128 * 1024):  # the file, then the body
        huge = api.post(
            EVIDENCE,
            "sue",
            escalation_id=world.missell,
            data=raw_multipart(b"%PDF-" + b"0" * (size - 5)),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        )
        assert (413, "payload_too_large") == error_of(huge)
    note = upload(world, "sue", world.missell, note="x" * 2001)
    assert (400, "invalid_request") == error_of(note)


def test_the_upload_is_in_the_openapi_document(world: World) -> None:
    """The path, its multipart body and its answers are described."""
    spec = world.api.client.get("/api/v1/openapi.json").json
    operation = spec["paths"][EVIDENCE]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert {"200", "201", "400", "401", "403", "404", "409", "413", "415", "422"} == set(
        operation["responses"]
    )
    assert "UploadedEvidence" in spec["components"]["schemas"]
