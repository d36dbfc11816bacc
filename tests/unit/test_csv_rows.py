"""Parsing and validating a case CSV: header, each field, duplicates, line numbers, privacy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from ivr.cases.columns import (
    CARE_INSURANCE_CSV,
    CLINIC_TREATED_CSV,
    CLINIC_VISITOR_CSV,
    COOLING_OFF_CSV,
    RENOVATION_CSV,
    Column,
    CsvSpec,
    Role,
)
from ivr.cases.csv_rows import (
    REQUIRED_COLUMNS,
    CaseRow,
    CsvFormatError,
    RowError,
    count_data_lines,
    parse_case_csv,
)
from ivr.cases.stages import call_days, renovation_cases

# Fictional persona: 138 0013 8000 is the usual documentation number in China.
GOOD = {
    "external_ref": "C-001",
    "name": "测试患者一",
    "phone": "13800138000",
    "discharge_date": "2026-02-03",
    "department": "心内科",
    "ward": "3B",
}
PHONE_E164 = "+8613800138000"
# Full-width digits (as typed with a Chinese IME) look like a date but are not ASCII.
FULLWIDTH_DATE = "2026-02-03".translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})


def csv_text(*rows: dict[str, str], columns: list[str] | None = None) -> str:
    """Write rows as CSV text with a header (the union of keys unless columns is given)."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row)) or list(GOOD)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parse(text: str, **defaults: str) -> list[CaseRow | RowError]:
    """Parse CSV text the way an uploaded file is read (newline="")."""
    return list(parse_case_csv(io.StringIO(text, newline=""), **defaults))


def only(text: str, **defaults: str) -> CaseRow | RowError:
    """Parse CSV text holding exactly one data row."""
    (result,) = parse(text, **defaults)
    return result


def reason_of(**overrides: str) -> str:
    """Parse one GOOD row with overrides and return its error reason."""
    result = only(csv_text({**GOOD, **overrides}))
    assert isinstance(result, RowError)
    return result.reason


def test_good_row_with_every_column_becomes_a_normalised_case_row() -> None:
    """A complete row comes back typed, with the phone in E.164 and the details gathered."""
    row = {
        **GOOD,
        "sex": "女",
        "age": "67",
        "doctor": "测试医生",
        "nurse": "测试护士",
        "diagnosis": "Test diagnosis",
        "language": "en-US",
        "timezone": "Asia/Urumqi",
    }
    expected = CaseRow(
        line=2,
        external_ref="C-001",
        name="测试患者一",
        phone=PHONE_E164,
        anchor_date=date(2026, 2, 3),
        department="心内科",
        ward="3B",
        language="en-US",
        timezone="Asia/Urumqi",
        sex="F",
        age=67,
        details={"doctor": "测试医生", "nurse": "测试护士", "diagnosis": "Test diagnosis"},
    )
    assert [expected] == parse(csv_text(row))


def test_row_without_optional_columns_gets_the_defaults() -> None:
    """With only the required columns, language and timezone come from the defaults."""
    expected = CaseRow(
        line=2,
        external_ref="C-001",
        name="测试患者一",
        phone=PHONE_E164,
        anchor_date=date(2026, 2, 3),
        department="心内科",
        ward="3B",
        language="zh-CN",
        timezone="Asia/Shanghai",
    )
    assert [expected] == parse(csv_text(GOOD))


def test_blank_optional_cells_mean_unset_or_default() -> None:
    """Optional columns that are present but blank behave as if they were absent."""
    blanks = dict.fromkeys(
        ("sex", "age", "doctor", "nurse", "diagnosis", "language", "timezone"), ""
    )
    result = only(
        csv_text({**GOOD, **blanks}), default_language="en-US", default_timezone="America/Chicago"
    )
    assert isinstance(result, CaseRow)
    assert (None, None, {}) == (result.sex, result.age, result.details)
    assert ("en-US", "America/Chicago") == (result.language, result.timezone)


def test_cells_are_stripped_and_ward_may_be_empty() -> None:
    """Whitespace around values is dropped; an empty ward is allowed."""
    result = only(csv_text({**GOOD, "name": "  Test Patient ", "ward": "  "}))
    assert isinstance(result, CaseRow)
    assert ("Test Patient", "") == (result.name, result.ward)


