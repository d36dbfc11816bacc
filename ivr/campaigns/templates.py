"""Campaign templates and their options: defaults from the users' written rules, overridable.

A template is one follow-up program of REQUIREMENTS.md: its flow, its case CSV (ivr.cases.columns)
and its option defaults. The keys of ``defaults`` are the options the template takes: a campaign
of another template refuses them (no cooling_off_days on a hospital campaign).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ivr.campaigns.options import OPTIONS, OptionError, campaign_config
from ivr.cases.columns import (
    CARE_INSURANCE_CSV,
    CLINIC_TREATED_CSV,
    CLINIC_VISITOR_CSV,
    COOLING_OFF_CSV,
    POST_DISCHARGE_CSV,
    RENOVATION_CSV,
    CsvSpec,
    Role,
)
from ivr.cases.csv_rows import CaseRow
from ivr.cases.stages import renovation_cases
from ivr.reports.targets import DEFAULT_TARGETS, format_targets
from scheduler.planner import (
    format_duration,
    parse_duration,
)

# Options every program takes, with these defaults unless the template sets its own.
_EVERY_TEMPLATE = {
    "days": "all",
    "blackout": "none",
    "max_concurrent": "0",
    "machine": "hangup",
    "retention_from": "anchor",
    "evidence_reasons": "none",
    "sla": "none",
    "priority": "none",
    "outcome_webhook_url": "none",
}


@dataclass(frozen=True)
class Template:
    """A ready campaign: a flow, a case CSV, option defaults, and what `templates show` says."""

    name: str
    flow: str
    description: str
    defaults: Mapping[str, str]
    csv: CsvSpec = POST_DISCHARGE_CSV
    questions: tuple[str, ...] = field(default=())  #: what the flow asks, in order, one a line
    example: str = "examples/post-discharge.csv"  #: a CSV that imports cleanly, from the repo root
    #: the cases one valid row becomes (renovation: three); None: one case, the row itself.
    #: Raises ValueError("<column>: <rule>") for a rule a row breaks across its columns.
    expand: Callable[[CaseRow], tuple[CaseRow, ...]] | None = None
    anchor_label: str = ""  #: what timing() counts from when it is not the anchor column
    timing_note: str = ""  #: the end of timing(): what the options cannot say (recurrence)

    def __post_init__(self) -> None:
        targets = format_targets(DEFAULT_TARGETS.get(self.name, {}))
        merged = {**_EVERY_TEMPLATE, "targets": targets, **self.defaults}
        # In OPTIONS order, so `templates show` and the option lists read alike for every program.
        object.__setattr__(self, "defaults", {key: merged[key] for key in OPTIONS if key in merged})

    def cases_of(self, row: CaseRow) -> tuple[CaseRow, ...]:
        """The cases a valid row becomes; ValueError when its columns contradict each other."""
        return (row,) if self.expand is None else self.expand(row)

    @property
    def identity_facts(self) -> tuple[str, ...]:
        """The identity facts its cases carry (hashed on import, so importing needs the secret)."""
        return self.csv.named(Role.FACT)

    def timing(self) -> str:
        """When its cases are called, from its defaults (so it cannot drift from them)."""
        d = self.defaults
        anchor = self.anchor_label or self.csv.anchor
        offset = format_duration(parse_duration(d["offset"]))
        first = (
            f"first call as soon as a window opens after {anchor}"
            if offset == "0s"
            else f"first call {offset} after {anchor}"
        )
        if "cooling_off_days" in d:
            deadline = (
                f"deadline {anchor} + the row's cooling_off_days (10 or 15; "
                f"blank: {d['cooling_off_days']}) days"
            )
        elif d.get("deadline", "none") == "none":
            deadline = "no deadline"
        else:
            deadline = f"deadline {d['deadline']} after {anchor}"
        attempts = f"up to {d['max_attempts']} attempts at least {d['retry_spacing']} apart"
        if d.get("rotate") == "yes":
            attempts += ", each retry in the other half of the day if one opens within a day"
        parts = [
            first,
            f"windows {d['windows']} in the contact's time zone (default {d['timezone']})",
            *_calendar_timing(d),
            attempts,
            deadline,
        ]
        if d.get("excluded_wards"):
            parts.append(f"wards never called: {d['excluded_wards']}")
        if d.get("same_day_reasons", "none") != "none":
            parts.append(f"due the same working day: {d['same_day_reasons']} escalations")
        if self.timing_note:
            parts.append(self.timing_note)
        return "; ".join(parts)


def _calendar_timing(d: Mapping[str, str]) -> list[str]:
    """What timing() says of the calling days when they are not every day."""
    parts: list[str] = []
    days = d.get("days", "all")
    if days == "workdays":
        parts.append("working days only (weekends and public holidays skipped, 调休 days called)")
    elif days == "no_holidays":
        parts.append("no calls on public holidays")
    if d.get("blackout", "none") != "none":
        parts.append(f"no calls on {d['blackout']}")
    return parts


_HOSPITAL = {
    "organisation": "示例医院",
    "windows": "08:00-11:00,14:00-17:00",
    # Three attempts over two half-days: a missed morning is retried in the afternoon.
    "rotate": "yes",
    "timezone": "Asia/Shanghai",
    "max_attempts": "3",
    "excluded_wards": "ICU",
    "default_region": "CN",
    "language": "zh-CN",
    "ring_timeout": "30",
    "record": "yes",
    # Health calls: at most 1 a day and 3 a week to one number (the US rule for health-care calls
    # made without prior consent; REQUIREMENTS section 6), all campaigns together.
    "daily_cap": "1",
    "weekly_cap": "3",
    # China keeps inpatient records at least 30 years after the last discharge (医疗机构病历管理
    # 规定 2013, art. 29). A default: each hospital checks it against its own rule.
    "retention": "30y",
    # What a nurse or doctor's call back ends with (ivr.queue: resolve --outcome).
    "outcomes": "advice_given,referred_to_doctor,no_action_needed,unreachable_closed",
}

_POST_DISCHARGE_QUESTIONS = (
    "identity: if you are <name>, press 1; if not, press 2 (escalates wrong_person)",
    "recovery since discharge: 1 better / 2 about the same / 3 worse (escalates clinical_concern)",
    "medication taken as prescribed: 1 yes / 2 no (escalates clinical_concern)",
    "satisfaction with the stay, 1-5 (1-2 escalate low_satisfaction and offer a call-back)",
    "reminder of the follow-up clinic; 0 at any question: requested_agent",
)


def _post_discharge(name: str, when: str, **timing: str) -> Template:
    merged = {**_HOSPITAL, **timing}
    return Template(
        name=name,
        flow="post-discharge",
        description="Hospital post-discharge follow-up: recovery, medication, satisfaction "
        f"({when})",
        defaults={key: merged[key] for key in OPTIONS if key in merged},  # in OPTIONS order
        questions=_POST_DISCHARGE_QUESTIONS,
    )


TEMPLATES: Mapping[str, Template] = {
    # 7-10 days after discharge (the first hospital of REQUIREMENTS.md section 1).
    "post-discharge": _post_discharge(
        "post-discharge",
        "7 days after discharge, 3 attempts, 08:00-11:00 and 14:00-17:00",
        offset="7d",
        retry_spacing="2h",
        deadline="10d",
    ),
    # "Within 72 hours": from the day after discharge (nobody is called on the day they leave)
    # until 72 hours after the discharge day began; attempts 6h apart spread over two days.
    "post-discharge-72h": _post_discharge(
        "post-discharge-72h",
        "within 72 hours of discharge, from the next day, 3 attempts",
        offset="1d",
        retry_spacing="6h",
        deadline="3d",
        # Three attempts inside two days need two a day; where 1 a day is the law (US health
        # calls), set daily_cap=1 and accept that a third attempt no longer fits.
        daily_cap="2",
    ),
    # "Within one week": from two days after discharge until the end of the seventh day.
    "post-discharge-1w": _post_discharge(
        "post-discharge-1w",
        "within one week of discharge, from the second day, 3 attempts",
        offset="2d",
        retry_spacing="6h",
        deadline="7d",
    ),
    "cooling-off": Template(
        name="cooling-off",
        flow="cooling-off",
        description="Life insurance cooling-off verification call (犹豫期回访): identity by date "
        "of birth and ID card, then the policyholder confirms the sale was explained "
        "(recorded; must succeed within the 10 or 15 days after the receipt is signed)",
        defaults={
            "organisation": "示例人寿 (demo)",
            "offset": "0s",
            # Insurance calls may not be placed 21:00-09:00; the last window closes at 20:00 so
            # a call cannot run into the forbidden hours, and the evening reaches working people.
            "windows": "09:00-12:00,14:00-20:00",
            "rotate": "yes",
            "timezone": "Asia/Shanghai",
            "max_attempts": "5",
            "retry_spacing": "4h",
            "cooling_off_days": "15",
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
            # The regulator wants this call to succeed inside the period, and sets no daily or
            # weekly limit for it (REQUIREMENTS section 6): the do-not-call list still applies.
            "daily_cap": "none",
            "weekly_cap": "none",
            # Sales recordings: 5 years after the contract ends (terms up to a year), else 10
            # (保险法 art. 87, 保险销售行为可回溯管理暂行办法); see recordings.retention.
            "retention": "insurer",
            # letter_sent and home_visit close a missell_suspected case only with a scan of the
            # receipt the policyholder signed (ivr.queue.outcomes).
            "outcomes": "confirmed,refund_cancelled,explained_again,letter_sent,home_visit,"
            "unreachable_closed",
        },
        csv=COOLING_OFF_CSV,
        example="examples/cooling-off.csv",
        questions=(
            "greeting: insurer, policy number digit by digit, 'this call is recorded'; if you "
            "are <name>, the policyholder, press 1, if not press 2 (twice: wrong_person)",
            "identity: date of birth as 8 digits YYYYMMDD then #; last 4 characters of the ID "
            "card (* for X); each may be keyed twice; still wrong: identity_failed, no details",
            "signed the documents yourself: 1 yes / 2 no / 3 not sure",
            "told of the N-day cooling-off period and the right to cancel with a full refund: "
            "1 / 2 / 3",
            "coverage and exclusions explained: 1 / 2 / 3",
            "'your premium is X yuan a year for Y years' is what you agreed: 1 / 2 / 3; any 2 or "
            "3 escalates missell_suspected (due 15 working days later)",
            "thanks; the call-back is complete. 0 at any question: requested_agent; an invalid "
            "key or silence twice: partial",
        ),
    ),
    # REQUIREMENTS.md section 3: the first call within a week of leaving hospital, then monthly,
    # quarterly or yearly per case (ivr.cases.recurrence schedules each next case).
    "care-insurance": Template(
        name="care-insurance",
        flow="care-insurance",
        description="Long-term-care insurance follow-up (护理保险回访): ratings of the care "
        "service, the next appointment confirmed, precautions, complaints; then monthly, "
        "quarterly or yearly per insured",
        defaults={
            "organisation": "示例保险 (demo)",
            "offset": "1d",
            "windows": "09:00-12:00,14:00-18:00",
            "rotate": "yes",
            "timezone": "Asia/Shanghai",
            "max_attempts": "3",
            "retry_spacing": "4h",
            "deadline": "7d",
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
            # REQUIREMENTS section 3: unreachable by phone, try SMS and e-mail, then pause the
            # follow-ups. E-mail needs the rows' email column and SMTP (IVR_SMTP_*): off unless
            # asked for. "close" keeps a case's register line final; "pause" leaves it to a reply
            # or a person (ivr.queue.fallback).
            "sms_when_unreachable": "yes",
            "email_when_unreachable": "no",
            "after_unreachable": "close",
            # About the insured's care: held to the health-call limits, 1 a day and 3 a week.
            "daily_cap": "1",
            "weekly_cap": "3",
            # An insurer's business records (保险法 art. 87): the same rule as cooling-off.
            "retention": "insurer",
            "outcomes": "rescheduled,complaint_resolved,complaint_forwarded,advice_given,"
            "no_action_needed,unreachable_closed",
        },
        csv=CARE_INSURANCE_CSV,
        example="examples/care-insurance.csv",
        timing_note="after a reached call the next case (ref #2, #3, ...) is called from the "
        "first window of the next month, quarter or year (the row's frequency), deadline 7d; "
        "unreachable: the follow-ups pause",
        questions=(
            "identity: if you are <name>, press 1; if not, press 2 (wrong_person)",
            "the care service's response time, 1-5 (1-2 escalate low_satisfaction)",
            "the care service's accuracy, 1-5 (1-2 escalate low_satisfaction)",
            "the care service's safety, 1-5 (1-2 escalate low_satisfaction)",
            "'your next service ({service}) is on {appointment_date}': 1 right / 2 to change it "
            "(escalates reschedule)",
            "reminder of the precautions for the care at home",
            "any complaint: 1 no / 2 yes (escalates complaint)",
        ),
    ),
    # REQUIREMENTS.md section 4: three calls per job; problems reach the manager the same day.
    "renovation": Template(
        name="renovation",
        flow="renovation",
        description="Renovation job follow-up (装修回访): three calls per job, ~10 days after "
        "the start, at mid-point and at completion; crew, site and designer rated, complaints "
        "to the responsible manager the same day",
        defaults={
            "organisation": "示例装饰公司 (demo)",
            "offset": "0s",
            "windows": "09:00-12:00,14:00-19:00",
            "rotate": "yes",
            "timezone": "Asia/Shanghai",
            "max_attempts": "3",
            "retry_spacing": "3h",
            "deadline": "5d",
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
            "same_day_reasons": "complaint",
            # No written limit for a service company's calls; the three calls are days apart.
            "daily_cap": "none",
            "weekly_cap": "none",
            # No written rule: 5 years covers the longest statutory warranty of home works
            # (waterproofing, 建设工程质量管理条例 art. 40) and the 3-year limitation period.
            "retention": "5y",
            "outcomes": "repair_scheduled,complaint_resolved,explained,no_action_needed,"
            "unreachable_closed",
        },
        csv=RENOVATION_CSV,
        example="examples/renovation.csv",
        expand=renovation_cases,
        anchor_label="the call day",
        timing_note="three cases per row, refs <job>-start, -mid and -end, called on "
        "job_start + 10d, the mid-point of job_start..job_end and job_end (each at least a day "
        "after the one before)",
        questions=(
            "identity: if you are <name>, press 1; if not, press 2 (wrong_person)",
            "the crew's work, 1-5 (1-2 escalate complaint)",
            "the site is tidy and the works on schedule: 1 yes / 2 no",
            "the designer, 1-5 (1-2 escalate complaint)",
            "any problem to report: 1 no / 2 yes (escalates complaint, due the same working day)",
        ),
    ),
    # REQUIREMENTS.md section 4: treated patients are called the same evening.
    "clinic-treated": Template(
        name="clinic-treated",
        flow="clinic-treated",
        description="Clinic follow-up of treated patients (诊所回访): the same evening, "
        "satisfaction with the visit and any discomfort since",
        defaults={
            "organisation": "示例诊所 (demo)",
            "offset": "0s",
            "windows": "18:00-20:30",
            # One evening window: nothing to alternate with.
            "rotate": "no",
            "timezone": "Asia/Shanghai",
            "max_attempts": "2",
            "retry_spacing": "1h",
            "deadline": "21h",  # the evening of the visit day
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
            # Health calls, but the program retries the same evening: two a day, three a week.
            "daily_cap": "2",
            "weekly_cap": "3",
            # Outpatient records: at least 15 years after the last visit (医疗机构病历管理规定
            # 2013, art. 29). A default: each clinic checks it against its own rule.
            "retention": "15y",
            "outcomes": "advice_given,referred_to_doctor,revisit_booked,no_action_needed,"
            "unreachable_closed",
        },
        csv=CLINIC_TREATED_CSV,
        example="examples/clinic-treated.csv",
        questions=(
            "identity: if you are <name>, press 1; if not, press 2 (wrong_person)",
            "satisfied with today's visit, 1-5 (1-2 escalate low_satisfaction)",
            "any discomfort since the treatment: 1 no / 2 yes (escalates clinical_concern)",
        ),
    ),
    # REQUIREMENTS.md section 4: visitors who did not buy are called the next day at noon.
    "clinic-visitor": Template(
        name="clinic-visitor",
        flow="clinic-visitor",
        description="Clinic follow-up of visitors who did not buy (诊所回访): the next day at "
        "noon, what kept them from buying, a consultant's call if wanted",
        defaults={
            "organisation": "示例诊所 (demo)",
            "offset": "1d",
            "windows": "11:30-13:30",
            # One noon window: nothing to alternate with.
            "rotate": "no",
            "timezone": "Asia/Shanghai",
            "max_attempts": "2",
            "retry_spacing": "1h",
            "deadline": "2d",
            "default_region": "CN",
            "language": "zh-CN",
            "ring_timeout": "30",
            "record": "yes",
            # Two attempts around one noon, as the program asks; never more than 3 a week.
            "daily_cap": "2",
            "weekly_cap": "3",
            # A sales call, not care: no record-keeping rule, and personal data is kept no longer
            # than needed (PIPL art. 19); 3 years is the general limitation period for claims
            # (民法典 art. 188), so a complaint about the call can still be answered.
            "retention": "3y",
            "outcomes": "consultant_called,appointment_booked,not_interested,unreachable_closed",
        },
        csv=CLINIC_VISITOR_CSV,
        example="examples/clinic-visitor.csv",
        timing_note="rows with bought=yes are stored excluded, never called",
        questions=(
            "identity: if you are <name>, press 1; if not, press 2 (wrong_person)",
            "what kept you from buying: 1 price / 2 not needed now / 3 want to think / 4 other",
            "a consultant to call you: 1 yes (escalates requested_agent) / 2 no",
        ),
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


def resolve_options(tpl: Template, overrides: Mapping[str, str]) -> dict[str, str]:
    """The template's defaults with overrides applied, each checked and written canonically."""
    problems: list[str] = []
    unknown = sorted(set(overrides) - set(tpl.defaults))
    if unknown:
        problems.append(f"unknown option(s) {', '.join(unknown)} for template {tpl.name!r}")
    merged = {**tpl.defaults, **{k: v for k, v in overrides.items() if k in tpl.defaults}}
    resolved: dict[str, str] = {}
    for key, text in merged.items():
        option = OPTIONS[key]
        try:
            resolved[key] = option.format(option.parse(text))
        except ValueError as exc:
            problems.append(f"{key}={text!r}: {exc}")
    if not problems:
        try:
            campaign_config(resolved)  # the options together: a deadline after the offset, ...
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        valid = "\n".join(f"  {k:16} {OPTIONS[k].help}" for k in tpl.defaults)
        raise OptionError("; ".join(problems) + "\nvalid keys:\n" + valid)
    return resolved
