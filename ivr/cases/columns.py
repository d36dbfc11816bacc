"""The columns of a template's case CSV: what each holds and what the importer does with it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ivr.identity import normalise_dob, normalise_id_last4

__all__ = [
    "CARE_INSURANCE_CSV",
    "CASE_FIELDS",
    "CLINIC_TREATED_CSV",
    "CLINIC_VISITOR_CSV",
    "COOLING_OFF_CSV",
    "COOLING_OFF_DAYS",
    "FREQUENCIES",
    "LANGUAGES",
    "POST_DISCHARGE_CSV",
    "RENOVATION_CSV",
    "Column",
    "CsvSpec",
    "Role",
    "parse_cooling_off_days",
    "parse_frequency",
    "parse_iso_date",
]

LANGUAGES = ("zh-CN", "en-US")
COOLING_OFF_DAYS = (10, 15)
FREQUENCIES = ("monthly", "quarterly", "yearly")
"""How often a care-insurance case is followed up after its first call (ivr.cases.recurrence)."""

# [0-9], not \d: \d also matches full-width and other Unicode digits.
_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")
_YEARS = re.compile(r"[0-9]{1,3}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FREQUENCY_WORDS = {
    **{word: word for word in FREQUENCIES},
    "每月": "monthly",
    "每季度": "quarterly",
    "每年": "yearly",
}
_YES_NO = {"yes": "yes", "y": "yes", "是": "yes", "no": "no", "n": "no", "否": "no"}


class Role(StrEnum):
    """What the importer does with a column's value."""

    CASE = "case"  #: a field of the case or its contact, handled by name (name, phone, ward...)
    ANCHOR = "anchor"  #: the date (or date and time) the template's timing counts from
    DETAIL = "detail"  #: kept in Case.details as text
    OPTION = "option"  #: overrides the campaign option of the same name for this case
    FACT = "fact"  #: an identity fact: normalised, hashed on import, never stored in clear


CASE_FIELDS = (
    "external_ref",
    "name",
    "phone",
    "department",
    "ward",
    "sex",
    "age",
    "language",
    "timezone",
    "email",
)
"""The names a Role.CASE column may have: each goes to its own attribute of CaseRow."""


@dataclass(frozen=True)
class Column:
    """One CSV column of a template, with a one-line meaning for ``ivr templates show``."""

    name: str
    meaning: str
    required: bool = False  #: the header must have it and, unless may_be_blank, every row fill it
    role: Role = Role.CASE
    may_be_blank: bool = False  #: a required column whose cells may still be empty (ward)
    #: normalises a non-blank DETAIL, OPTION or FACT cell; raises ValueError naming the rule
    check: Callable[[str], str] | None = None
    #: a DETAIL's key in Case.details when it differs from the column's name (what prompts name)
    key: str = ""
    #: a (normalised) value that makes the case excluded: stored, never called, with the
    #: reason "<column>: not called" (bought=yes: the visitor bought, nobody calls them)
    excluded_if: str | None = None

    @property
    def detail_key(self) -> str:
        """Where a DETAIL's value goes in Case.details."""
        return self.key or self.name

    @property
    def excluded_reason(self) -> str:
        """The excluded_reason of a case this column excludes."""
        return f"{self.name}: not called"


@dataclass(frozen=True)
class CsvSpec:
    """A template's case CSV: its columns in spreadsheet order, exactly one of them the anchor."""

    columns: tuple[Column, ...]
    anchor_time: bool = False  #: the anchor may be an ISO date and time as well as a date

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(names) != len(set(names)):
            raise ValueError("a CSV spec names a column twice")
        if [c.role for c in self.columns].count(Role.ANCHOR) != 1:
            raise ValueError("a CSV spec needs exactly one anchor column")
        for column in self.columns:
            if column.role is Role.CASE and column.name not in CASE_FIELDS:
                raise ValueError(f"{column.name!r} is not a case field ({', '.join(CASE_FIELDS)})")
            if column.role is Role.FACT and not column.required:
                raise ValueError(f"identity fact {column.name!r} must be a required column")
            if column.key and column.role is not Role.DETAIL:
                raise ValueError(f"only a detail column may name its key ({column.name!r})")
            if column.excluded_if is not None and column.role is not Role.DETAIL:
                raise ValueError(f"only a detail column may exclude cases ({column.name!r})")
        if not {"external_ref", "name", "phone"} <= set(names):
            raise ValueError("a CSV spec needs external_ref, name and phone")

    @property
    def required(self) -> tuple[str, ...]:
        """Columns the header must have."""
        return tuple(column.name for column in self.columns if column.required)

    @property
    def optional(self) -> tuple[str, ...]:
        """Columns the header may have."""
        return tuple(column.name for column in self.columns if not column.required)

    @property
    def anchor(self) -> str:
        """The anchor column's name."""
        return next(column.name for column in self.columns if column.role is Role.ANCHOR)

    def named(self, role: Role) -> tuple[str, ...]:
        """The names of the columns with this role, in order."""
        return tuple(column.name for column in self.columns if column.role is role)


