"""A phone cell to E.164: a fast path for the common shapes, the full parse for the rest.

A full ``phonenumbers`` parse with validation costs some 60 µs, most of an imported row. Hospital
exports mostly hold the region's own numbers in a few shapes (``138 0013 8000``, ``13800138000``,
``+86 138-0013-8000``, ``0086 138...``, ``010-6552 9988``), so those are read with one regex and
checked against the region's mobile and fixed-line patterns from phonenumbers' metadata, with
its rules for prefixes. The fast path says "valid, and this is its E.164" or, for a number read
for sure that no pattern of the region takes (a digit short or long: the usual typo), "invalid"
with the full parse's reason; anything it is not sure of (other countries, carrier prefixes, odd
punctuation, extensions, numbers of other types) goes to the full parse, which gives the same
answer, and the reason when there is none. tests/unit/test_phone_fast_path.py holds the two
together.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

__all__ = ["PhoneError", "fast_e164", "full_e164", "to_e164"]


class PhoneError(ValueError):
    """The cell is not a valid phone number; the message says which rule, never the cell."""


def to_e164(raw: str, region: str) -> str:
    """The number in E.164, national numbers read in ``region``; PhoneError if it is not one."""
    return fast_e164(raw, region) or full_e164(raw, region)


def full_e164(raw: str, region: str) -> str:
    """The full phonenumbers parse, validation and E.164 formatting; PhoneError if invalid."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise PhoneError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def fast_e164(raw: str, region: str) -> str | None:
    """The E.164 of a valid number of ``region`` in a common shape, else None (not: invalid).

    Raises PhoneError, as full_e164 would, for a number in such a shape that is surely invalid.
    """
    path = _fast_path(region)
    if path is None:
        return None
    shape = path.shape.fullmatch(raw)
    if shape is None:
        return None
    prefix, digits = shape.group(1), shape.group(2).replace(" ", "").replace("-", "")
    if prefix is None:
        # Without + or 00, phonenumbers may read a leading country code or an international
        # dialling prefix off the front: leave those to it.
        if digits.startswith(path.country_code) or path.idd.match(digits):
            return None
        national = path.without_trunk(digits)
        if national is None:
            return None
        digits = national
    else:
        if prefix == "00":
            # 00 is an international prefix only where the region dials it so, and only when
            # phonenumbers' own IDD pattern stops right there.
            idd = path.idd.match("00" + path.country_code + digits)
            if idd is None or idd.end() != 2:
                return None
        if path.trunk.match(digits):
            return None  # "+86 0138...": phonenumbers strips the 0 even here; rare, its call
    # A leading 0 left in the national number is kept (Italy) or not by rules of its own.
    if digits.startswith("0"):
        return None
    if path.general(digits) and (path.mobile(digits) or path.fixed_line(digits)):
        return f"+{path.country_code}{digits}"
    # Invalid as is_valid_number says it: no type of number of the region takes it (toll-free
    # and the other types are valid too, but rare: the full parse reads them). Outside the
    # lengths below the parse itself refuses the cell, with another reason.
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS or any(t(digits) for t in path.other_types):
        return None
    raise PhoneError(f"not a valid number for region {region}")


# The national numbers the fast path may refuse: phonenumbers parses 2 to 17 digits, but two
# digits alone ("1 2") are "not a phone number" to it, so the fast path starts at three.
_MIN_DIGITS, _MAX_DIGITS = 3, 17


@dataclass(frozen=True)
class _Desc:
    """A phonenumbers number description: the lengths and the pattern a number must match."""

    lengths: frozenset[int]
    pattern: re.Pattern[str]

    def __call__(self, digits: str) -> bool:
        # As phonenumbers' _is_number_matching_desc: no lengths listed means any length.
        if self.lengths and len(digits) not in self.lengths:
            return False
        return self.pattern.fullmatch(digits) is not None


@dataclass(frozen=True)
class _FastPath:
    """What the fast path needs of one region's metadata."""

    country_code: str
    shape: re.Pattern[str]  #: group 1: "+", "00" or None; group 2: the digits and separators
    idd: re.Pattern[str]  #: the region's international dialling prefix
    trunk: re.Pattern[str]  #: what phonenumbers strips as a national or carrier prefix
    national_prefix: str  #: the trunk prefix itself ("0")
    local_lengths: frozenset[int]  #: lengths dialled only within an area: never stripped to
    general: _Desc
    mobile: _Desc
    fixed_line: _Desc
    other_types: tuple[
        _Desc, ...
    ]  #: toll-free, premium rate, ...: valid too, left to the full parse

    def without_trunk(self, digits: str) -> str | None:
        """The national number phonenumbers reads from national digits; None where unsure.

        As its _maybe_strip_national_prefix_carrier_code then parse's length test: the trunk
        prefix comes off when what is left is a number of a possible (not local-only) length.
        A carrier code (China's 17951) or any other prefix it might strip is left to it.
        """
        match = self.trunk.match(digits)
        if match is None:
            return digits
        if match.group(0) != self.national_prefix or any(g is not None for g in match.groups()):
            return None
        national = digits[match.end() :]
        if len(national) not in self.general.lengths or len(national) in self.local_lengths:
            return None
        return national if self.general(national) else None


@functools.cache
def _fast_path(region: str) -> _FastPath | None:
    """The region's fast path, or None where its metadata does not allow a safe one."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.mobile is None or metadata.general_desc is None:
        return None
    code = metadata.country_code
    if code is None:
        return None
    # A code shared by regions (+1, +7) is resolved number by number against each region's
    # patterns, and a transform rule rewrites the national number: both are the full parse's.
    if (
        COUNTRY_CODE_TO_REGION_CODE.get(code) != (region,)
        or metadata.national_prefix_transform_rule
    ):
        return None
    if (
        not metadata.mobile.national_number_pattern
        or not metadata.general_desc.national_number_pattern
    ):
        return None
    return _FastPath(
        country_code=str(code),
        # [0-9], not \d: phonenumbers also reads full-width and other digits, the regex must not.
        shape=re.compile(rf"(?:(\+|00){code}[ -]?)?([0-9]+(?:[ -][0-9]+)*)", re.ASCII),
        idd=re.compile(metadata.international_prefix or "(?!)"),
        trunk=re.compile(metadata.national_prefix_for_parsing or "(?!)"),
        national_prefix=metadata.national_prefix or "",
        local_lengths=frozenset(metadata.general_desc.possible_length_local_only or ()),
        general=_desc(metadata.general_desc),
        mobile=_desc(metadata.mobile),
        fixed_line=_desc(metadata.fixed_line),
        other_types=tuple(_desc(getattr(metadata, kind)) for kind in _OTHER_TYPES),
    )


# The number types is_valid_number tries besides mobile and fixed line (its _number_type_helper).
_OTHER_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def _desc(desc: phonenumbers.PhoneNumberDesc | None) -> _Desc:
    if desc is None:
        return _Desc(frozenset(), re.compile("(?!)"))
    return _Desc(
        frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern or "(?!)")
    )
