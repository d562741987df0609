"""What the generate stage hands a writer and gets back."""

from __future__ import annotations

from dataclasses import dataclass, field

DEMO_MARKER = "DEMO MODEL, NOT FOR CLINICAL USE"


@dataclass(frozen=True)
class FindingInput:
    label: str
    probability: float
    threshold: float
    positive: bool


@dataclass(frozen=True)
class DraftResult:
    text: str
    writer: str                               # "composer" | "openai:<model>" | "local:<folder name>"
    flags: list[dict] = field(default_factory=list)   # consistency flags (consistency.py)
    fallback_reason: str | None = None        # set when an LLM writer failed and the composer was used
    # Where each sentence came from: {"section", "text", "source"}; source is a prior report id,
    # "finding:<Label>" or "template:<what>", so every sentence is traceable to a finding or a source.
    provenance: list[dict] = field(default_factory=list)
