"""The clinic demos' synthetic patients and visitors, and how each answers.

Nobody here exists: names are built from common characters and every number is from the range
reserved for fiction. Everyone came to the clinic on the first call day: the treated patients are
called that evening, the visitors who did not buy the next day at noon.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from ivr.demo.cases import Behaviour, DemoCase, person_case
from ivr.demo.mix import draw_behaviours, draw_numbers
from ivr.demo.people import GIVEN, SURNAMES
from ivr.telephony.simulator import Persona

DEPARTMENTS = ("口腔科", "皮肤科", "眼科", "中医科")
INTERESTS = ("种植牙", "牙齿矫正", "洁牙美白", "祛斑护理", "近视手术")

TREATED: Sequence[Behaviour] = (
    Behaviour("satisfied, no discomfort", 0.40, Persona(keys=("1", "5", "1"))),
    Behaviour(
        "busy, then satisfied", 0.08, Persona(pickups=("busy", "answer"), keys=("1", "4", "1"))
    ),
    Behaviour("rates the visit 2 (low satisfaction)", 0.08, Persona(keys=("1", "2", "1"))),
    Behaviour("reports discomfort (clinical concern)", 0.08, Persona(keys=("1", "4", "2"))),
    Behaviour("rates 1 and reports discomfort", 0.04, Persona(keys=("1", "1", "2"))),
    Behaviour("presses 0 for a person", 0.04, Persona(keys=("1", "0"))),
    Behaviour("never answers", 0.10, Persona(pickups=("no-answer",))),
    Behaviour("wrong number", 0.04, Persona(invalid_number=True)),
    Behaviour("someone else answers", 0.06, Persona(keys=("2",))),
    Behaviour("hangs up after the rating", 0.08, Persona(keys=("1", "5"), hangup_after_gathers=2)),
)

BOUGHT = Behaviour("bought on the day (excluded)", 0.10, Persona())
VISITORS: Sequence[Behaviour] = (
    Behaviour("price; wants a consultant", 0.16, Persona(keys=("1", "1", "1"))),
    Behaviour("not needed now; no call", 0.16, Persona(keys=("1", "2", "2"))),
    Behaviour("wants to think; wants a consultant", 0.12, Persona(keys=("1", "3", "1"))),
    Behaviour("other reason; no call", 0.08, Persona(keys=("1", "4", "2"))),
    Behaviour(
        "busy, then wants to think; no call",
        0.08,
        Persona(pickups=("busy", "answer"), keys=("1", "3", "2")),
    ),
    Behaviour("presses 0 for a person", 0.04, Persona(keys=("1", "0"))),
    Behaviour("never answers", 0.10, Persona(pickups=("no-answer",))),
    Behaviour("wrong number", 0.04, Persona(invalid_number=True)),
    Behaviour("someone else answers", 0.06, Persona(keys=("2",))),
    BOUGHT,
)


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def _language(rng: random.Random) -> str:
    return "en-US" if rng.random() < 0.15 else "zh-CN"


def make_clinic_treated(count: int, first_call_day: date, seed: int) -> list[DemoCase]:
    """`count` patients treated on first_call_day, to be called that evening."""
    rng = random.Random(seed)
    numbers = draw_numbers(rng, count)
    doctors = [_name(rng) for _ in range(4)]
    cases = []
    for index, behaviour in enumerate(draw_behaviours(rng, TREATED, count)):
        ref = f"VISIT-{index + 1:04d}"
        cases.append(
            person_case(
                ref,
                numbers[index],
                _name(rng),
                behaviour,
                {
                    "visit_date": first_call_day.isoformat(),
                    "department": rng.choice(DEPARTMENTS),
                    "doctor": rng.choice(doctors),
                    "language": _language(rng),
                },
            )
        )
    return cases


def make_clinic_visitor(count: int, first_call_day: date, seed: int) -> list[DemoCase]:
    """`count` visitors of first_call_day; those who did not buy are called the next day."""
    rng = random.Random(seed)
    numbers = draw_numbers(rng, count)
    cases = []
    for index, behaviour in enumerate(draw_behaviours(rng, VISITORS, count)):
        ref = f"LEAD-{index + 1:04d}"
        cases.append(
            person_case(
                ref,
                numbers[index],
                _name(rng),
                behaviour,
                {
                    "visit_date": first_call_day.isoformat(),
                    "bought": "yes" if behaviour is BOUGHT else "no",
                    "interest": rng.choice(INTERESTS),
                    "language": _language(rng),
                },
            )
        )
    return cases
