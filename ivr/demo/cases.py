"""What every demo program is made of: kinds of behaviour, and the cases that show them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ivr.telephony.simulator import Persona

# Australia's numbers reserved for fiction (ACMA: 0491 570 006-159 and 0491 570 313-737).
FICTIONAL_NUMBERS = tuple(f"+6149157{n:04d}" for n in (*range(6, 160), *range(313, 738)))


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
