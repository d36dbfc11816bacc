"""S3Store against moto's S3 server on 127.0.0.1: real HTTP, boto3 pointed at it, no AWS.

`MotoS3` and `fake_aws_environment` are shared with the other recording tests that need a bucket.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from ivr.config import ConfigError, Settings, load_settings
from recordings.s3 import S3Store, s3_client
from recordings.store import StoreError, StorePathError, open_store

REGION = "us-east-1"
# Dummy credentials, and no shared files or instance metadata: nothing may reach real AWS.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class MotoS3:
    """moto's S3 server on a free port of 127.0.0.1, and fresh buckets on it."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._access_log = logging.getLogger("werkzeug")
        self._level = self._access_log.level

    def __enter__(self) -> MotoS3:
        # The server logs each request at INFO; a CLI under test would print them with its output.
        self._access_log.setLevel(logging.WARNING)
        with pytest.MonkeyPatch.context() as env:
            for name, value in FAKE_AWS.items():
                env.setenv(name, value)
            self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()
        self._access_log.setLevel(self._level)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self) -> Any:
        """A plain boto3 client on the server, for looking behind the store's back."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def new_bucket(self) -> str:
        """A new, empty bucket: tests never see each other's objects."""
        name = f"ivr-test-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point boto3's credential chain at dummies for this test."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoS3]:
    """One S3 server for this module."""
    with MotoS3() as server:
        yield server


@pytest.fixture
def s3_settings(moto: MotoS3, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings naming a fresh bucket on the moto server, with a key prefix."""
    fake_aws_environment(monkeypatch)
    return settings.with_(
        recordings_store="s3",
        s3_bucket=moto.new_bucket(),
        s3_prefix="ivr/recordings",
        s3_endpoint_url=moto.endpoint_url,
        s3_region=REGION,
    )


def test_open_store_writes_under_the_prefix_in_the_bucket(
    moto: MotoS3, s3_settings: Settings
) -> None:
    """The configured bucket and prefix hold the object; nothing else is written."""
    store = open_store(s3_settings)
    store.put("2030/01/REa.wav", b"RIFF-a")

    listed = moto.client().list_objects_v2(Bucket=s3_settings.s3_bucket)
    assert isinstance(store, S3Store)
    assert ["ivr/recordings/2030/01/REa.wav"] == [item["Key"] for item in listed["Contents"]]


def test_objects_outside_the_prefix_are_not_the_stores(moto: MotoS3, s3_settings: Settings) -> None:
    """Another application's objects in the same bucket are neither listed nor readable."""
    raw = moto.client()
    raw.put_object(Bucket=s3_settings.s3_bucket, Key="other-app/2030/01/REa.wav", Body=b"x")
    raw.put_object(Bucket=s3_settings.s3_bucket, Key="ivr/recordings/2030/", Body=b"")  # marker
    store = open_store(s3_settings)
    store.put("2030/01/REb.wav", b"RIFF-b")

    assert ["2030/01/REb.wav"] == list(store.files())
    with pytest.raises(FileNotFoundError):
        store.read("other-app/2030/01/REa.wav")  # i.e. ivr/recordings/other-app/...
    with pytest.raises(StorePathError):
        store.read("../../other-app/2030/01/REa.wav")


def test_a_missing_bucket_is_a_store_error_naming_it(moto: MotoS3, s3_settings: Settings) -> None:
    """A bucket that does not exist fails with OSError (StoreError), as a full disk would."""
    store = open_store(s3_settings.with_(s3_bucket="ivr-test-no-such-bucket"))

    with pytest.raises(StoreError, match=r"ivr-test-no-such-bucket.*NoSuchBucket"):
        store.put("2030/01/REa.wav", b"RIFF")


def test_an_unreachable_endpoint_is_a_store_error(unused_port: int) -> None:
    """A refused connection is StoreError (an OSError the fetcher backs off on), not a crash."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{unused_port}",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3Store(client, "ivr-test-bucket")

    with pytest.raises(
        StoreError, match=re.escape("could not write s3://ivr-test-bucket/2030/01/REa.wav")
    ):
        store.put("2030/01/REa.wav", b"RIFF")
    with pytest.raises(StoreError):
        list(store.files())


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_s3_without_a_bucket_is_a_config_error() -> None:
    """Choosing s3 and naming no bucket is refused at start-up with the variable named."""
    with pytest.raises(ConfigError) as caught:
        load_settings({"IVR_RECORDINGS_STORE": "s3"})

    assert ["IVR_S3_BUCKET is required when IVR_RECORDINGS_STORE=s3"] == caught.value.problems


def test_open_store_refuses_s3_settings_without_a_bucket(settings: Settings) -> None:
    """Settings built in code get the same message from the factory."""
    with pytest.raises(ConfigError, match="IVR_S3_BUCKET is required"):
        open_store(settings.with_(recordings_store="s3"))


def test_s3_settings_are_read_from_the_environment() -> None:
    """Bucket, prefix (slashes trimmed), endpoint, region and addressing style."""
    loaded = load_settings(
        {
            "IVR_RECORDINGS_STORE": "s3",
            "IVR_S3_BUCKET": "hospital-recordings",
            "IVR_S3_PREFIX": "/ivr/recordings/",
            "IVR_S3_ENDPOINT_URL": "http://127.0.0.1:9000/",
            "IVR_S3_REGION": "cn-north-1",
            "IVR_S3_ADDRESSING_STYLE": "virtual",
        }
    )

    assert ("s3", "hospital-recordings", "ivr/recordings", "http://127.0.0.1:9000") == (
        loaded.recordings_store,
        loaded.s3_bucket,
        loaded.s3_prefix,
        loaded.s3_endpoint_url,
    )
    assert ("cn-north-1", "virtual") == (loaded.s3_region, loaded.s3_addressing_style)


def test_bad_s3_settings_are_all_reported_at_once() -> None:
    """An unknown store, a bad endpoint and a bad addressing style each get a line."""
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "IVR_RECORDINGS_STORE": "ftp",
                "IVR_S3_ENDPOINT_URL": "minio:9000",
                "IVR_S3_ADDRESSING_STYLE": "dns",
            }
        )

    problems = caught.value.problems
    assert 3 == len(problems)
    assert any("IVR_RECORDINGS_STORE must be local or s3" in p for p in problems)
    assert any("IVR_S3_ENDPOINT_URL must be an http(s) URL" in p for p in problems)
    assert any("IVR_S3_ADDRESSING_STYLE must be path or virtual" in p for p in problems)


def test_a_custom_endpoint_uses_path_style_addressing() -> None:
    """MinIO answers on one host name: the bucket goes in the path, not in a subdomain."""
    client = s3_client("http://127.0.0.1:9000", REGION, None)

    assert "path" == client.meta.config.s3["addressing_style"]
    assert (
        "virtual"
        == s3_client("http://127.0.0.1:9000", REGION, "virtual").meta.config.s3["addressing_style"]
    )
