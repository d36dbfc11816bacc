"""The care-insurance demo's synthetic insured people: their care plan and how each answers.

Nobody here exists: names are built from common characters and every number is from the range
reserved for fiction. Each left hospital over the three days before the first call day, so the
first follow-up (within a week of the exit) is due at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from ivr.demo.cases import Behaviour, DemoCase, person_case
from ivr.demo.mix import draw_behaviours, draw_numbers
from ivr.demo.people import GIVEN, SURNAMES
from ivr.telephony.simulator import Persona

FREQUENCIES = ("monthly", "monthly", "quarterly", "yearly")
SERVICES = (
    ("居家上门护理", "测量血压血糖、协助服药"),
    ("助浴", "协助洗浴和皮肤护理"),
    ("康复训练", "肢体康复训练和翻身指导"),
    ("居家上门护理", "伤口换药和压疮预防"),
)
PROVIDERS = ("示例护理站甲 (demo)", "示例护理站乙 (demo)", "示例养护中心 (demo)")


def _keys(*ratings: str, appointment: str = "1", complaint: str = "1") -> tuple[str, ...]:
    # "It is me", three ratings (response time, accuracy, safety), the appointment, a complaint.
    return ("1", *ratings, appointment, complaint)


BEHAVIOURS: Sequence[Behaviour] = (
    Behaviour("rates the care well, appointment right", 0.34, Persona(keys=_keys("5", "4", "5"))),
    Behaviour(
        "busy, then rates the care well",
        0.08,
        Persona(pickups=("busy", "answer"), keys=_keys("4", "4", "4")),
    ),
    Behaviour("rates safety 2 (low satisfaction)", 0.08, Persona(keys=_keys("4", "4", "2"))),
    Behaviour(
        "asks to change the appointment", 0.10, Persona(keys=_keys("5", "5", "5", appointment="2"))
    ),
    Behaviour("has a complaint", 0.08, Persona(keys=_keys("3", "3", "3", complaint="2"))),
    Behaviour("presses 0 for a person", 0.04, Persona(keys=("1", "0"))),
    Behaviour("never answers", 0.10, Persona(pickups=("no-answer",))),
    Behaviour("wrong number", 0.04, Persona(invalid_number=True)),
    Behaviour("a relative answers", 0.08, Persona(keys=("2",))),
    Behaviour(
        "hangs up during the ratings", 0.06, Persona(keys=("1", "4"), hangup_after_gathers=2)
    ),
)


def make_care_insurance(count: int, first_call_day: date, seed: int) -> list[DemoCase]:
    """`count` insured people who left hospital over the three days before first_call_day."""
    rng = random.Random(seed)
    numbers = draw_numbers(rng, count)
    cases = []
    for index, behaviour in enumerate(draw_behaviours(rng, BEHAVIOURS, count)):
        ref = f"LTC-{index + 1:04d}"
        service, content = rng.choice(SERVICES)
        exit_day = first_call_day - timedelta(days=1 + index % 3)
        appointment = first_call_day + timedelta(days=rng.randint(5, 20))
        cases.append(
            person_case(
                ref,
                numbers[index],
                rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                behaviour,
                {
                    "hospital_exit_date": exit_day.isoformat(),
                    "frequency": rng.choice(FREQUENCIES),
                    "service": service,
                    "provider": rng.choice(PROVIDERS),
                    "next_appointment": appointment.isoformat(),
                    "appointment_content": content,
                    "language": "en-US" if rng.random() < 0.15 else "zh-CN",
                },
            )
        )
    return cases
