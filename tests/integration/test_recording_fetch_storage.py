"""Fetch then verify through each kind of store: S3 (moto on 127.0.0.1) and encrypted at rest."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import responses
from sqlalchemy.orm import Session, sessionmaker

from ivr.config import Settings
from ivr.models import RecordingStatus
from ivr.services import Services
from ivr.telephony.twilio import TwilioTelephony
from recordings.crypto import RecordingKey, is_sealed, sealed_key_id
from recordings.fetch import fetch_due
from recordings.store import open_store
from recordings.verify import Finding, verify_store
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FakeClock
from tests.integration.test_recording_fetch import BASE_URL, SID, WAV, announce, load
from tests.integration.test_recording_fetch_faults import Provider
from tests.integration.test_s3_store import REGION, MotoS3, fake_aws_environment

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)

KEY = RecordingKey(bytes(range(1, 33)))
EVIDENCE = f"2030/01/{SID}.wav"
LISTEN = f"2030/01/{SID}.listen.mp3"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """One S3 server for this module."""
    with MotoS3() as server:
        yield server


@pytest.fixture
def provider() -> Iterator[Provider]:
    """The fake provider (media and deletes at HTTP)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield Provider(mocked)


def services_on(settings: Settings, sessions: sessionmaker[Session], clock: FakeClock) -> Services:
    """Services with the real Twilio adapter and the given settings."""
    telephony = TwilioTelephony(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=BASE_URL, sleep=lambda _: None
    )
    return Services(settings=settings, sessions=sessions, clock=clock, telephony=telephony)


@pytest.fixture
def s3_settings(moto: MotoS3, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh bucket, with a prefix, on the moto server."""
    fake_aws_environment(monkeypatch)
    return settings.with_(
        recordings_store="s3",
        s3_bucket=moto.new_bucket(),
        s3_prefix="ivr",
        s3_endpoint_url=moto.endpoint_url,
        s3_region=REGION,
    )


def test_fetch_then_verify_through_s3(
    moto: MotoS3,
    s3_settings: Settings,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    provider: Provider,
) -> None:
    """Stored in the bucket, verified intact; a changed object is then reported as altered."""
    services = services_on(s3_settings, sessions, clock)
    provider.add(SID, WAV)
    row_id = announce(services)

    fetch_due(services)

    raw = moto.client()
    keys = [o["Key"] for o in raw.list_objects_v2(Bucket=s3_settings.s3_bucket)["Contents"]]
    assert [f"ivr/{LISTEN}", f"ivr/{EVIDENCE}"] == keys
    assert WAV == raw.get_object(Bucket=s3_settings.s3_bucket, Key=f"ivr/{EVIDENCE}")["Body"].read()
    assert (RecordingStatus.STORED, None) == (
        load(services, row_id).status,
        load(services, row_id).key_id,
    )
    report = verify_store(sessions, open_store(s3_settings))
    assert (1, 1, []) == (report.checked, report.intact, report.findings)

    altered = bytearray(WAV)
    altered[200] ^= 0x01
    raw.put_object(Bucket=s3_settings.s3_bucket, Key=f"ivr/{EVIDENCE}", Body=bytes(altered))
    raw.put_object(Bucket=s3_settings.s3_bucket, Key="ivr/2030/01/REstray.wav", Body=b"RIFF")
    report = verify_store(sessions, open_store(s3_settings))
    assert ["altered", "unreferenced"] == [f.kind for f in report.findings]
    assert not report.ok


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_an_encrypted_fetch_records_the_key_and_the_plain_audios_checksum(
    backend: str,
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: FakeClock,
    provider: Provider,
    request: pytest.FixtureRequest,
) -> None:
    """Sealed at rest (evidence and copy), checksum of the audio as served, verify decrypts."""
    chosen = request.getfixturevalue("s3_settings") if backend == "s3" else settings
    keyed = chosen.with_(recordings_key=KEY.to_base64())
    services = services_on(keyed, sessions, clock)
    provider.add(SID, WAV)
    row_id = announce(services)

    fetch_due(services)

    row = load(services, row_id)
    at_rest = open_store(chosen)  # the same backend without the key: the bytes as kept
    assert (KEY.key_id, hashlib.sha256(WAV).hexdigest(), len(WAV)) == (
        row.key_id,
        row.sha256,
        row.size_bytes,
    )
    assert LISTEN == row.listen_path
    for path in (EVIDENCE, LISTEN):
        blob = at_rest.read(path)
        assert is_sealed(blob) and KEY.key_id == sealed_key_id(blob)
    assert WAV == open_store(keyed).read(EVIDENCE)
    report = verify_store(sessions, open_store(keyed))
    assert (1, 1, []) == (report.checked, report.intact, report.findings)


def test_verify_without_the_key_says_unreadable_not_altered(
    settings: Settings, sessions: sessionmaker[Session], clock: FakeClock, provider: Provider
) -> None:
    """Run without IVR_RECORDINGS_KEY: each encrypted file is unreadable, and why."""
    keyed = settings.with_(recordings_key=KEY.to_base64())
    provider.add(SID, WAV)
    announce(services_on(keyed, sessions, clock))
    fetch_due(services_on(keyed, sessions, clock))

    report = verify_store(sessions, open_store(settings))

    detail = f"encrypted with key {KEY.key_id}; IVR_RECORDINGS_KEY is not set"
    assert [Finding("unreadable", EVIDENCE, SID, detail)] == report.findings
    assert not report.ok
