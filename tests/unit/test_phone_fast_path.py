"""The phone fast path agrees with the full phonenumbers parse wherever it answers, yes or no."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ivr.cases.phones import PhoneError, fast_e164, full_e164, to_e164

# Prefixes the CN mobile pattern takes (147, 166, 198 as well as the usual 13x, 15x, 18x) and a
# few near them that it does not (140, 154, 179 as a carrier code, 11x, 12x).
CN_MOBILE = ("130", "134", "138", "139", "147", "150", "159", "166", "170", "177", "180", "189")
CN_NEAR = ("100", "110", "120", "140", "154", "160", "174", "179", "190", "194")
# Area codes (Beijing, Shanghai, Guangzhou, Shenzhen, Hangzhou, Chengdu), written after a 0.
CN_AREAS = ("10", "21", "20", "755", "571", "28")
PREFIXES = (
    "",
    "+",
    "+86",
    "+86 ",
    "+86-",
    "0086",
    "0086 ",
    "86",
    "86 ",
    "0",
    "00",
    "+860",
    "+86 0",
    "17951",
    "+1",
    "+44 ",
    "+49",
    "+91 ",
    "+33",
    "\uff0b86",  # full-width plus
    "(+86) ",
    "+86 (0)",
    "011 86",
)
SEPARATORS = ("", "", " ", "-", "  ", ".", "/", "(", ")", "\u3000", "\uff0d", "\t")
SUFFIXES = ("", "", "", " ext 12", "#", "x1", " ", "-", ";ext=3")
WIDE_MOBILE = "".join(chr(ord(digit) + 0xFEE0) for digit in "13800138000")
REGIONS = ("CN", "CN", "CN", "DE", "FR", "IN", "US", "GB", "IT")


def full_or_none(raw: str, region: str) -> str | None:
    """The full parse's E.164, or None where it refuses the cell."""
    try:
        return full_e164(raw, region)
    except PhoneError:
        return None


def answer(convert: Callable[[str, str], str | None], raw: str, region: str) -> str | None:
    """What convert says of the cell: an E.164, "refused: <reason>", or None (no answer)."""
    try:
        return convert(raw, region)
    except PhoneError as refused:
        return f"refused: {refused}"


def path_taken(raw: str, region: str) -> str:
    """Which way to_e164 reads the cell: "fast", "refused" (by the fast path) or "full"."""
    fast = answer(fast_e164, raw, region)
    if fast is None:
        return "full"
    return "refused" if fast.startswith("refused: ") else "fast"


def spaced(draw: st.DrawFn, digits: str, separators: tuple[str, ...]) -> str:
    """The digits with separators drawn between some of them."""
    out = []
    for digit in digits:
        out.append(digit)
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(separators)))
    return "".join(out)


@st.composite
def phone_cells(draw: st.DrawFn) -> tuple[str, str]:
    """(cell, region): numbers near real ones, in shapes near the common ones, valid or not.

    Half are "near" (the fast path's own prefixes and separators, lengths around the right one),
    so that it answers often enough for the comparison to mean something; half are wild.
    """
    region = draw(st.sampled_from(REGIONS))
    near = draw(st.booleans())
    kind = draw(st.integers(0, 3))
    if kind == 0:
        head = draw(st.sampled_from(CN_MOBILE if near else CN_MOBILE + CN_NEAR))
        size = draw(st.sampled_from((8, 8, 8, 7, 9))) if near else draw(st.integers(5, 11))
        digits = head + draw(st.text("0123456789", min_size=size, max_size=size))
        region = "CN" if near else region
    elif kind == 1:
        head = draw(st.sampled_from(("0", "0", "", "00", "01"))) + draw(st.sampled_from(CN_AREAS))
        size = draw(st.integers(5, 9))
        digits = head + draw(st.text("0123456789", min_size=size, max_size=size))
        region = "CN" if near else region
    elif kind == 2:
        source = draw(st.sampled_from(REGIONS))
        example = phonenumbers.example_number_for_type(source, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None
        digits = phonenumbers.national_significant_number(example)
        cut = draw(st.integers(0, len(digits)))
        digits = digits[:cut] + draw(st.text("0123456789", max_size=2)) + digits[cut + 1 :]
        region = source if near else region
    else:
        digits = draw(st.text("0123456789", min_size=1, max_size=17))
    if not near and draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(digits) - 1))
        digits = digits[:at] + chr(ord(digits[at]) + 0xFEE0) + digits[at + 1 :]  # full-width
    if near:
        code = str(phonenumbers.country_code_for_region(region))
        prefix = draw(st.sampled_from(("", "", "", "+" + code, "00" + code, code, "0" + code)))
        prefix += draw(st.sampled_from(("", " ", "-"))) if prefix else ""
        cell = prefix + spaced(draw, digits, (" ", "-"))
    else:
        cell = (
            draw(st.sampled_from(PREFIXES))
            + spaced(draw, digits, SEPARATORS)
            + draw(st.sampled_from(SUFFIXES))
        )
    return cell.strip(), region


@st.composite
def common_cn_mobiles(draw: st.DrawFn) -> str:
    """A valid CN mobile in one of the shapes hospital exports use."""
    head = draw(st.sampled_from(CN_MOBILE))
    rest = draw(st.text("0123456789", min_size=8, max_size=8))
    a, b, c = head, rest[:4], rest[4:]
    return draw(
        st.sampled_from(
            (
                f"{a}{b}{c}",
                f"{a} {b} {c}",
                f"{a}-{b}-{c}",
                f"+86{a}{b}{c}",
                f"+86 {a} {b} {c}",
                f"+86 {a}-{b}-{c}",
                f"+86-{a}{b}{c}",
                f"0086{a}{b}{c}",
                f"0086 {a} {b} {c}",
            )
        )
    )


