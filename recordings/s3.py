"""Recordings in an S3-compatible bucket (AWS S3, MinIO, Ceph, other S3-compatible stores).

Objects are keyed "<prefix>/<relative path>", the same relative paths LocalStore uses. A PUT is
all or nothing by nature: readers see the old object or the new one, never a part. Credentials
come from boto3's usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the
instance role); nothing secret is kept in our settings.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from recordings.store import StoreError, check_path

if TYPE_CHECKING:
    from ivr.config import Settings

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_CHUNK = 1 << 20


class S3Store:
    """A bucket (and a key prefix inside it) holding recordings by relative path."""

    key_id: str | None = None  # objects are written as given

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise ValueError("S3Store needs a bucket")
        self.client = client
        self.bucket = bucket
        clean = prefix.strip("/")
        self.prefix = f"{clean}/" if clean else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        """The bucket IVR_S3_* names; ConfigError if there is none."""
        if not settings.s3_bucket:
            from ivr.config import ConfigError

            raise ConfigError(["IVR_S3_BUCKET is required when IVR_RECORDINGS_STORE=s3"])
        client = s3_client(
            settings.s3_endpoint_url or None,
            settings.s3_region or None,
            settings.s3_addressing_style or None,
        )
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def put(self, relative_path: str, data: bytes) -> None:
        """Upload the object; S3 checks Content-MD5, so a body damaged on the way is refused."""
        key = self._key(relative_path)
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentMD5=md5)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "write", key)

    def read(self, relative_path: str) -> bytes:
        """Return the object's bytes; FileNotFoundError if there is none."""
        key = self._key(relative_path)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            data: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "read", key)
        return data

    def open(self, relative_path: str) -> BinaryIO:
        """The object as a stream (read whole: a call recording is a few MB)."""
        return io.BytesIO(self.read(relative_path))

    def exists(self, relative_path: str) -> bool:
        """Tell whether an object is stored at the path."""
        key = self._key(relative_path)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            self._fail(exc, "look up", key)
        except BotoCoreError as exc:
            self._fail(exc, "look up", key)
        return True

    def delete(self, relative_path: str) -> bool:
        """Remove the object; False if there was none."""
        # S3's DELETE answers 204 whether or not the object existed: ask first. Two deleters
        # racing may both say True; the object is gone either way.
        if not self.exists(relative_path):
            return False
        key = self._key(relative_path)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "delete", key)
        return True

    def files(self) -> Iterator[str]:
        """Every object under the prefix as a relative path, in S3's order (UTF-8, so sorted)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    key: str = item["Key"]
                    if not key.endswith("/"):  # "folder" markers some consoles create
                        yield key[len(self.prefix) :]
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "list", self.prefix or "/")

    def digest(self, relative_path: str) -> tuple[str, int]:
        """SHA-256 (hex) and size of the object, streamed in chunks; FileNotFoundError if none."""
        key = self._key(relative_path)
        sha = hashlib.sha256()
        size = 0
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            for chunk in body.iter_chunks(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, "read", key)
        return sha.hexdigest(), size

    def _key(self, relative_path: str) -> str:
        return self.prefix + check_path(relative_path).as_posix()

    def _fail(self, exc: ClientError | BotoCoreError, action: str, key: str) -> NoReturn:
        """Raise FileNotFoundError for a missing object, StoreError for anything else."""
        where = f"s3://{self.bucket}/{key}"
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in _MISSING:
                raise FileNotFoundError(f"no object at {where}") from exc
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise StoreError(
                f"the object store refused to {action} {where} ({code}, HTTP {status})"
            ) from exc
        raise StoreError(f"could not {action} {where} ({type(exc).__name__}: {exc})") from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@cache
def s3_client(endpoint_url: str | None, region: str | None, addressing_style: str | None) -> Any:
    """A boto3 S3 client, one per configuration and process (clients are thread-safe)."""
    # MinIO and most self-hosted stores answer on one host name, so a bucket cannot be a
    # subdomain of it: path-style when an endpoint is given, unless told otherwise (Aliyun OSS
    # wants virtual-hosted style).
    style = addressing_style or ("path" if endpoint_url else "auto")
    config = Config(
        s3={"addressing_style": style},
        # Retries on throttling, 5xx and dropped connections; AWS_MAX_ATTEMPTS changes the count.
        retries={"mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # boto3 1.36+ adds CRC checksums to every upload by default, which several S3-compatible
        # stores reject; we send Content-MD5 ourselves, which all of them check.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )
