"""Settings read from the environment once, at start-up, and validated as a whole."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TWILIO_API_BASE_URL = "https://api.twilio.com"


class ConfigError(Exception):
    """The environment does not describe a usable configuration; each problem is listed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    """Everything the product reads from its environment."""

    database_url: str = "sqlite:///var/ivr.db"
    public_base_url: str = ""
    recordings_dir: Path = Path("var/recordings")
    prompts_dir: Path = Path("var/prompts")  # prepared audio prompts, one folder per flow
    secret_key: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_from_number: str = ""
    twilio_api_base_url: str = TWILIO_API_BASE_URL
    cps: float = 1.0
    tick_seconds: float = 2.0
    max_concurrent_calls: int = 0  # calls in flight from the caller id at once; 0: no cap
    max_body_bytes: int = 64 * 1024
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 15.0
    # Twilio answers 429 to too many concurrent REST requests: each adapter keeps at most this many
    # in flight (creates, fetches and lists, media downloads, deletes, recording updates).
    provider_max_in_flight: int = 4
    # Where recordings are kept (recordings.store.open_store): "local" (recordings_dir) or "s3"
    # (an S3-compatible bucket; credentials come from boto3's own AWS_* variables and files).
    recordings_store: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""  # a folder inside the bucket, e.g. "ivr/recordings"
    s3_endpoint_url: str = ""  # MinIO, Ceph, other S3-compatible stores; empty: AWS
    s3_region: str = ""  # empty: boto3's default (AWS_DEFAULT_REGION, ~/.aws/config)
    s3_addressing_style: str = ""  # path | virtual; empty: path with an endpoint URL, else AWS's
    # AES-256-GCM key for recordings at rest (base64 of 32 bytes); empty: stored in clear.
    recordings_key: str = field(default="", repr=False)
    # Earlier keys, still read (rotation), never written with.
    recordings_old_keys: tuple[str, ...] = field(default=(), repr=False)
    # Make a compressed mono copy of each stored recording for listening (needs ffmpeg).
    recordings_listen_copy: bool = True
    # An escalation's claim lapses after its holder has done nothing on it for this long.
    claim_idle_minutes: int = 30
    # Supervisors' mail (ivr.notify): overdue escalations and the daily digest. No host: no mail.
    smtp_host: str = ""
    smtp_port: int = 587  # 465 speaks TLS from the first byte (SMTPS); others may use STARTTLS
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    # Default: on, except for a relay on the loopback interface (127.0.0.1, ::1, localhost).
    smtp_starttls: bool = True
    smtp_from: str = ""
    supervisor_emails: tuple[str, ...] = ()  # one list for every campaign, for now
    digest_hour: int = 8  # local hour of the daily digest, in digest_timezone
    digest_timezone: str = "Asia/Shanghai"
    # /metrics answers requests with this bearer token; without one, only direct loopback ones.
    metrics_token: str = field(default="", repr=False)
    log_format: str = "text"  # text (key=value) or json (one object a line, for collectors)

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (the demo and tests use it)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def require(self, *names: str) -> None:
        """Raise ConfigError naming every listed setting that is empty."""
        missing = [
            f"{_ENV_OF[name]} is required for this command"
            for name in names
            if not getattr(self, name)
        ]
        if missing:
            raise ConfigError(missing)

    def require_webhooks(self) -> None:
        """Webhook serving fails closed: no auth token, no public URL, no server."""
        self.require("twilio_auth_token", "public_base_url", "secret_key")

    def require_dialling(self) -> None:
        """Placing calls needs the account, its token and a caller id."""
        self.require(
            "twilio_account_sid",
            "twilio_auth_token",
            "twilio_from_number",
            "public_base_url",
        )


