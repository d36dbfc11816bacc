"""The monthly report's charts as SVG text, drawn server-side with matplotlib.

Figure objects are made directly (no pyplot): no global state, no display backend, safe in a web
worker. Labels stay in the ASCII the default font has; category names (departments, reasons)
come from the data as they are.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

SIZE = (6.4, 3.2)  # inches; 100 dpi in SVG user units
BAR = "#3b6ea5"
TARGET = "#c0392b"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    # No metadata: the same figures give the same bytes (reports are compared and archived).
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog: the SVG goes inline in HTML


def reach_by_hour(rows: Sequence[Mapping[str, Any]]) -> str:
    """Attempts per local hour (bars) and the share that reached a person (line)."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    hours = [row["hour"] for row in rows]
    axes.bar(hours, [row["attempts"] for row in rows], color=BAR, label="calls")
    axes.set_xlabel("hour of day (contact's local time)")
    axes.set_ylabel("calls")
    axes.set_xticks(range(0, 24, 2))
    axes.set_xlim(-0.5, 23.5)
    rate = axes.twinx()
    rate.plot(
        hours,
        [100 * (row["reach_rate"] or 0) for row in rows],
        color=TARGET,
        marker="o",
        linestyle="none",  # hours without calls between two points have no rate to draw
        label="reached %",
    )
    rate.set_ylim(0, 100)
    rate.set_ylabel("reached %")
    axes.set_title("Reach by hour")
    return _svg(figure)


def satisfaction_trend(points: Sequence[tuple[str, float | None]]) -> str:
    """The satisfied share by month; months without ratings are gaps."""
    figure = Figure(figsize=SIZE)
    axes = figure.add_subplot()
    labels = [label for label, _ in points]
    values = [float("nan") if value is None else 100 * value for _, value in points]
    axes.plot(range(len(points)), values, color=BAR, marker="o")
    axes.set_xticks(range(len(points)), labels, rotation=45, ha="right")
    axes.set_ylim(0, 100)
    axes.set_ylabel("satisfied %")
    axes.set_title("Satisfaction by month")
    return _svg(figure)


def escalations_by_reason(counts: Mapping[str, int], sla: Mapping[str, Mapping[str, int]]) -> str:
    """Escalations per reason, split into SLA met, missed and still pending."""
    figure = Figure(figsize=(SIZE[0], max(2.0, 0.45 * len(counts) + 1)))
    axes = figure.add_subplot()
    reasons = sorted(counts, key=lambda r: counts[r])
    left = [0] * len(reasons)
    for part, color in (("met", "#27ae60"), ("missed", TARGET), ("pending", "#95a5a6")):
        widths = [sla.get(r, {}).get(part, 0) for r in reasons]
        axes.barh(reasons, widths, left=left, color=color, label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_xlabel("escalations")
    axes.set_title("Escalations by reason (SLA)")
    if reasons:
        axes.legend(loc="lower right")
    return _svg(figure)