def test_header_ignores_case_whitespace_order_and_unknown_columns() -> None:
    """Column names match loosely, in any order, and extra columns are ignored."""
    text = (
        " Ward ,PHONE,Notes,Department, discharge_DATE,Name,External_Ref\n"
        "3B,13800138000,anything,心内科,2026-02-03,测试患者一,C-001\n"
    )
    result = only(text)
    assert isinstance(result, CaseRow)
    assert ("C-001", PHONE_E164, "3B") == (result.external_ref, result.phone, result.ward)


@pytest.mark.parametrize("missing", REQUIRED_COLUMNS)
def test_header_without_a_required_column_is_a_format_error(missing: str) -> None:
    """Each required column must be in the header, even ward, which may hold blanks."""
    columns = [column for column in GOOD if column != missing]
    with pytest.raises(CsvFormatError, match=missing):
        parse_case_csv(io.StringIO(csv_text(columns=columns)))


def test_format_error_names_every_missing_column_at_once() -> None:
    """One upload attempt tells the user everything the header lacks."""
    with pytest.raises(CsvFormatError) as caught:
        parse_case_csv(io.StringIO("name,sex,notes\n"))
    for column in ("external_ref", "phone", "discharge_date", "department", "ward"):
        assert column in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("\n" + csv_text(GOOD), "no header"),
        (" , ,\n", "no header"),
        (csv_text(columns=[*GOOD, "Phone"]), "more than once: phone"),
    ],
    ids=["empty file", "blank first line", "blank header cells", "repeated column"],
)
def test_unusable_header_is_a_format_error(text: str, message: str) -> None:
    """A file whose header cannot be trusted is refused as a whole."""
    with pytest.raises(CsvFormatError, match=message):
        parse_case_csv(io.StringIO(text))


def test_file_that_is_not_utf8_is_a_format_error() -> None:
    """A GBK file (Excel's plain "CSV" on Chinese Windows) is refused with a hint."""
    data = csv_text(GOOD).encode("gbk")
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    with pytest.raises(CsvFormatError, match="CSV UTF-8"):
        list(parse_case_csv(stream))


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("external_ref", "", "external_ref: must not be empty"),
        ("name", " ", "name: must not be empty"),
        ("phone", "", "phone: must not be empty"),
        ("discharge_date", "", "discharge_date: must not be empty"),
        ("department", "", "department: must not be empty"),
        ("phone", "123", "phone: not a valid number for region CN"),
        ("phone", "138001380001", "phone: not a valid number for region CN"),
        ("phone", "not known", "phone: not a phone number"),
        ("discharge_date", "2026-02-30", "discharge_date: must be a real date written YYYY-MM-DD"),
        ("discharge_date", "2026-2-3", "discharge_date: must be a real date written YYYY-MM-DD"),
        ("discharge_date", "20260203", "discharge_date: must be a real date written YYYY-MM-DD"),
        ("discharge_date", "2026/02/03", "discharge_date: must be a real date written YYYY-MM-DD"),
        ("discharge_date", "2026-W06-2", "discharge_date: must be a real date written YYYY-MM-DD"),
        (
            "discharge_date",
            FULLWIDTH_DATE,
            "discharge_date: must be a real date written YYYY-MM-DD",
        ),
        ("sex", "X", "sex: must be one of F, M, female, male, 女, 男"),
        ("age", "131", "age: must be a whole number from 0 to 130"),
        ("age", "-1", "age: must be a whole number from 0 to 130"),
        ("age", "4.5", "age: must be a whole number from 0 to 130"),
        ("age", "forty", "age: must be a whole number from 0 to 130"),
        ("language", "fr-FR", "language: must be one of zh-CN, en-US"),
        ("language", "zh", "language: must be one of zh-CN, en-US"),
        ("timezone", "Mars/Olympus_Mons", "timezone: not a known IANA time zone name"),
        ("timezone", "../etc/passwd", "timezone: not a known IANA time zone name"),
        ("timezone", "GMT+8", "timezone: not a known IANA time zone name"),
    ],
)
def test_bad_field_is_a_row_error_naming_the_column(column: str, value: str, reason: str) -> None:
    """Each kind of bad cell rejects the row with a reason that names the column."""
    assert reason_of(**{column: value}).startswith(reason)