_ENV_OF = {
    "database_url": "IVR_DATABASE_URL",
    "public_base_url": "IVR_PUBLIC_BASE_URL",
    "recordings_dir": "IVR_RECORDINGS_DIR",
    "prompts_dir": "IVR_PROMPTS_DIR",
    "secret_key": "IVR_SECRET_KEY",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_from_number": "TWILIO_FROM_NUMBER",
    "twilio_api_base_url": "TWILIO_API_BASE_URL",
    "cps": "IVR_CPS",
    "tick_seconds": "IVR_TICK_SECONDS",
    "max_concurrent_calls": "IVR_MAX_CONCURRENT_CALLS",
    "max_body_bytes": "IVR_MAX_BODY_BYTES",
    "provider_max_in_flight": "IVR_PROVIDER_MAX_IN_FLIGHT",
    "recordings_store": "IVR_RECORDINGS_STORE",
    "s3_bucket": "IVR_S3_BUCKET",
    "s3_prefix": "IVR_S3_PREFIX",
    "s3_endpoint_url": "IVR_S3_ENDPOINT_URL",
    "s3_region": "IVR_S3_REGION",
    "s3_addressing_style": "IVR_S3_ADDRESSING_STYLE",
    "recordings_key": "IVR_RECORDINGS_KEY",
    "recordings_old_keys": "IVR_RECORDINGS_OLD_KEYS",
    "recordings_listen_copy": "IVR_RECORDINGS_LISTEN_COPY",
    "claim_idle_minutes": "IVR_CLAIM_IDLE_MINUTES",
    "smtp_host": "IVR_SMTP_HOST",
    "smtp_port": "IVR_SMTP_PORT",
    "smtp_user": "IVR_SMTP_USER",
    "smtp_password": "IVR_SMTP_PASSWORD",
    "smtp_starttls": "IVR_SMTP_STARTTLS",
    "smtp_from": "IVR_SMTP_FROM",
    "supervisor_emails": "IVR_SUPERVISOR_EMAILS",
    "digest_hour": "IVR_DIGEST_HOUR",
    "digest_timezone": "IVR_DIGEST_TIMEZONE",
    "metrics_token": "IVR_METRICS_TOKEN",
    "log_format": "IVR_LOG_FORMAT",
}

RECORDINGS_STORES = ("local", "s3")
LOG_FORMATS = ("text", "json")
S3_ADDRESSING_STYLES = ("path", "virtual")
RECORDINGS_KEY_BYTES = 32  # AES-256
NEW_KEY_COMMAND = 'python -c "import os,base64;print(base64.b64encode(os.urandom(32)).decode())"'


def env_name(setting: str) -> str:
    """The environment variable behind a setting (CLI help names it)."""
    return _ENV_OF[setting]


