"""The figures a campaign is held to, and how a campaign's `targets` option reads.

Defaults come from the users' own rules (REQUIREMENTS.md): hospitals follow up >= 80 % of
inpatients (a day-surgery campaign sets follow_up_rate=0.5), cooling-off call-backs succeed in
100 % of cases within the period, renovation jobs are followed up 100 %.
"""

from __future__ import annotations

from collections.abc import Mapping

# The rates a target may be set on; each is a figure of the report (fractions 0..1).
TARGETABLE = (
    "follow_up_rate",
    "effective_rate",
    "completion_rate",
    "satisfaction_rate",
    "success_within_deadline_rate",
)
DEFAULT_TARGETS: Mapping[str, Mapping[str, float]] = {
    "post-discharge": {"follow_up_rate": 0.8},
    "post-discharge-72h": {"follow_up_rate": 0.8},
    "post-discharge-1w": {"follow_up_rate": 0.8},
    "cooling-off": {"success_within_deadline_rate": 1.0},
    "renovation": {"follow_up_rate": 1.0},
}


def parse_targets(text: str) -> dict[str, float]:
    """'follow_up_rate=0.5,satisfaction_rate=0.9' -> a mapping; 'none' -> no targets.

    A value over 1 is read as a percentage (80 -> 0.8): people write targets both ways.
    """
    if text.strip().lower() in ("", "none"):
        return {}
    targets = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in TARGETABLE:
            raise ValueError(
                f"{part.strip()!r} is not FIGURE=VALUE with a figure among {', '.join(TARGETABLE)}"
            )
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not a number (0.8 or 80 %)") from None
        if number > 1:
            number /= 100
        if not 0 <= number <= 1:
            raise ValueError(f"a target is between 0 and 1 (or 0 and 100 %), not {value.strip()}")
        targets[name] = round(number, 4)
    return targets


def format_targets(targets: Mapping[str, float]) -> str:
    """The canonical text of a targets mapping (parse_targets reads it back)."""
    return ",".join(f"{k}={v:g}" for k, v in sorted(targets.items())) or "none"


def targets_for(template: str, options: Mapping[str, str]) -> dict[str, float]:
    """A campaign's targets: its `targets` option, or (a campaign made before the option
    existed) its template's defaults."""
    if "targets" in options:
        return parse_targets(options["targets"])
    return dict(DEFAULT_TARGETS.get(template, {}))