@pytest.mark.parametrize(
    ("column", "value", "attribute", "expected"),
    [
        ("sex", "F", "sex", "F"),
        ("sex", "female", "sex", "F"),
        ("sex", "FEMALE", "sex", "F"),
        ("sex", "女", "sex", "F"),
        ("sex", "m", "sex", "M"),
        ("sex", "Male", "sex", "M"),
        ("sex", "男", "sex", "M"),
        ("age", "0", "age", 0),
        ("age", "130", "age", 130),
        ("language", "en-US", "language", "en-US"),
        ("language", "zh-cn", "language", "zh-CN"),
        ("timezone", "UTC", "timezone", "UTC"),
        ("timezone", "America/New_York", "timezone", "America/New_York"),
        ("discharge_date", "2028-02-29", "anchor_date", date(2028, 2, 29)),
    ],
)
def test_good_optional_value_is_normalised(
    column: str, value: str, attribute: str, expected: object
) -> None:
    """Accepted spellings come back in one canonical form."""
    result = only(csv_text({**GOOD, column: value}))
    assert isinstance(result, CaseRow)
    assert expected == getattr(result, attribute)


def test_several_problems_in_one_row_are_reported_together_in_column_order() -> None:
    """The user fixes a row once: every problem is listed, left to right."""
    reason = reason_of(name="", phone="123", age="200", language="fr-FR")
    expected = (
        "name: must not be empty; phone: not a valid number for region CN; "
        "age: must be a whole number from 0 to 130; language: must be one of zh-CN, en-US"
    )
    assert expected == reason


@pytest.mark.parametrize(("ref", "expected"), [("C-009", "C-009"), ("", None)])
def test_row_error_carries_the_external_ref_when_there_is_one(
    ref: str, expected: str | None
) -> None:
    """The ref identifies the rejected row; an empty ref is reported as None."""
    result = only(csv_text({**GOOD, "external_ref": ref, "phone": "123"}))
    assert isinstance(result, RowError)
    assert expected == result.external_ref


def test_repeated_external_ref_is_an_error_on_the_later_lines() -> None:
    """The first row with a ref wins; later ones point back to it."""
    results = parse(csv_text(GOOD, {**GOOD, "external_ref": "C-002"}, GOOD, GOOD))
    assert isinstance(results[0], CaseRow)
    assert isinstance(results[1], CaseRow)
    assert [
        RowError(4, "C-001", "duplicate external_ref, first seen on line 2", first_line=2),
        RowError(5, "C-001", "duplicate external_ref, first seen on line 2", first_line=2),
    ] == results[2:]


def test_invalid_first_row_still_claims_its_external_ref() -> None:
    """A duplicate is a duplicate even when the first occurrence was itself rejected."""
    results = parse(csv_text({**GOOD, "phone": "123"}, GOOD))
    assert isinstance(results[1], RowError)
    assert "first seen on line 2" in results[1].reason
    assert 2 == results[1].first_line
    assert isinstance(results[0], RowError)
    assert results[0].first_line is None


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + csv_text(GOOD),
        '\ufeff"external_ref","name","phone","discharge_date","department","ward"\n'
        "C-001,测试患者一,13800138000,2026-02-03,心内科,3B\n",
    ],
    ids=["bare header", "quoted header"],
)
def test_leading_bom_is_ignored(text: str) -> None:
    """Excel's "CSV UTF-8" starts with a BOM; it must not hide the first column."""
    result = only(text)
    assert isinstance(result, CaseRow)
    assert "C-001" == result.external_ref


def test_bom_read_as_plain_utf8_from_bytes_is_ignored() -> None:
    """The BOM is stripped when the file is opened as utf-8 rather than utf-8-sig."""
    data = csv_text(GOOD).encode("utf-8-sig")
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    assert ["C-001"] == [row.external_ref for row in parse_case_csv(stream)]


def test_line_numbers_count_newlines_inside_quoted_cells() -> None:
    """A multi-line diagnosis shifts the physical line of every row after it."""
    text = csv_text(
        {**GOOD, "diagnosis": "first line\nsecond line\nthird line"},
        {**GOOD, "external_ref": "C-002", "phone": "123"},
        {**GOOD, "external_ref": "C-003", "diagnosis": "a\r\nb"},
        {**GOOD, "external_ref": "C-004", "age": "200"},
    )
    assert [2, 5, 6, 8] == [result.line for result in parse(text)]
    first = parse(text)[0]
    assert isinstance(first, CaseRow)
    assert "first line\nsecond line\nthird line" == first.details["diagnosis"]