@settings(max_examples=5000, deadline=None)
@given(phone_cells())
@example(("+13800138000", "CN"))
@example(("8613800138000", "CN"))
@example(("0013800138000", "CN"))
def test_fast_path_answers_only_what_the_full_parse_answers(cell: tuple[str, str]) -> None:
    """Wherever the fast path gives an E.164 or refuses, the full parse says the same."""
    raw, region = cell
    fast = answer(fast_e164, raw, region)
    if fast is not None:
        assert answer(full_e164, raw, region) == fast


@settings(max_examples=1000, deadline=None)
@given(common_cn_mobiles())
def test_fast_path_takes_the_common_cn_mobile_shapes(raw: str) -> None:
    """Every valid CN mobile in a common shape goes the fast way, to the full parse's answer."""
    assert full_or_none(raw, "CN") is not None
    assert fast_e164(raw, "CN") == full_or_none(raw, "CN")


@settings(max_examples=1000, deadline=None)
@given(common_cn_mobiles(), st.booleans(), st.sampled_from("0123456789"))
def test_fast_path_refuses_a_cn_mobile_a_digit_short_or_long(
    raw: str, short: bool, digit: str
) -> None:
    """The usual typo, a digit left out or one too many, is refused the fast way, as in full."""
    typo = raw[:-1] if short else raw + digit
    assert "refused: not a valid number for region CN" == answer(full_e164, typo, "CN")
    assert answer(full_e164, typo, "CN") == answer(fast_e164, typo, "CN")


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(("10", "21", "20", "28")),
    st.integers(2, 7),
    st.text("0123456789", min_size=7, max_size=7),
    st.sampled_from(("0{a}-{n}", "0{a} {n}", "0{a}{n}", "0{a}-{m} {l}", "+86 {a} {m} {l}")),
)
def test_fast_path_takes_the_common_cn_landline_shapes(
    area: str, first: int, rest: str, shape: str
) -> None:
    """A big city's 8-digit landline, with its trunk 0 or +86, goes the fast way."""
    number = f"{first}{rest}"
    raw = shape.format(a=area, n=number, m=number[:4], l=number[4:])
    assert full_or_none(raw, "CN") is not None
    assert fast_e164(raw, "CN") == full_or_none(raw, "CN")


@pytest.mark.parametrize(
    ("raw", "region", "path"),
    [
        ("138 0013 8000", "CN", "fast"),
        ("13800138000", "CN", "fast"),
        ("+86 138-0013-8000", "CN", "fast"),
        ("+8613800138000", "CN", "fast"),
        ("0086 138 0013 8000", "CN", "fast"),
        ("+86 174 0012 3456", "CN", "fast"),  # 1740[0-5]: the satellite block
        ("+86 174 0612 3456", "CN", "refused"),  # beside it: no type of number takes it
        ("010-6552 9988", "CN", "fast"),  # landline: trunk 0 stripped as phonenumbers does
        ("0755-2888 1234", "CN", "fast"),
        ("+86 10 6552 9988", "CN", "fast"),
        ("+86 010 6552 9988", "CN", "full"),  # trunk 0 after +86: phonenumbers strips it
        ("010-8006 1704", "CN", "refused"),  # not a Beijing landline
        ("0571 12345", "CN", "refused"),  # a Hangzhou landline a digit or more short
        ("8613800138000", "CN", "full"),  # country code without +: phonenumbers strips it
        ("17951 13800138000", "CN", "full"),  # carrier prefix: phonenumbers strips it
        ("+86 0138 0013 8000", "CN", "full"),  # trunk 0 after +86: phonenumbers strips it
        ("0013800138000", "CN", "full"),  # 00 then no country code
        ("+13800138000", "CN", "full"),  # + with another country's code
        (WIDE_MOBILE, "CN", "full"),  # full-width digits
        ("138 0013 8000 ext 12", "CN", "full"),  # an extension
        ("138.0013.8000", "CN", "full"),
        ("(+86) 138 0013 8000", "CN", "full"),
        ("138 0013 800", "CN", "refused"),  # one digit short
        ("138001380001", "CN", "refused"),  # one digit long
        ("+86 100 0000 0000", "CN", "refused"),
        ("12345", "CN", "full"),  # 1234 may be a carrier prefix: phonenumbers' call
        ("1 2", "CN", "full"),  # too few digits to be a number at all: another reason
        ("4008 123 456", "CN", "full"),  # a 400 number: valid, though neither mobile nor landline
        ("13800138000", "US", "full"),  # +1 is shared: no fast path at all
        ("+49 1512 3456789", "CN", "full"),  # another country: full parse
        ("01512 3456789", "DE", "fast"),  # trunk 0
        ("+49 1512 3456789", "DE", "fast"),
        ("0049 1512 3456789", "DE", "fast"),
        ("+33 6 12 34 56 78", "FR", "fast"),
        ("06 12 34 56 78", "FR", "fast"),
        ("+91 81234 56789", "IN", "fast"),
        ("081234 56789", "IN", "fast"),
        ("+91 81234 5678", "IN", "refused"),
    ],
)
def test_tricky_cells_agree_with_the_full_parse(raw: str, region: str, path: str) -> None:
    """Each cell takes the path expected of it, and to_e164 answers as the full parse does."""
    assert path == path_taken(raw, region)
    assert answer(full_e164, raw, region) == answer(to_e164, raw, region)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("n/a", "not a phone number"), ("12345", "not a valid number for region CN")],
)
def test_refused_cells_say_why_without_the_cell(raw: str, reason: str) -> None:
    """PhoneError names the rule, as the CSV row errors always have, never the cell."""
    with pytest.raises(PhoneError) as refused:
        to_e164(raw, "CN")
    assert reason == str(refused.value)
