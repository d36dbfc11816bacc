"""The demo's synthetic patients: who they are, and how each behaves when called.

Nobody here exists. Names are built from common characters, and every phone number is from
Australia's range reserved for fiction (ACMA: 0491 570 006-159 and 0491 570 313-737).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ivr.demo.cases import Behaviour, DemoCase, fictional_numbers
from ivr.telephony.simulator import Persona

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华"
DEPARTMENTS = ("Cardiology", "Orthopaedics", "General Surgery", "Respiratory", "Neurology")
WARDS = ("W1", "W2", "W3", "W5", "W6")
DOCTORS = ("Dr. A", "Dr. B", "Dr. C", "Dr. D")


def _happy(rating: str) -> Persona:
    return Persona(keys=("1", "1", "1", rating))


BEHAVIOURS: Sequence[Behaviour] = (
    Behaviour("answers and rates the stay 5", 0.22, _happy("5")),
    Behaviour("answers and rates the stay 4", 0.17, _happy("4")),
    Behaviour("answers and rates the stay 3", 0.05, _happy("3")),
    Behaviour("recovering worse (clinical concern)", 0.04, Persona(keys=("1", "3", "1", "4"))),
    Behaviour("rates 1-2 (low satisfaction)", 0.05, Persona(keys=("1", "1", "1", "2", "2"))),
    Behaviour("rates 1 and asks for an agent", 0.04, Persona(keys=("1", "1", "1", "1", "1"))),
    Behaviour("presses 0 for an agent", 0.03, Persona(keys=("1", "0"))),
    Behaviour("never answers", 0.09, Persona(pickups=("no-answer",))),
    Behaviour(
        "busy, then answers", 0.06, Persona(pickups=("busy", "answer"), keys=("1", "1", "1", "5"))
    ),
    Behaviour(
        "no answer twice, then answers",
        0.03,
        Persona(pickups=("no-answer", "no-answer", "answer"), keys=("1", "1", "1", "4")),
    ),
    Behaviour("wrong number", 0.04, Persona(invalid_number=True)),
    Behaviour("someone else answers", 0.03, Persona(keys=("2",))),
    Behaviour("hangs up mid-survey", 0.04, Persona(keys=("1", "1"), hangup_after_gathers=2)),
    Behaviour("answers but presses nothing", 0.03, Persona(keys=("", "", "", ""))),
    Behaviour("in the ICU (excluded)", 0.08, Persona(), ward="ICU"),
)


@dataclass(frozen=True)
class Patient:
    """One synthetic discharged patient."""

    ref: str
    name: str
    phone: str
    discharge_date: date
    department: str
    ward: str
    language: str
    sex: str
    age: int
    doctor: str
    behaviour: Behaviour


def make_patients(
    count: int, first_call_day: date, seed: int, *, days_before: int = 7
) -> list[Patient]:
    """`count` patients discharged over three days, the first `days_before` the first call day
    (the template's offset), so that calls run across several days."""
    pool = fictional_numbers(count)
    rng = random.Random(seed)
    numbers = rng.sample(pool, count)
    weights = [b.share for b in BEHAVIOURS]
    patients = []
    for index in range(count):
        behaviour = rng.choices(BEHAVIOURS, weights)[0]
        discharged = first_call_day - timedelta(days=days_before) + timedelta(days=index % 3)
        patients.append(
            Patient(
                ref=f"DEMO-{index + 1:04d}",
                name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                phone=numbers[index],
                discharge_date=discharged,
                department=rng.choice(DEPARTMENTS),
                ward=behaviour.ward or rng.choice(WARDS),
                language="en-US" if rng.random() < 0.15 else "zh-CN",
                sex=rng.choice("MF"),
                age=rng.randint(18, 92),
                doctor=rng.choice(DOCTORS),
                behaviour=behaviour,
            )
        )
    return patients


def as_demo_cases(patients: Sequence[Patient]) -> list[DemoCase]:
    """The hospital's discharge list as `ivr cases import` reads it, with each one's behaviour."""
    return [
        DemoCase(
            ref=p.ref,
            phone=p.phone,
            behaviour=p.behaviour.name,
            persona=p.behaviour.persona,
            row={
                "external_ref": p.ref,
                "name": p.name,
                "phone": p.phone,
                "discharge_date": p.discharge_date.isoformat(),
                "department": p.department,
                "ward": p.ward,
                "language": p.language,
                "sex": p.sex,
                "age": str(p.age),
                "doctor": p.doctor,
            },
        )
        for p in patients
    ]