def _http_url(value: str, var: str, problems: list[str]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{var} must be an http(s) URL, got {value!r}")
    elif parts.query or parts.fragment:
        problems.append(f"{var} must not carry a query or fragment")
    return value.rstrip("/")


def _recordings_key(value: str, var: str, problems: list[str]) -> str:
    """A base64 key of 32 bytes, or a problem saying how to make one (never the value itself)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != RECORDINGS_KEY_BYTES:
        problems.append(
            f"{var} must be the base64 of {RECORDINGS_KEY_BYTES} random bytes; make one with "
            f"{NEW_KEY_COMMAND}"
        )
    return value


def _recordings_storage(
    get: Callable[[str], str | None], values: dict[str, object], problems: list[str]
) -> None:
    """The recordings store, its bucket, the keys and the listening copy (IVR_RECORDINGS_*, S3)."""
    if (kind := get("recordings_store")) is not None:
        if kind not in RECORDINGS_STORES:
            problems.append(f"IVR_RECORDINGS_STORE must be local or s3, got {kind!r}")
        values["recordings_store"] = kind
    bucket = get("s3_bucket")
    if values.get("recordings_store") == "s3" and bucket is None:
        problems.append("IVR_S3_BUCKET is required when IVR_RECORDINGS_STORE=s3")
    if bucket is not None:
        values["s3_bucket"] = bucket
    if (prefix := get("s3_prefix")) is not None:
        prefix = prefix.strip("/")
        if "\\" in prefix or ".." in prefix.split("/"):
            problems.append(
                f"IVR_S3_PREFIX must be a plain folder such as ivr/recordings, got {prefix!r}"
            )
        values["s3_prefix"] = prefix
    if (endpoint := get("s3_endpoint_url")) is not None:
        values["s3_endpoint_url"] = _http_url(endpoint, "IVR_S3_ENDPOINT_URL", problems)
    if (region := get("s3_region")) is not None:
        values["s3_region"] = region
    if (style := get("s3_addressing_style")) is not None:
        if style not in S3_ADDRESSING_STYLES:
            problems.append(f"IVR_S3_ADDRESSING_STYLE must be path or virtual, got {style!r}")
        values["s3_addressing_style"] = style
    if (key := get("recordings_key")) is not None:
        values["recordings_key"] = _recordings_key(key, "IVR_RECORDINGS_KEY", problems)
    if (old := get("recordings_old_keys")) is not None:
        keys = tuple(part.strip() for part in old.split(",") if part.strip())
        for n, key in enumerate(keys, start=1):
            _recordings_key(key, f"IVR_RECORDINGS_OLD_KEYS (key {n})", problems)
        values["recordings_old_keys"] = keys
    if (listen := get("recordings_listen_copy")) is not None:
        if listen.lower() not in _BOOLEANS:
            problems.append(f"IVR_RECORDINGS_LISTEN_COPY must be on or off, got {listen!r}")
        values["recordings_listen_copy"] = _BOOLEANS.get(listen.lower(), True)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def _mail_address(value: str, var: str, problems: list[str]) -> str:
    """A bare address (name@domain), or a problem naming the variable."""
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c in value for c in ' <>,;"\n'):
        problems.append(
            f"{var} must be an e-mail address such as ivr@hospital.example, got {value!r}"
        )
    return value


def _mail(get: Callable[[str], str | None], values: dict[str, object], problems: list[str]) -> None:
    """SMTP and the supervisors' addresses (IVR_SMTP_*, IVR_SUPERVISOR_EMAILS, IVR_DIGEST_*)."""
    host = get("smtp_host")
    if host is not None:
        values["smtp_host"] = host
    if (port := get("smtp_port")) is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            problems.append(f"IVR_SMTP_PORT must be a port number 1-65535, got {port!r}")
        else:
            values["smtp_port"] = int(port)
    if (user := get("smtp_user")) is not None:
        values["smtp_user"] = user
    if (password := get("smtp_password")) is not None:
        values["smtp_password"] = password
    starttls = host not in LOOPBACK_HOSTS
    if (flag := get("smtp_starttls")) is not None:
        if flag.lower() not in _BOOLEANS:
            problems.append(f"IVR_SMTP_STARTTLS must be on or off, got {flag!r}")
        starttls = _BOOLEANS.get(flag.lower(), True)
    values["smtp_starttls"] = starttls
    implicit_tls = values.get("smtp_port") == 465
    if user and not (starttls or implicit_tls) and host not in LOOPBACK_HOSTS:
        problems.append(
            "IVR_SMTP_USER with IVR_SMTP_STARTTLS=off would send the password in clear; "
            "turn STARTTLS on or use port 465"
        )
    if (sender := get("smtp_from")) is not None:
        values["smtp_from"] = _mail_address(sender, "IVR_SMTP_FROM", problems)
    if (emails := get("supervisor_emails")) is not None:
        addresses = tuple(part.strip() for part in emails.split(",") if part.strip())
        for address in addresses:
            _mail_address(address, "IVR_SUPERVISOR_EMAILS", problems)
        values["supervisor_emails"] = addresses
    if host is not None:
        # A host alone would fail at the first overdue escalation, long after start-up.
        if "smtp_from" not in values:
            problems.append("IVR_SMTP_FROM is required when IVR_SMTP_HOST is set")
        if not values.get("supervisor_emails"):
            problems.append("IVR_SUPERVISOR_EMAILS is required when IVR_SMTP_HOST is set")
    if (hour := get("digest_hour")) is not None:
        if not hour.isdigit() or not 0 <= int(hour) <= 23:
            problems.append(f"IVR_DIGEST_HOUR must be a whole hour 0-23, got {hour!r}")
        else:
            values["digest_hour"] = int(hour)
    if (zone := get("digest_timezone")) is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"IVR_DIGEST_TIMEZONE must be a time zone such as Asia/Shanghai, got {zone!r}"
            )
        values["digest_timezone"] = zone


