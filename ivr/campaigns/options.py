"""Campaign options: how each is read from text and written back, and a campaign's parsed config.

The options a campaign takes come from its template (ivr.campaigns.templates); their values are
checked here, once at creation, and parsed into a CampaignConfig for the planner, the dispatcher
and the flows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ivr.cases.columns import parse_cooling_off_days
from ivr.queue.rules import (
    GLOBAL_TERMS,
    REASON,
    TermTable,
    format_priorities,
    format_sla_terms,
    parse_priorities,
    parse_sla_terms,
    reason_pairs,
)
from ivr.reports.targets import format_targets, parse_targets
from recordings.retention import (
    RetentionRule,
    format_retention,
    parse_count_from,
    parse_retention,
    rule_from_options,
)
from scheduler.days import DAY_RULES, day_rule, format_blackout, parse_blackout
from scheduler.planner import (
    CallPolicy,
    format_duration,
    parse_duration,
)
from scheduler.windows import format_windows, parse_calling_windows


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


def _optional_cap(high: int) -> Callable[[str], int | None]:
    within = _positive_int(1, high)

    def parse(text: str) -> int | None:
        return None if text.strip().lower() in ("", "none") else within(text)

    return parse


def _format_cap(value: int | None) -> str:
    return "none" if value is None else str(value)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("yes", "true", "1", "on"):
        return True
    if lowered in ("no", "false", "0", "off"):
        return False
    raise ValueError("must be yes or no")


def _wards(text: str) -> frozenset[str]:
    return frozenset(w.strip().upper() for w in text.split(",") if w.strip())


def _reasons(text: str) -> frozenset[str]:
    # Only the spelling here: whether a reason exists depends on the campaign's own terms (option
    # sla), so campaign_config checks that with every option in hand.
    if text.strip().lower() in ("", "none"):
        return frozenset()
    reasons = frozenset(r.strip() for r in text.split(",") if r.strip())
    bad = sorted(r for r in reasons if not REASON.fullmatch(r))
    if bad:
        raise ValueError(f"unknown escalation reason(s) {', '.join(bad)}")
    return reasons


def _format_reasons(reasons: frozenset[str]) -> str:
    return ",".join(sorted(reasons)) or "none"


MACHINE_ACTIONS = ("hangup", "message")


def _machine(text: str) -> str:
    action = text.strip().lower()
    if action not in MACHINE_ACTIONS:
        raise ValueError("must be hangup or message")
    return action


AFTER_UNREACHABLE = ("close", "pause")


def _after_unreachable(text: str) -> str:
    action = text.strip().lower()
    if action not in AFTER_UNREACHABLE:
        raise ValueError("must be close or pause")
    return action


def _days(text: str) -> str:
    rule = text.strip().lower()
    if rule not in DAY_RULES:
        raise ValueError(f"must be {', '.join(DAY_RULES)}")
    return rule


_OUTCOME = re.compile(r"[a-z][a-z0-9_]{0,49}")


def _outcomes(text: str) -> tuple[str, ...]:
    # Kept in the order given: the console offers them in that order.
    names = tuple(dict.fromkeys(o.strip().lower() for o in text.split(",") if o.strip()))
    if not names:
        raise ValueError("name at least one outcome, e.g. advice_given,unreachable_closed")
    bad = [name for name in names if not _OUTCOME.fullmatch(name)]
    if bad:
        raise ValueError(f"outcomes are lower-case words joined by _, got {', '.join(bad)}")
    return names


def _nonempty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


# Plain http only to this machine (tests, the demo): outcomes leave the building over TLS.
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _webhook_url(text: str) -> str | None:
    url = text.strip()
    if url.lower() in ("", "none"):
        return None
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a port that is not a number between 0 and 65535.
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"{url!r} is not a URL") from None
    if not host:
        raise ValueError(f"{url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("put no credentials in the URL: requests are signed instead")
    if parts.scheme == "https" or (parts.scheme == "http" and host in _LOCAL_HOSTS):
        return url
    raise ValueError("must be an https:// URL (http:// only to 127.0.0.1 or localhost), or none")


def _format_optional(value: str | None) -> str:
    return "none" if value is None else value


OPTIONS: Mapping[str, Option] = {
    "organisation": Option("name said in the greeting", _nonempty),
    "offset": Option(
        "first call after the anchor date, e.g. 7d or 72h", parse_duration, format_duration
    ),
    "windows": Option(
        "local calling windows every day, e.g. 08:00-11:00,14:00-17:00, or per weekday, e.g. "
        "mon-fri 08:00-11:00,14:00-17:00; sat 09:00-12:00 (22:00-02:00 runs past midnight and "
        "belongs to the day it starts on)",
        parse_calling_windows,
        format_windows,
    ),
    "days": Option(
        "days called: all, workdays (the default_region's working days: weekends and public "
        "holidays skipped, adjusted working days called) or no_holidays",
        _days,
    ),
    "blackout": Option(
        "local dates never called, e.g. 2026-12-24,2026-12-31..2027-01-02, or none",
        parse_blackout,
        format_blackout,
    ),
    "rotate": Option(
        "after a morning attempt prefer an afternoon or evening window, and vice versa (yes/no)",
        _bool,
        lambda v: "yes" if v else "no",
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
    "max_concurrent": Option(
        "calls of this campaign in flight at once, shared by every dialler (0: no cap)",
        _positive_int(0, 10_000),
    ),
    "cooling_off_days": Option(
        "cooling-off period (10 or 15 days) of cases whose row leaves it blank; "
        "the deadline is that many days after the receipt",
        parse_cooling_off_days,
    ),
    "sms_when_unreachable": Option(
        "send a text when every call went unanswered (yes/no)",
        _bool,
        lambda v: "yes" if v else "no",
    ),
    "email_when_unreachable": Option(
        "send an e-mail (to the case's email column) when every call went unanswered (yes/no)",
        _bool,
        lambda v: "yes" if v else "no",
    ),
    # ivr.queue.fallback: a paused case waits for the contact's reply to the text or a person.
    "after_unreachable": Option(
        "when every call went unanswered: close the case (outcome unreachable), or pause it "
        "(never called again; closed when its escalations are resolved or the contact opts out)",
        _after_unreachable,
    ),
    "machine": Option(
        "when an answering machine picks up: hangup, or message (the organisation's name and "
        "that it will call again, said after the beep); either way the attempt is not reached",
        _machine,
    ),
    # The queue (ivr.queue.actions): what an agent may close an escalation with, and which
    # reasons need a recording or a scan first (missell_suspected always does).
    "outcomes": Option(
        "outcomes an escalation may be resolved with, comma-separated, e.g. "
        "advice_given,referred_to_doctor,unreachable_closed",
        _outcomes,
        ",".join,
    ),
    "evidence_reasons": Option(
        "escalation reasons resolved only with a recording of the case or a scan, besides "
        "missell_suspected, e.g. complaint, or none",
        _reasons,
        _format_reasons,
    ),
    # ivr.queue.rules: the campaign's terms over the starting set; a flow's new reason gets its
    # terms here (without them it is due in 72 h, priority 3).
    "sla": Option(
        "escalation deadlines per reason over the defaults, in working days (wd) or hours, e.g. "
        "complaint=3wd,callback_requested=4h,my_new_reason=2d, or none",
        parse_sla_terms,
        format_sla_terms,
    ),
    "priority": Option(
        "escalation priority per reason over the defaults, 1 most urgent to 9, e.g. complaint=1, "
        "or none",
        parse_priorities,
        format_priorities,
    ),
    "same_day_reasons": Option(
        "escalation reasons due by the end of the same working day, e.g. complaint, or none",
        _reasons,
        _format_reasons,
    ),
    # Counted per number across every campaign (ivr.consent.caps): a day is the contact's local
    # calendar day, a week the call's local day and the six before it.
    "daily_cap": Option(
        "calls a number may get in one local day, all campaigns together (1-10, or none)",
        _optional_cap(10),
        _format_cap,
    ),
    "weekly_cap": Option(
        "calls a number may get in 7 local days, all campaigns together (1-50, or none)",
        _optional_cap(50),
        _format_cap,
    ),
    # recordings.retention has the rules and their sources; `ivr recordings purge` applies them.
    "retention": Option(
        "how long recordings are kept: insurer (5 years after the contract ends for terms up to "
        "a year, 10 years for longer; from the case's contract_end and term_months), or a "
        "period such as 30y or 180d counted from retention_from",
        parse_retention,
        format_retention,
    ),
    "retention_from": Option(
        "the day retention counts from: anchor (the case's anchor date) or done (the day the "
        "case closed; an open case's recordings are never deleted)",
        parse_count_from,
    ),
    # ivr.reports shows each figure against its target (met / not met).
    "targets": Option(
        "report targets, e.g. follow_up_rate=0.8,satisfaction_rate=0.9 (80 reads as 0.8), or none",
        parse_targets,
        format_targets,
    ),
    # ivr.outcome_webhook: each final outcome is POSTed there, signed with the campaign's secret
    # (`ivr campaigns webhook-secret NAME`).
    "outcome_webhook_url": Option(
        "where each case's final outcome is POSTed as signed JSON: an https:// URL (http:// "
        "only to 127.0.0.1 or localhost), or none",
        _webhook_url,
        _format_optional,
    ),
}


PER_REASON = ("sla", "priority")


def apply_per_reason(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """Fold `sla.REASON=TERM` and `priority.REASON=N` into the options sla and priority.

    Each sets one reason (`none` removes it) over the option as `overrides` gives it, else as
    `base` (the template's defaults, or the campaign's stored options) has it.
    """
    folded = {key: value for key, value in overrides.items() if _per_reason(key) is None}
    for key, value in overrides.items():
        split = _per_reason(key)
        if split is None:
            continue
        name, reason = split
        try:
            pairs = reason_pairs(folded.get(name, base.get(name, "none")))
        except ValueError as exc:
            raise OptionError(f"{name}: {exc}") from None
        if value.strip().lower() == "none":
            pairs.pop(reason, None)
        else:
            pairs[reason] = value.strip()
        folded[name] = ",".join(f"{r}={v}" for r, v in pairs.items()) or "none"
    return folded


def _per_reason(key: str) -> tuple[str, str] | None:
    name, dot, reason = key.partition(".")
    if not dot or name not in PER_REASON:
        return None
    return name, reason.strip().lower()


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE strings from the command line into a mapping."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"{pair!r} is not KEY=VALUE; valid keys: {', '.join(OPTIONS)}")
        overrides[key.strip()] = value.strip()
    return overrides


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
    #: escalation reasons due by the end of the same working day (raise_escalation(same_day=...))
    same_day_reasons: frozenset[str] = frozenset()
    sms_when_unreachable: bool = False  #: text the contact once the calls are used up
    email_when_unreachable: bool = False  #: e-mail the contact once the calls are used up
    #: close | pause: what a case whose calls are used up becomes (CaseStatus.DONE or PAUSED)
    after_unreachable: str = "close"
    machine: str = "hangup"  #: what a call answered by a machine does: hangup | message
    max_concurrent: int = 0  #: calls in flight at once across every dialler; 0: no cap
    daily_cap: int | None = None  #: calls to one number a local day, all campaigns; None: no cap
    weekly_cap: int | None = None  #: calls to one number in 7 local days; None: no cap
    #: how long recordings are kept; None: a campaign older than the option, never purged
    retention: RetentionRule | None = None
    #: what an escalation may be resolved with; () for a campaign older than the option
    outcomes: tuple[str, ...] = ()
    #: reasons resolved only with evidence, besides missell_suspected (ivr.queue.outcomes)
    evidence_reasons: frozenset[str] = frozenset()
    #: escalation terms: the campaign's (options sla, priority) over ivr.queue.rules.TERMS
    terms: TermTable = GLOBAL_TERMS


def campaign_terms(options: Mapping[str, str]) -> TermTable:
    """The campaign's escalation terms (options sla and priority; absent: the defaults)."""
    sla = OPTIONS["sla"].parse(options["sla"]) if "sla" in options else {}
    priority = OPTIONS["priority"].parse(options["priority"]) if "priority" in options else {}
    return TermTable(sla=sla, priority=priority)


