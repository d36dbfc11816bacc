"""The cooling-off demo's synthetic policyholders: their policies, identity facts and behaviour.

Nobody here exists: names are built from common characters, numbers come from the range reserved
for fiction, and the dates of birth and ID endings are drawn at random. The CSV carries the facts
in clear, as an insurer's export would; the importer keeps only their keyed hashes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.demo.cases import Behaviour, DemoCase, fictional_numbers, person_case
from ivr.demo.people import GIVEN, SURNAMES
from ivr.telephony.simulator import Persona

INSURER_TZ = ZoneInfo("Asia/Shanghai")
PRODUCTS = (
    ("示例终身寿险 (demo)", 12000, 10),
    ("示例重疾险 (demo)", 3650, 20),
    ("示例年金险 (demo)", 5000, 5),
    ("示例两全保险 (demo)", 8800, 15),
)
SELLERS = ("测试业务员甲", "测试业务员乙", "测试业务员丙")
WRONG_DOB = "19000101#"

# Each behaviour's keys are built per person (they key in their own date of birth and ID); the
# marker strings below are replaced by those facts.
DOB, ID4 = "<dob>", "<id>"
ANSWERS = ("1", DOB, ID4)  # "I am the policyholder", then both identity items
ALL_YES = (*ANSWERS, "1", "1", "1", "1")
BEHAVIOURS: Sequence[Behaviour] = (
    Behaviour("verifies and confirms everything", 0.50, Persona(keys=ALL_YES)),
    Behaviour(
        "busy, then verifies and confirms", 0.08, Persona(pickups=("busy", "answer"), keys=ALL_YES)
    ),
    Behaviour(
        "was not told of the cooling-off period", 0.08, Persona(keys=(*ANSWERS, "1", "2", "1", "1"))
    ),
    Behaviour(
        "not sure the premium is what was agreed",
        0.05,
        Persona(keys=(*ANSWERS, "1", "1", "1", "3")),
    ),
    Behaviour("keys a wrong date of birth twice", 0.06, Persona(keys=("1", WRONG_DOB, WRONG_DOB))),
    Behaviour("someone else answers, twice", 0.04, Persona(keys=("2",))),
    Behaviour("asks for a person", 0.04, Persona(keys=("1", DOB, "0"))),
    Behaviour("never answers", 0.08, Persona(pickups=("no-answer",))),
    Behaviour(
        "hangs up during the questions",
        0.04,
        Persona(keys=(*ANSWERS, "1"), hangup_after_gathers=4),
    ),
    Behaviour("wrong number", 0.03, Persona(invalid_number=True)),
)


def _persona(template: Persona, dob: str, id_last4: str) -> Persona:
    keyed_id = id_last4.replace("X", "*")  # the keypad has no X
    keys = tuple(
        f"{dob.replace('-', '')}#" if k == DOB else keyed_id if k == ID4 else k
        for k in template.keys
    )
    return Persona(
        pickups=template.pickups,
        keys=keys,
        hangup_after_gathers=template.hangup_after_gathers,
        invalid_number=template.invalid_number,
        answered_by=template.answered_by,
    )


def make_policyholders(count: int, first_call_day: date, seed: int) -> list[DemoCase]:
    """`count` new policyholders whose receipts were signed over the three days before."""
    rng = random.Random(seed)
    numbers = rng.sample(fictional_numbers(count), count)
    weights = [b.share for b in BEHAVIOURS]
    cases = []
    for index in range(count):
        behaviour = rng.choices(BEHAVIOURS, weights)[0]
        signed_day = first_call_day - timedelta(days=1 + index % 3)
        signed = datetime.combine(signed_day, time(rng.randint(9, 17), rng.choice((0, 30))))
        dob = date(rng.randint(1955, 2000), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
        id_last4 = f"{rng.randint(0, 999):03d}" + rng.choice("0123456789X")
        product, premium, years = rng.choice(PRODUCTS)
        ref = f"99{index + 1:08d}"
        cases.append(
            person_case(
                ref,
                numbers[index],
                rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=2)),
                behaviour,
                {
                    "receipt_signed_at": signed.replace(tzinfo=INSURER_TZ).isoformat(),
                    "cooling_off_days": rng.choice(("10", "15", "15")),
                    "dob": dob,
                    "id_last4": id_last4,
                    "premium": str(premium),
                    "payment_years": str(years),
                    "product": product,
                    "seller": rng.choice(SELLERS),
                },
                persona=_persona(behaviour.persona, dob, id_last4),
            )
        )
    return cases
