"""A demo-sized run with logs on, scanned for what must never be logged. Figure: leaks 0.

`ivr -v demo` runs in a subprocess (its own logging set-up, as in production); a wrapper records
every secrets.token_hex the demo draws, so the auth token and secret key it made are known.
The demo's CSV gives the people's phone numbers and identity facts.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import phonenumbers

DRIVER = """
import json, secrets, sys
drawn = []
_token_hex = secrets.token_hex
def token_hex(n=None):
    value = _token_hex(n)
    drawn.append(value)
    return value
secrets.token_hex = token_hex
from ivr.cli import main
try:
    main(["-v", "demo", "--patients", "30", "--template", "cooling-off"])
finally:
    with open("drawn.json", "w") as out:
        json.dump(drawn, out)
"""
E164 = re.compile(r"\+?\d{11,15}")


def secrets_of(folder: Path) -> dict[str, set[str]]:
    """What the input held: phones (as written and E.164), dates of birth, id digits."""
    (path,) = folder.glob("var/demo/*/cooling-off.csv")
    found: dict[str, set[str]] = {"phone": set(), "dob": set(), "id": set()}
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            phone = row["phone"]
            parsed = phonenumbers.parse(phone, "CN")
            found["phone"] |= {
                phone,
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
                str(parsed.national_number),
            }
            found["dob"] |= {row["dob"], row["dob"].replace("-", "")}
            found["id"] |= {row["id_last4"]}
    return found


def test_a_demo_run_logs_no_phone_number_identity_fact_or_secret(tmp_path: Path) -> None:
    """Everything on stderr, scanned: leaks 0."""
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "PYTHONHASHSEED": "0"}
    run = subprocess.run(
        [sys.executable, "-c", DRIVER],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    logged = run.stderr + run.stdout
    assert 0 == run.returncode, run.stderr[-3000:]
    assert logged.count("\n") > 20, "the demo logged too little to scan"
    found = secrets_of(tmp_path)
    drawn = json.loads((tmp_path / "drawn.json").read_text())
    found["secret"] = {value for value in drawn if len(value) >= 32}
    assert len(found["secret"]) >= 2  # the secret key and the auth token
    # The account SID is AC + one drawn value: an identifier, not a secret, so it is not scanned.
    scrubbed = logged
    for value in found["secret"]:
        scrubbed = scrubbed.replace("AC" + value, "")
    leaks = {
        kind: sorted(value for value in values if value and value in scrubbed)
        for kind, values in found.items()
        if kind != "id"
    }
    # id_last4 is 4 characters: only whole tokens count, else every timestamp would match.
    tokens = set(re.findall(r"[0-9Xx]{4}", " ".join(re.findall(r"\b[0-9Xx]{4}\b", logged))))
    leaks["id"] = sorted(found["id"] & tokens)
    inputs = {phone.lstrip("+") for phone in found["phone"]}
    leaks["e164"] = sorted({n for n in E164.findall(logged) if n.lstrip("+") in inputs})
    total = sum(len(v) for v in leaks.values())
    assert 0 == total, f"leaks {total}: {leaks}"