def campaign_config(options: Mapping[str, str]) -> CampaignConfig:
    """Parse stored (already validated) options.

    A cooling_off_days option sets the deadline to that many days after the anchor; the importer
    passes the campaign's options with a row's own cooling_off_days over them to get the case's.
    """

    def get(key: str) -> Any:
        return OPTIONS[key].parse(options[key])

    if "cooling_off_days" in options:
        deadline_after = timedelta(days=get("cooling_off_days"))
    else:
        deadline_after = get("deadline")
    excluded = get("excluded_wards") if "excluded_wards" in options else frozenset()
    terms = campaign_terms(options)
    same_day = get("same_day_reasons") if "same_day_reasons" in options else frozenset()
    evidence = get("evidence_reasons") if "evidence_reasons" in options else frozenset()
    unknown = sorted((same_day | evidence) - set(terms.reasons()))
    if unknown:
        raise ValueError(
            f"unknown escalation reason(s) {', '.join(unknown)}; reasons: "
            f"{', '.join(terms.reasons())} (a new reason needs its terms: sla=REASON=TERM)"
        )
    return CampaignConfig(
        organisation=get("organisation"),
        policy=CallPolicy(
            offset=get("offset"),
            windows=get("windows"),
            max_attempts=get("max_attempts"),
            retry_spacing=get("retry_spacing"),
            deadline_after=deadline_after,
            excluded_wards=excluded,
            # Campaigns stored before these options existed: every day, no blackout, no rotation.
            days=day_rule(
                get("days") if "days" in options else "all",
                region=get("default_region"),
                tz=ZoneInfo(get("timezone")),
            ),
            blackout=get("blackout") if "blackout" in options else frozenset(),
            rotate="rotate" in options and get("rotate"),
        ),
        timezone=get("timezone"),
        default_region=get("default_region"),
        language=get("language"),
        ring_timeout_s=get("ring_timeout"),
        record=get("record"),
        same_day_reasons=same_day,
        sms_when_unreachable="sms_when_unreachable" in options and get("sms_when_unreachable"),
        email_when_unreachable="email_when_unreachable" in options
        and get("email_when_unreachable"),
        # Campaigns stored before the option closed their unreachable cases.
        after_unreachable=get("after_unreachable") if "after_unreachable" in options else "close",
        # Campaigns created before the option existed hang up on machines.
        machine=get("machine") if "machine" in options else "hangup",
        max_concurrent=get("max_concurrent") if "max_concurrent" in options else 0,
        # Campaigns stored before the caps existed lack the keys: they stay uncapped.
        daily_cap=get("daily_cap") if "daily_cap" in options else None,
        weekly_cap=get("weekly_cap") if "weekly_cap" in options else None,
        retention=rule_from_options(options),
        outcomes=get("outcomes") if "outcomes" in options else (),
        evidence_reasons=evidence,
        terms=terms,
    )


def webhook_url_of(options: Mapping[str, Any]) -> str | None:
    """A campaign's outcome_webhook_url; None when unset (campaigns older than the option too).

    Not in CampaignConfig: the outbox and the deliverer read it from the campaign's row each
    time, never from a process's cached config.
    """
    text = options.get("outcome_webhook_url")
    return None if not isinstance(text, str) else _webhook_url(text)
