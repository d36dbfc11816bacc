"""Campaign templates and their options: defaults from the users' written rules, overridable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from scheduler.planner import (
    CallPolicy,
    format_duration,
    format_windows,
    parse_duration,
    parse_windows,
)


class OptionError(ValueError):
    """An option key is unknown or its value malformed; the message lists the valid keys."""


@dataclass(frozen=True)
class Option:
    """One template option: how to read it from text and write it back canonically."""

    help: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str


def _positive_int(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{text!r} is not an IANA time zone such as Asia/Shanghai") from None
    return text


def _region(text: str) -> str:
    region = text.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{text!r} is not a phone region code such as CN or US")
    return region


def _language(text: str) -> str:
    if text not in ("zh-CN", "en-US"):
        raise ValueError("must be zh-CN or en-US")
    return text


def _optional_duration(text: str) -> Any:
    return None if text.lower() in ("", "none") else parse_duration(text)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("yes", "true", "1", "on"):
        return True
    if lowered in ("no", "false", "0", "off"):
        return False
    raise ValueError("must be yes or no")


def _wards(text: str) -> frozenset[str]:
    return frozenset(w.strip().upper() for w in text.split(",") if w.strip())


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


OPTIONS: Mapping[str, Option] = {
    "organisation": Option("name said in the greeting", _nonempty),
    "offset": Option(
        "first call after the anchor date, e.g. 7d or 72h", parse_duration, format_duration
    ),
    "windows": Option(
        "local calling windows, e.g. 08:00-11:00,14:00-17:00", parse_windows, format_windows
    ),
    "timezone": Option("default time zone of contacts", _zone),
    "max_attempts": Option("calls before the case is unreachable (1-10)", _positive_int(1, 10)),
    "retry_spacing": Option(
        "minimum time between two attempts, e.g. 2h", parse_duration, format_duration
    ),
    "deadline": Option(
        "last moment to call after the anchor date, e.g. 10d, or none",
        _optional_duration,
        lambda v: "none" if v is None else format_duration(v),
    ),
    "excluded_wards": Option(
        "wards never called, comma-separated, e.g. ICU", _wards, lambda v: ",".join(sorted(v))
    ),
    "default_region": Option("region for national phone numbers, e.g. CN", _region),
    "language": Option("default call language (zh-CN or en-US)", _language),
    "ring_timeout": Option("seconds to let the phone ring (5-120)", _positive_int(5, 120)),
    "record": Option("record the whole call (yes/no)", _bool, lambda v: "yes" if v else "no"),
}


@dataclass(frozen=True)
class Template:
    """A ready campaign: a flow plus option defaults."""

    name: str
    flow: str
    description: str
    defaults: Mapping[str, str]


TEMPLATES: Mapping[str, Template] = {
    "post-discharge": Template(
        name="post-discharge",
        flow="post-discharge",
        description="Hospital post-discharge follow-up: recovery, medication, satisfaction "
        "(7 days after discharge, 3 attempts, 08:00-11:00 and 14:00-17:00)",
        defaults={
            "organisation": "示例医院",
            "offset": "7d",
            "windows": "08:00-11:00,14:00-17:00",
            "timezone": "Asia/Shanghai",
            "max_attempts": "3",
            "retry_spacing": "2h",
            "deadline": "10d",
            "excluded_wards": "ICU",
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
        },
    ),
}


def template(name: str) -> Template:
    """Look a template up by name, listing the known ones if it is not there."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise OptionError(
            f"unknown template {name!r}; templates: {', '.join(sorted(TEMPLATES))}"
        ) from None


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE strings from the command line into a mapping."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{pair!r} is not KEY=VALUE; valid keys: {', '.join(OPTIONS)}")
        overrides[key.strip()] = value.strip()
    return overrides


def resolve_options(tpl: Template, overrides: Mapping[str, str]) -> dict[str, str]:
    """The template's defaults with overrides applied, each checked and written canonically."""
    problems: list[str] = []
    unknown = sorted(set(overrides) - set(OPTIONS))
    if unknown:
        problems.append(f"unknown option(s) {', '.join(unknown)}")
    merged = {**tpl.defaults, **{k: v for k, v in overrides.items() if k in OPTIONS}}
    resolved: dict[str, str] = {}
    for key, text in merged.items():
        option = OPTIONS[key]
        try:
            resolved[key] = option.format(option.parse(text))
        except ValueError as exc:
            problems.append(f"{key}={text!r}: {exc}")
    if problems:
        valid = "\n".join(f"  {k:15} {o.help}" for k, o in OPTIONS.items())
        raise OptionError("; ".join(problems) + "\nvalid keys:\n" + valid)
    return resolved


@dataclass(frozen=True)
class CampaignConfig:
    """A campaign's options, parsed: what the planner, dispatcher and flows read."""

    organisation: str
    policy: CallPolicy
    timezone: str
    default_region: str
    language: str
    ring_timeout_s: int
    record: bool


def campaign_config(options: Mapping[str, str]) -> CampaignConfig:
    """Parse stored (already validated) options."""

    def get(key: str) -> Any:
        return OPTIONS[key].parse(options[key])

    return CampaignConfig(
        organisation=get("organisation"),
        policy=CallPolicy(
            offset=get("offset"),
            windows=get("windows"),
            max_attempts=get("max_attempts"),
            retry_spacing=get("retry_spacing"),
            deadline_after=get("deadline"),
            excluded_wards=get("excluded_wards"),
        ),
        timezone=get("timezone"),
        default_region=get("default_region"),
        language=get("language"),
        ring_timeout_s=get("ring_timeout"),
        record=get("record"),
    )
