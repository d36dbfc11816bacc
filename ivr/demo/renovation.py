"""The renovation demo's synthetic jobs: who works on them, and how each customer answers.

Nobody here exists: names are built from common characters and every number is from the range
reserved for fiction. The importer makes three cases of each job (about 10 days after the start,
at mid-point, at completion); a customer answers all three calls the same way, since the
simulator starts a persona's keys afresh on every call.

Dates: every job started 10 days before the first call day, so its first call is due at once, and
ends 12-14 days after it, so the mid-point call follows a day or two later and the completion call
about two simulated weeks in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from ivr.demo.cases import Behaviour, DemoCase, person_case
from ivr.demo.mix import draw_behaviours, draw_numbers
from ivr.demo.people import GIVEN, SURNAMES
from ivr.telephony.simulator import Persona

CREWS = ("第一施工队", "第二施工队", "第三施工队", "第五施工队")
DISTRICTS = ("东区", "西区", "南区", "北区")
STAFF_PER_ROLE = 3


def _keys(crew: str, on_schedule: str, designer: str, problem: str) -> tuple[str, ...]:
    return ("1", crew, on_schedule, designer, problem)  # "it is me", then the four questions


BEHAVIOURS: Sequence[Behaviour] = (
    Behaviour("happy at every call", 0.36, Persona(keys=_keys("5", "1", "5", "1"))),
    Behaviour(
        "busy once, then happy",
        0.08,
        Persona(pickups=("busy", "answer"), keys=_keys("4", "1", "5", "1")),
    ),
    Behaviour("rates the crew 2 (complaint)", 0.08, Persona(keys=_keys("2", "1", "4", "1"))),
    Behaviour("site untidy or late", 0.08, Persona(keys=_keys("4", "2", "4", "1"))),
    Behaviour("rates the designer 1 (complaint)", 0.06, Persona(keys=_keys("5", "1", "1", "1"))),
    Behaviour("reports a problem (complaint)", 0.08, Persona(keys=_keys("4", "1", "4", "2"))),
    Behaviour("presses 0 for a person", 0.04, Persona(keys=("1", "0"))),
    Behaviour("never answers", 0.10, Persona(pickups=("no-answer",))),
    Behaviour("wrong number", 0.04, Persona(invalid_number=True)),
    Behaviour("someone else answers", 0.08, Persona(keys=("2",))),
)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def make_renovation(count: int, first_call_day: date, seed: int) -> list[DemoCase]:
    """`count` jobs that started 10 days before first_call_day and end about two weeks after."""
    rng = random.Random(seed)
    numbers = draw_numbers(rng, count)
    # A few designers, inspectors and managers share the jobs, as the monthly ratios per person
    # need; the names are drawn once so that every job names one of them.
    designers = [_person(rng) for _ in range(STAFF_PER_ROLE)]
    inspectors = [_person(rng) for _ in range(STAFF_PER_ROLE)]
    managers = [_person(rng) for _ in range(STAFF_PER_ROLE)]
    start = first_call_day - timedelta(days=10)
    cases = []
    for index, behaviour in enumerate(draw_behaviours(rng, BEHAVIOURS, count)):
        ref = f"JOB-{index + 1:04d}"
        cases.append(
            person_case(
                ref,
                numbers[index],
                _person(rng),
                behaviour,
                {
                    "job_start": start.isoformat(),
                    "job_end": (first_call_day + timedelta(days=12 + index % 3)).isoformat(),
                    "crew": rng.choice(CREWS),
                    "designer": rng.choice(designers),
                    "inspector": rng.choice(inspectors),
                    "manager": rng.choice(managers),
                    "district": rng.choice(DISTRICTS),
                    "language": "en-US" if rng.random() < 0.15 else "zh-CN",
                },
            )
        )
    return cases