def test_blank_rows_are_skipped_without_breaking_line_numbers() -> None:
    """Empty lines and rows of empty cells yield nothing; later rows keep their real line."""
    header, row = csv_text(GOOD).splitlines()
    text = "\n".join([header, "", row, ",,,,,", " , ,\t, ", row.replace("C-001", "C-002"), ""])
    assert [(3, "C-001"), (6, "C-002")] == [
        (result.line, result.external_ref) for result in parse(text)
    ]


def test_short_row_treats_missing_trailing_cells_as_empty() -> None:
    """A row with fewer cells than the header reports the missing values, not a crash."""
    header = csv_text(columns=list(GOOD))
    result = only(header + "C-001,测试患者一,13800138000\n")
    assert isinstance(result, RowError)
    expected = "discharge_date: must not be empty; department: must not be empty"
    assert expected == result.reason


@pytest.mark.parametrize(
    "phone",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "008613800138000",
        "(+86) 138 0013 8000",
    ],
)
def test_phone_shapes_normalise_to_the_same_e164(phone: str) -> None:
    """National and international spellings of one number all end up as one E.164 string."""
    result = only(csv_text({**GOOD, "phone": phone}))
    assert isinstance(result, CaseRow)
    assert PHONE_E164 == result.phone


@pytest.mark.parametrize(
    ("phone", "region", "expected"),
    [
        ("(202) 555-0123", "US", "+12025550123"),
        ("202.555.0147", "US", "+12025550147"),
        ("+1 202-555-0199", "CN", "+12025550199"),
    ],
)
def test_default_region_decides_how_national_numbers_are_read(
    phone: str, region: str, expected: str
) -> None:
    """Fictional US 555-01xx numbers: national shapes need region US, +1 works anywhere."""
    result = only(csv_text({**GOOD, "phone": phone}), default_region=region)
    assert isinstance(result, CaseRow)
    assert expected == result.phone


def test_chinese_mobile_is_invalid_when_the_default_region_is_us() -> None:
    """Without a country code the number is read in the default region."""
    result = only(csv_text(GOOD), default_region="US")
    assert isinstance(result, RowError)
    assert "phone: not a valid number for region US" == result.reason


@pytest.mark.parametrize(
    "row",
    [
        {**GOOD, "phone": "138001380001", "age": "abc"},
        {**GOOD, "phone": "+86 138 0013 800", "name": "Test Patient", "department": ""},
        # A shifted row: the phone and the name landed in checked columns.
        {**GOOD, "sex": "测试患者一", "age": "13800138000", "language": "13800138000"},
        {**GOOD, "timezone": "测试患者一", "discharge_date": "13800138000"},
        {**GOOD, "external_ref": "", "phone": "Test Patient"},
    ],
)
def test_row_errors_never_contain_the_phone_or_the_name(row: dict[str, str]) -> None:
    """Reasons reach logs and screens, so no cell value is echoed back."""
    result = only(csv_text(row))
    assert isinstance(result, RowError)
    for secret in (row["phone"], row["name"], "13800138000", "8013", "测试患者一"):
        assert secret not in result.reason
        assert secret not in repr(result)


def test_count_data_lines_matches_what_parse_yields_and_rewinds() -> None:
    """The progress total equals the number of results, and parsing still starts at the top."""
    text = csv_text(
        GOOD,
        {**GOOD, "external_ref": "C-002", "diagnosis": "two\nlines"},
        {**GOOD, "external_ref": "C-003", "phone": "123"},
    )
    stream = io.StringIO(text.replace("\nC-003", "\n,,,,,\n\nC-003"), newline="")
    total = count_data_lines(stream)
    assert 3 == total
    assert total == len(list(parse_case_csv(stream)))


@pytest.mark.parametrize("text", ["", "external_ref,name,phone,discharge_date,department,ward\n"])
def test_count_data_lines_is_zero_without_data_rows(text: str) -> None:
    """An empty file and a header-only file both count as no rows."""
    assert 0 == count_data_lines(io.StringIO(text))


def test_header_only_file_yields_nothing() -> None:
    """A header with no data rows is a valid, empty upload."""
    assert [] == parse(csv_text(columns=list(GOOD)))