def parse_cooling_off_days(text: str) -> int:
    """A cooling-off period in days: 10 or 15, as insurance products set it."""
    if text.strip() not in {str(days) for days in COOLING_OFF_DAYS}:
        raise ValueError(f"must be {' or '.join(str(days) for days in COOLING_OFF_DAYS)}")
    return int(text)


def parse_frequency(text: str) -> str:
    """A follow-up frequency: monthly, quarterly or yearly (also 每月, 每季度, 每年)."""
    frequency = _FREQUENCY_WORDS.get(text.strip().lower())
    if frequency is None:
        raise ValueError(f"must be {', '.join(FREQUENCIES[:-1])} or {FREQUENCIES[-1]}")
    return frequency


def parse_iso_date(text: str) -> str:
    """A real date written YYYY-MM-DD, returned as written."""
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise ValueError("must be a real date written YYYY-MM-DD")


def _yes_no(text: str) -> str:
    answer = _YES_NO.get(text.strip().lower())
    if answer is None:
        raise ValueError("must be yes or no (also y, n, 是, 否)")
    return answer


def _cooling_off_days(text: str) -> str:
    return str(parse_cooling_off_days(text))


def _amount(text: str) -> str:
    if _AMOUNT.fullmatch(text) is None or float(text) <= 0:
        raise ValueError("must be an amount in yuan greater than 0, such as 12000 or 12000.50")
    return text


def _term_months(text: str) -> str:
    if _YEARS.fullmatch(text) is None or not 1 <= int(text) <= 999:
        raise ValueError("must be a whole number of months from 1 to 999")
    return str(int(text))


# The contract's dates the insurer retention rule reads (recordings.retention): without
# contract_end a recording of the case is kept until one is given.
_CONTRACT_END = Column(
    "contract_end",
    "the day the contract ends, YYYY-MM-DD (its recordings are kept 5 or 10 years after it)",
    role=Role.DETAIL,
    check=parse_iso_date,
)
_TERM_MONTHS = Column(
    "term_months",
    "the contract's term in months: up to 12 keeps recordings 5 years after the end, longer 10",
    role=Role.DETAIL,
    check=_term_months,
)


def _payment_years(text: str) -> str:
    if _YEARS.fullmatch(text) is None or not 1 <= int(text) <= 100:
        raise ValueError("must be a whole number of years from 1 to 100")
    return str(int(text))


POST_DISCHARGE_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the hospital's case or admission number", required=True),
        Column("name", "the patient's name, said in the greeting", required=True),
        Column("phone", "the number to call (national numbers read in the region)", required=True),
        Column("discharge_date", "discharge date, YYYY-MM-DD", required=True, role=Role.ANCHOR),
        Column("department", "the discharging department", required=True),
        Column("ward", "the ward; cases of excluded wards are never called", True, Role.CASE, True),
        Column("sex", "F/M (also female, male, 女, 男)"),
        Column("age", "age in years, 0-130"),
        Column("doctor", "responsible doctor, kept for the register", role=Role.DETAIL),
        Column("nurse", "responsible nurse, kept for the register", role=Role.DETAIL),
        Column("diagnosis", "diagnosis, kept for the register", role=Role.DETAIL),
        Column("language", "call language, zh-CN or en-US (default: the campaign's)"),
        Column("timezone", "IANA time zone of the patient (default: the campaign's)"),
    )
)
"""The post-discharge templates' case CSV (and parse_case_csv's default)."""

COOLING_OFF_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the policy number, read out digit by digit", required=True),
        Column("name", "the policyholder's name, said in the greeting", required=True),
        Column("phone", "the policyholder's number", required=True),
        Column(
            "receipt_signed_at",
            "when the policy receipt was signed: YYYY-MM-DD or YYYY-MM-DDTHH:MM[+08:00]",
            required=True,
            role=Role.ANCHOR,
        ),
        Column(
            "cooling_off_days",
            "the policy's cooling-off period, 10 or 15 days (default: the campaign's)",
            role=Role.OPTION,
            check=_cooling_off_days,
        ),
        Column(
            "dob",
            "policyholder's date of birth, YYYY-MM-DD; hashed on import, never stored",
            required=True,
            role=Role.FACT,
            check=normalise_dob,
        ),
        Column(
            "id_last4",
            "last 4 characters of the ID card (digits or X); hashed on import, never stored",
            required=True,
            role=Role.FACT,
            check=normalise_id_last4,
        ),
        Column("premium", "yearly premium in yuan", True, Role.DETAIL, check=_amount),
        Column("payment_years", "payment term in years", True, Role.DETAIL, check=_payment_years),
        Column("product", "the product's name", required=True, role=Role.DETAIL),
        Column(
            "seller", "the agent who sold it (problem cases go to someone else)", role=Role.DETAIL
        ),
        _CONTRACT_END,
        _TERM_MONTHS,
        Column("language", "call language, zh-CN or en-US (default: the campaign's)"),
        Column("timezone", "IANA time zone of the policyholder (default: the campaign's)"),
    ),
    anchor_time=True,
)
"""The cooling-off template's case CSV."""

