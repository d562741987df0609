"""Printing benchmark figures with their targets, as one table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None  # None: no target

    def row(self) -> str:
        verdict = {True: "MET", False: "MISSED", None: ""}[self.met]
        return f"  {self.name:<52s} {self.value:>10.2f} {self.unit:<8s} {self.target:<18s} {verdict}"


class Report:
    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def add(self, section: str, name: str, value: float, unit: str, *, at_least: float | None = None,
            below: float | None = None) -> Figure:
        target, met = "", None
        if at_least is not None:
            target, met = f">= {at_least:g} {unit}", value >= at_least
        elif below is not None:
            target, met = f"< {below:g} {unit}", value < below
        figure = Figure(section, name, value, unit, target, met)
        self.figures.append(figure)
        print(f"[{section}] {figure.row().strip()}", flush=True)
        return figure

    def table(self) -> str:
        lines = [f"  {'figure':<52s} {'value':>10s} {'unit':<8s} {'target':<18s} verdict"]
        section = None
        for figure in self.figures:
            if figure.section != section:
                section = figure.section
                lines.append(f"{section}")
            lines.append(figure.row())
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