@pytest.mark.parametrize(
    "defaults",
    [
        {"default_region": "XX"},
        {"default_language": "fr-FR"},
        {"default_timezone": "Mars/Olympus_Mons"},
    ],
)
def test_bad_defaults_are_a_programming_error(defaults: dict[str, str]) -> None:
    """Defaults come from settings, not the file, so they raise ValueError at once."""
    with pytest.raises(ValueError):
        parse_case_csv(io.StringIO(csv_text(GOOD)), **defaults)


# --- the cooling-off template's columns ------------------------------------------------------

# Fictional policyholder: a fake policy number, a 555-01xx number, a made-up birthday and ID.
POLICY = {
    "external_ref": "9900000001",
    "name": "测试客户一",
    "phone": "+1 202 555 0111",
    "receipt_signed_at": "2030-01-05T15:30:00+08:00",
    "cooling_off_days": "10",
    "dob": "1980-02-29",
    "id_last4": "987x",
    "premium": "12000.50",
    "payment_years": "010",
    "product": "示例终身寿险(演示)",
    "seller": "测试业务员甲",
}


def cooling_off(*rows: dict[str, str], **defaults: str) -> list[CaseRow | RowError]:
    """Parse rows against the cooling-off spec."""
    stream = io.StringIO(csv_text(*rows), newline="")
    return list(parse_case_csv(stream, spec=COOLING_OFF_CSV, **defaults))


def test_cooling_off_row_splits_into_case_details_options_and_facts() -> None:
    """Details keep their text, the option its canonical value, facts come out normalised."""
    (result,) = cooling_off(POLICY)
    assert isinstance(result, CaseRow)
    assert ("9900000001", "+12025550111", "", "") == (
        result.external_ref,
        result.phone,
        result.department,
        result.ward,
    )
    expected_details = {
        "premium": "12000.50",
        "payment_years": "10",
        "product": "示例终身寿险(演示)",
        "seller": "测试业务员甲",
    }
    assert expected_details == result.details
    assert {"cooling_off_days": "10"} == result.options
    assert {"dob": "19800229", "id_last4": "987X"} == result.facts


def test_cooling_off_contract_dates_go_to_the_details_for_the_retention_rule() -> None:
    """contract_end and term_months are optional; given, the insurer retention rule reads them."""
    (result,) = cooling_off({**POLICY, "contract_end": "2031-06-30", "term_months": "012"})
    assert isinstance(result, CaseRow)
    assert ("2031-06-30", "12") == (result.details["contract_end"], result.details["term_months"])


def test_cooling_off_row_repr_never_shows_the_facts() -> None:
    """A row printed or logged by mistake does not carry the date of birth or the ID digits."""
    (result,) = cooling_off(POLICY)
    for clear in ("1980-02-29", "19800229", "987x", "987X"):
        assert clear not in repr(result)


@pytest.mark.parametrize(
    ("receipt", "timezone", "anchor_date", "anchor_at"),
    [
        (
            "2030-01-05T15:30:00+08:00",
            "",
            date(2030, 1, 5),
            datetime(2030, 1, 5, 7, 30, tzinfo=UTC),
        ),
        ("2030-01-05T15:30", "", date(2030, 1, 5), datetime(2030, 1, 5, 7, 30, tzinfo=UTC)),
        ("2030-01-05 15:30:45", "", date(2030, 1, 5), datetime(2030, 1, 5, 7, 30, 45, tzinfo=UTC)),
        ("2030-01-05T20:00:00Z", "", date(2030, 1, 6), datetime(2030, 1, 5, 20, 0, tzinfo=UTC)),
        (
            "2030-01-05T15:30",
            "America/New_York",
            date(2030, 1, 5),
            datetime(2030, 1, 5, 20, 30, tzinfo=UTC),
        ),
        ("2030-01-05", "", date(2030, 1, 5), None),
    ],
    ids=["offset", "naive", "space and seconds", "utc late evening", "naive elsewhere", "date"],
)
def test_receipt_signed_at_takes_a_date_or_a_datetime(
    receipt: str, timezone: str, anchor_date: date, anchor_at: datetime | None
) -> None:
    """A time without offset is the contact's local time; the anchor date is local to them."""
    (result,) = cooling_off({**POLICY, "receipt_signed_at": receipt, "timezone": timezone})
    assert isinstance(result, CaseRow)
    assert (anchor_date, anchor_at) == (result.anchor_date, result.anchor_at)