_LANGUAGE = Column("language", "call language, zh-CN or en-US (default: the campaign's)")

CARE_INSURANCE_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the care case id (follow-ups get #2, #3, ...)", required=True),
        Column("name", "the insured person's name, said in the greeting", required=True),
        Column("phone", "the number to call (national numbers read in the region)", required=True),
        Column(
            "hospital_exit_date",
            "the day the insured left hospital, YYYY-MM-DD",
            required=True,
            role=Role.ANCHOR,
        ),
        Column(
            "frequency",
            "follow-ups after the first call: monthly, quarterly or yearly",
            required=True,
            role=Role.OPTION,
            check=parse_frequency,
        ),
        Column("service", "the care service, e.g. home nursing (read out)", True, Role.DETAIL),
        Column("provider", "the care service provider, kept for reports", True, Role.DETAIL),
        Column(
            "next_appointment",
            "the next service appointment, YYYY-MM-DD (read out for confirmation)",
            required=True,
            role=Role.DETAIL,
            check=parse_iso_date,
            key="appointment_date",
        ),
        Column("appointment_content", "what the next appointment covers", role=Role.DETAIL),
        _CONTRACT_END,
        _TERM_MONTHS,
        _LANGUAGE,
        Column("timezone", "IANA time zone of the insured (default: the campaign's)"),
        Column(
            "email",
            "the insured's e-mail address, for the unreachable e-mail "
            "(campaign option email_when_unreachable)",
        ),
    )
)
"""The care-insurance template's case CSV: one row per insured, the first call after exit."""

RENOVATION_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the job id (its three calls get -start, -mid, -end)", True),
        Column("name", "the customer's name, said in the greeting", required=True),
        Column("phone", "the customer's number", required=True),
        Column("job_start", "the day the works started, YYYY-MM-DD", True, Role.ANCHOR),
        Column(
            "job_end",
            "the planned completion day, YYYY-MM-DD (not before job_start)",
            required=True,
            role=Role.DETAIL,
            check=parse_iso_date,
        ),
        Column("crew", "the work crew, kept for complaint ratios", True, Role.DETAIL),
        Column("designer", "the designer, kept for complaint ratios", True, Role.DETAIL),
        Column("inspector", "the site inspector, kept for complaint ratios", role=Role.DETAIL),
        Column(
            "manager", "the manager told of problems the same day", required=True, role=Role.DETAIL
        ),
        Column("district", "the district or branch, kept for reports", role=Role.DETAIL),
        _LANGUAGE,
        Column("timezone", "IANA time zone of the customer (default: the campaign's)"),
    )
)
"""The renovation template's case CSV: one row per job, three cases (ivr.cases.stages)."""

CLINIC_TREATED_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the visit id", required=True),
        Column("name", "the patient's name, said in the greeting", required=True),
        Column("phone", "the patient's number", required=True),
        Column("visit_date", "the day of the treatment, YYYY-MM-DD", True, Role.ANCHOR),
        Column("department", "the department that treated the patient"),
        Column("doctor", "the treating doctor, kept for the director's report", role=Role.DETAIL),
        _LANGUAGE,
        Column("timezone", "IANA time zone of the patient (default: the campaign's)"),
    )
)
"""The clinic-treated template's case CSV: called the evening of the visit."""

CLINIC_VISITOR_CSV = CsvSpec(
    columns=(
        Column("external_ref", "the visit id", required=True),
        Column("name", "the visitor's name, said in the greeting", required=True),
        Column("phone", "the visitor's number", required=True),
        Column("visit_date", "the day of the visit, YYYY-MM-DD", True, Role.ANCHOR),
        Column(
            "bought",
            "yes or no; a visitor who bought is stored but never called",
            required=True,
            role=Role.DETAIL,
            check=_yes_no,
            excluded_if="yes",
        ),
        Column("interest", "what they looked at, kept for the consultant", role=Role.DETAIL),
        _LANGUAGE,
        Column("timezone", "IANA time zone of the visitor (default: the campaign's)"),
    )
)
"""The clinic-visitor template's case CSV: visitors who did not buy, called the next noon."""
