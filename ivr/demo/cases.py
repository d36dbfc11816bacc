"""What every demo program is made of: kinds of behaviour, and the cases that show them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.telephony.simulator import Persona

# Australia's numbers reserved for fiction (ACMA: 0491 570 006-159 and 0491 570 313-737).
FICTIONAL_NUMBERS = tuple(f"+6149157{n:04d}" for n in (*range(6, 160), *range(313, 738)))
# North America's: 555-0100 to 555-0199 in every area code. Drawn from only when a run asks for
# more people than the Australian ranges hold (the soak test), so that the usual runs keep
# drawing the same numbers, and so the same behaviours, for the same seed.
MORE_FICTIONAL_NUMBERS = tuple(
    f"+1{area}555{n:04d}"
    for area in (202, 212, 213, 312, 415, 617, 713, 303, 206, 305, 404, 503, 602, 702, 801, 919)
    for n in range(100, 200)
)


def fictional_numbers(count: int) -> tuple[str, ...]:
    """The pool `count` distinct numbers are drawn from; ValueError if even the larger is short."""
    pool = (
        FICTIONAL_NUMBERS
        if count <= len(FICTIONAL_NUMBERS)
        else FICTIONAL_NUMBERS + MORE_FICTIONAL_NUMBERS
    )
    if count > len(pool):
        raise ValueError(f"the demo has {len(pool)} fictional numbers; ask for fewer")
    return pool


@dataclass(frozen=True)
class Behaviour:
    """One kind of person and how many of the demo's people behave so."""

    name: str
    share: float
    persona: Persona
    ward: str | None = None  # forces a ward (ICU is excluded by the post-discharge template)


@dataclass(frozen=True)
class DemoCase:
    """One synthetic person: the CSV row the clerk would import, and how they answer."""

    ref: str
    phone: str
    behaviour: str
    persona: Persona
    row: Mapping[str, str]


def write_cases_csv(cases: Sequence[DemoCase], path: Path) -> None:
    """The cases as the program's CSV, in the column order of the first row."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(cases[0].row))
        writer.writeheader()
        for case in cases:
            writer.writerow(case.row)


def person_case(
    ref: str,
    phone: str,
    name: str,
    behaviour: Behaviour,
    columns: Mapping[str, str],
    persona: Persona | None = None,
) -> DemoCase:
    """A demo case whose CSV row starts external_ref, name, phone, then the program's columns."""
    row = {"external_ref": ref, "name": name, "phone": phone, **columns}
    return DemoCase(ref, phone, behaviour.name, persona or behaviour.persona, row)