def test_blank_cooling_off_days_leaves_the_campaign_default() -> None:
    """The option column is optional: a blank cell sets nothing for the case."""
    (result,) = cooling_off({**POLICY, "cooling_off_days": ""})
    assert isinstance(result, CaseRow)
    assert {} == result.options


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("receipt_signed_at", "2030-01-05T25:00", "receipt_signed_at: must be a real date"),
        ("receipt_signed_at", "05/01/2030", "receipt_signed_at: must be a real date"),
        ("receipt_signed_at", "", "receipt_signed_at: must not be empty"),
        ("cooling_off_days", "7", "cooling_off_days: must be 10 or 15"),
        ("cooling_off_days", "15.0", "cooling_off_days: must be 10 or 15"),
        ("dob", "1981-02-29", "dob: must be a real date from 1900 on, written YYYY-MM-DD"),
        ("dob", "29/02/1980", "dob: must be a real date from 1900 on, written YYYY-MM-DD"),
        ("dob", "", "dob: must not be empty"),
        ("id_last4", "98765", "id_last4: must be 4 characters, each a digit or X"),
        ("id_last4", "98A5", "id_last4: must be 4 characters, each a digit or X"),
        ("id_last4", "", "id_last4: must not be empty"),
        ("premium", "-100", "premium: must be an amount in yuan greater than 0"),
        ("premium", "0", "premium: must be an amount in yuan greater than 0"),
        ("payment_years", "0", "payment_years: must be a whole number of years from 1 to 100"),
        ("product", "", "product: must not be empty"),
        ("contract_end", "2031-02-30", "contract_end: must be a real date written YYYY-MM-DD"),
        ("term_months", "0", "term_months: must be a whole number of months from 1 to 999"),
    ],
)
def test_bad_cooling_off_cell_is_a_row_error_that_never_echoes_it(
    column: str, value: str, reason: str
) -> None:
    """Each bad cell rejects the row with the column's rule, and the cell is not repeated."""
    (result,) = cooling_off({**POLICY, column: value})
    assert isinstance(result, RowError)
    assert result.reason.startswith(reason)
    if len(value) > 2:  # "0" is in "100" by chance, not by echo
        assert value not in result.reason


def test_bad_cooling_off_rows_are_reported_on_their_lines() -> None:
    """Good rows pass around bad ones; each error carries its line and policy number."""
    rows = [
        POLICY,
        {**POLICY, "external_ref": "9900000002", "dob": "1980-13-01"},
        {**POLICY, "external_ref": "9900000003"},
        {**POLICY, "external_ref": "9900000004", "id_last4": "12", "cooling_off_days": "30"},
    ]
    results = cooling_off(*rows)
    assert [2, 3, 4, 5] == [result.line for result in results]
    errors = [(r.line, r.external_ref, r.reason) for r in results if isinstance(r, RowError)]
    assert [
        (3, "9900000002", "dob: must be a real date from 1900 on, written YYYY-MM-DD"),
        (
            5,
            "9900000004",
            "cooling_off_days: must be 10 or 15; id_last4: must be 4 characters, each a digit or X",
        ),
    ] == errors


@pytest.mark.parametrize("missing", ["receipt_signed_at", "dob", "id_last4", "premium"])
def test_cooling_off_header_needs_its_required_columns(missing: str) -> None:
    """A file without a fact or the anchor is refused as a whole."""
    columns = [column for column in POLICY if column != missing]
    with pytest.raises(CsvFormatError, match=missing):
        parse_case_csv(io.StringIO(csv_text(columns=columns)), spec=COOLING_OFF_CSV)


def test_post_discharge_anchor_refuses_a_time() -> None:
    """Only specs that allow it take a date and time; discharge_date stays a plain date."""
    assert "discharge_date: must be a real date written YYYY-MM-DD" == reason_of(
        discharge_date="2026-02-03T10:00"
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ((Column("external_ref", "", True), Column("name", "", True)), "exactly one anchor"),
        (
            (
                Column("external_ref", "", True),
                Column("name", "", True),
                Column("phone", "", True),
                Column("day", "", True, Role.ANCHOR),
                Column("dob", "", role=Role.FACT),
            ),
            "must be a required column",
        ),
        (
            (
                Column("external_ref", "", True),
                Column("name", "", True),
                Column("phone", "", True),
                Column("day", "", True, Role.ANCHOR),
                Column("colour", ""),
            ),
            "not a case field",
        ),
    ],
    ids=["no anchor", "optional fact", "unknown case field"],
)
def test_inconsistent_spec_is_a_programming_error(
    columns: tuple[Column, ...], message: str
) -> None:
    """A template's spec is checked when it is built, not when a file arrives."""
    with pytest.raises(ValueError, match=message):
        CsvSpec(columns=columns)