_BOOLEANS = {
    **dict.fromkeys(("on", "1", "true", "yes"), True),
    **dict.fromkeys(("off", "0", "false", "no"), False),
}


def _positive_float(value: str, var: str, problems: list[str]) -> float:
    try:
        number = float(value)
    except ValueError:
        problems.append(f"{var} must be a number, got {value!r}")
        return 0.0
    if number <= 0:
        problems.append(f"{var} must be greater than 0, got {value!r}")
    return number


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings; every malformed value is reported in one ConfigError."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    base = Settings()
    values: dict[str, object] = {}

    def get(setting: str) -> str | None:
        raw = env.get(_ENV_OF[setting], "").strip()
        return raw or None

    if (db := get("database_url")) is not None:
        if "://" not in db:
            problems.append(f"IVR_DATABASE_URL must be a SQLAlchemy URL, got {db!r}")
        values["database_url"] = db
    if (url := get("public_base_url")) is not None:
        values["public_base_url"] = _http_url(url, "IVR_PUBLIC_BASE_URL", problems)
    if (api := get("twilio_api_base_url")) is not None:
        values["twilio_api_base_url"] = _http_url(api, "TWILIO_API_BASE_URL", problems)
    if (folder := get("recordings_dir")) is not None:
        values["recordings_dir"] = Path(folder)
    if (folder := get("prompts_dir")) is not None:
        values["prompts_dir"] = Path(folder)
    if (secret := get("secret_key")) is not None:
        if len(secret) < 16:
            problems.append("IVR_SECRET_KEY must be at least 16 characters")
        values["secret_key"] = secret
    if (sid := get("twilio_account_sid")) is not None:
        if not (sid.startswith("AC") and len(sid) == 34):
            problems.append("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex digits")
        values["twilio_account_sid"] = sid
    if (token := get("twilio_auth_token")) is not None:
        values["twilio_auth_token"] = token
    if (number := get("twilio_from_number")) is not None:
        if not (number.startswith("+") and number[1:].isdigit()):
            problems.append("TWILIO_FROM_NUMBER must be an E.164 number such as +15005550006")
        values["twilio_from_number"] = number
    if (cps := get("cps")) is not None:
        values["cps"] = _positive_float(cps, "IVR_CPS", problems)
    if (tick := get("tick_seconds")) is not None:
        values["tick_seconds"] = _positive_float(tick, "IVR_TICK_SECONDS", problems)
    if (lines := get("max_concurrent_calls")) is not None:
        if lines.isdigit():
            values["max_concurrent_calls"] = int(lines)
        else:
            problems.append(
                f"IVR_MAX_CONCURRENT_CALLS must be a whole number (0: no cap), got {lines!r}"
            )
    if (size := get("max_body_bytes")) is not None:
        values["max_body_bytes"] = int(_positive_float(size, "IVR_MAX_BODY_BYTES", problems))
    if (cap := get("provider_max_in_flight")) is not None:
        if not cap.isdigit() or not 1 <= int(cap) <= 100:
            problems.append(f"IVR_PROVIDER_MAX_IN_FLIGHT must be a whole number 1-100, got {cap!r}")
        else:
            values["provider_max_in_flight"] = int(cap)
    if (idle := get("claim_idle_minutes")) is not None:
        if not idle.isdigit() or not 1 <= int(idle) <= 24 * 60:
            problems.append(f"IVR_CLAIM_IDLE_MINUTES must be a whole number 1-1440, got {idle!r}")
        else:
            values["claim_idle_minutes"] = int(idle)
    _recordings_storage(get, values, problems)
    _mail(get, values, problems)
    if (metrics_token := get("metrics_token")) is not None:
        if len(metrics_token) < 16:
            problems.append("IVR_METRICS_TOKEN must be at least 16 characters")
        values["metrics_token"] = metrics_token
    if (log_format := get("log_format")) is not None:
        if log_format not in LOG_FORMATS:
            problems.append(f"IVR_LOG_FORMAT must be text or json, got {log_format!r}")
        values["log_format"] = log_format

    if problems:
        raise ConfigError(problems)
    return replace(base, **values)  # type: ignore[arg-type]