# The service programs' CSVs (care insurance, renovation, clinic): one spec each.


def parse_spec(spec: CsvSpec, *rows: dict[str, str]) -> list[CaseRow | RowError]:
    """Parse rows written under the spec's columns (all of them, in order)."""
    columns = [column.name for column in spec.columns]
    text = csv_text(*({name: r.get(name, "") for name in columns} for r in rows), columns=columns)
    return list(parse_case_csv(io.StringIO(text, newline=""), spec=spec))


CARE = {
    "external_ref": "HL-1",
    "name": "测试客户一",
    "phone": "+12025550121",
    "hospital_exit_date": "2030-01-05",
    "frequency": "Monthly",
    "service": "居家护理",
    "provider": "示例护理服务中心",
    "next_appointment": "2030-01-20",
}


def test_care_insurance_row_keeps_the_frequency_and_the_appointment_for_the_prompts() -> None:
    """frequency is a per-case option; next_appointment is stored as appointment_date."""
    (result,) = parse_spec(CARE_INSURANCE_CSV, {**CARE, "frequency": "每季度"})
    assert isinstance(result, CaseRow)
    assert (date(2030, 1, 5), {"frequency": "quarterly"}) == (result.anchor_date, result.options)
    assert {
        "service": "居家护理",
        "provider": "示例护理服务中心",
        "appointment_date": "2030-01-20",
    } == result.details


def test_bad_care_insurance_rows_are_reported_by_line() -> None:
    """Each bad row names its line and every problem; the good one goes through."""
    results = parse_spec(
        CARE_INSURANCE_CSV,
        {**CARE, "external_ref": "HL-1", "frequency": "weekly"},
        {**CARE, "external_ref": "HL-2"},
        {**CARE, "external_ref": "HL-3", "next_appointment": "2030-02-30", "service": ""},
    )
    assert [
        RowError(2, "HL-1", "frequency: must be monthly, quarterly or yearly"),
        RowError(
            4,
            "HL-3",
            "service: must not be empty; next_appointment: must be a real date written YYYY-MM-DD",
        ),
    ] == [r for r in results if isinstance(r, RowError)]
    assert ["HL-2"] == [r.external_ref for r in results if isinstance(r, CaseRow)]


JOB = {
    "external_ref": "ZX-1",
    "name": "测试客户一",
    "phone": "+12025550131",
    "job_start": "2030-01-01",
    "job_end": "2030-03-01",
    "crew": "示例施工队甲",
    "designer": "测试设计师甲",
    "manager": "测试经理甲",
}


def test_renovation_row_becomes_three_cases_on_their_call_days() -> None:
    """start + 10 days, the mid-point, completion; each ref and stage its own."""
    (row,) = parse_spec(RENOVATION_CSV, {**JOB, "inspector": "测试监理甲"})
    assert isinstance(row, CaseRow)
    cases = renovation_cases(row)
    assert [
        ("ZX-1-start", date(2030, 1, 11), "start"),
        ("ZX-1-mid", date(2030, 1, 30), "mid"),
        ("ZX-1-end", date(2030, 3, 1), "end"),
    ] == [(c.external_ref, c.anchor_date, c.details["stage"]) for c in cases]
    assert all(c.details["inspector"] == "测试监理甲" for c in cases)
    assert all(c.details["job_start"] == "2030-01-01" for c in cases)
    assert all((c.line, c.phone) == (2, row.phone) for c in cases)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # 60 days: 10 days in, half-way (day 30), at the end.
        (
            date(2030, 1, 1),
            date(2030, 3, 2),
            (date(2030, 1, 11), date(2030, 1, 31), date(2030, 3, 2)),
        ),
        # 21 days: half-way is day 10, the start call's day; the mid call moves a day later.
        (
            date(2030, 1, 1),
            date(2030, 1, 21),
            (date(2030, 1, 11), date(2030, 1, 12), date(2030, 1, 21)),
        ),
        # 5 days: three calls on consecutive days from day 10, never before the planned end.
        (
            date(2030, 1, 1),
            date(2030, 1, 6),
            (date(2030, 1, 11), date(2030, 1, 12), date(2030, 1, 13)),
        ),
        # Finished the day it started.
        (
            date(2030, 1, 1),
            date(2030, 1, 1),
            (date(2030, 1, 11), date(2030, 1, 12), date(2030, 1, 13)),
        ),
    ],
    ids=["60 days", "21 days", "5 days", "same day"],
)
def test_call_days_are_ordered_a_day_apart_at_least(
    start: date, end: date, expected: tuple[date, date, date]
) -> None:
    """A short job still gets three calls, in order, each at least a day after the last."""
    assert expected == call_days(start, end)


def test_renovation_job_ending_before_it_starts_is_refused_naming_job_end() -> None:
    """The rule across two columns comes back as a reason on job_end."""
    (row,) = parse_spec(RENOVATION_CSV, {**JOB, "job_end": "2029-12-31"})
    assert isinstance(row, CaseRow)
    with pytest.raises(ValueError, match=r"^job_end: must not be before job_start$"):
        renovation_cases(row)


def test_bad_renovation_rows_name_each_missing_person_and_bad_date() -> None:
    """crew, designer and manager are required; job_end must be a real date."""
    results = parse_spec(
        RENOVATION_CSV, {**JOB, "job_end": "1 March", "designer": "", "manager": ""}
    )
    assert [
        RowError(
            2,
            "ZX-1",
            "job_end: must be a real date written YYYY-MM-DD; designer: must not be empty; "
            "manager: must not be empty",
        )
    ] == results


def test_clinic_treated_row_keeps_the_department_on_the_case() -> None:
    """department is a case field, doctor a detail; the visit day is the anchor."""
    (result,) = parse_spec(
        CLINIC_TREATED_CSV,
        {
            "external_ref": "MZ-1",
            "name": "测试患者一",
            "phone": "+12025550141",
            "visit_date": "2030-01-07",
            "department": "口腔科",
            "doctor": "测试医生甲",
        },
    )
    assert isinstance(result, CaseRow)
    assert (date(2030, 1, 7), "口腔科", {"doctor": "测试医生甲"}, None) == (
        result.anchor_date,
        result.department,
        result.details,
        result.excluded_reason,
    )


VISIT = {
    "external_ref": "FK-1",
    "name": "测试客户一",
    "phone": "+12025550151",
    "visit_date": "2030-01-06",
    "bought": "no",
}


@pytest.mark.parametrize(
    ("bought", "stored", "excluded"),
    [
        ("no", "no", None),
        ("否", "no", None),
        ("YES", "yes", "bought: not called"),
        ("是", "yes", "bought: not called"),
    ],
)
def test_clinic_visitor_who_bought_is_excluded(
    bought: str, stored: str, excluded: str | None
) -> None:
    """bought=yes marks the row excluded (stored, never called); the answer is kept."""
    (result,) = parse_spec(CLINIC_VISITOR_CSV, {**VISIT, "bought": bought})
    assert isinstance(result, CaseRow)
    assert (stored, excluded) == (result.details["bought"], result.excluded_reason)


def test_clinic_visitor_bought_must_be_yes_or_no() -> None:
    """Anything else is a row error on its line, not a guess."""
    results = parse_spec(
        CLINIC_VISITOR_CSV, VISIT, {**VISIT, "external_ref": "FK-2", "bought": "maybe"}
    )
    assert RowError(3, "FK-2", "bought: must be yes or no (also y, n, 是, 否)") == results[1]


def test_only_a_detail_column_may_rename_its_key_or_exclude() -> None:
    """key and excluded_if are for details; elsewhere they are a programming error."""
    base = (
        Column("external_ref", "", True),
        Column("name", "", True),
        Column("phone", "", True),
        Column("day", "", True, Role.ANCHOR),
    )
    with pytest.raises(ValueError, match="may name its key"):
        CsvSpec(columns=(*base, Column("n", "", role=Role.OPTION, key="x")))
    with pytest.raises(ValueError, match="may exclude cases"):
        CsvSpec(columns=(*base, Column("n", "", role=Role.FACT, required=True, excluded_if="y")))
