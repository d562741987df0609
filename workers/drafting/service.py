"""write_draft: pick the writer, fall back to the composer when an LLM fails, check consistency."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.config import Settings
from workers.drafting.composer import compose
from workers.drafting.consistency import check
from workers.drafting.llm import LocalCausalLMWriter, OpenAIChatWriter, WriterError
from workers.drafting.prompts import build_messages, prompt_text, scan_for_identifiers
from workers.drafting.types import DEMO_MARKER, DraftResult, FindingInput

if TYPE_CHECKING:
    from workers.retrieval import EvidenceHit

logger = logging.getLogger(__name__)

WRITERS = ("composer", "openai", "local")


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from shared.config import get_settings

    return get_settings()


def make_llm_writer(writer: str, settings: Settings) -> OpenAIChatWriter | LocalCausalLMWriter:
    if writer == "openai":
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAIChatWriter(
            settings.llm_base_url or "", settings.llm_model or "default", api_key=key,
            timeout_s=settings.llm_timeout_s, retries=settings.llm_retries, max_tokens=settings.llm_max_tokens,
        )
    if writer == "local":
        if not settings.llm_model_dir:
            raise WriterError("no local LLM folder configured (RADSTACK_LLM_MODEL_DIR)")
        return LocalCausalLMWriter(settings.llm_model_dir, max_new_tokens=settings.llm_max_tokens,
                                   device=settings.llm_device)
    raise ValueError(f"unknown writer {writer!r}; choose one of {WRITERS}")


def write_draft(findings: Sequence[FindingInput], evidence: Sequence[EvidenceHit], *, is_demo: bool,
                writer: str | None = None, identifiers: Sequence[str | None] = (), settings: Settings | None = None,
                llm: OpenAIChatWriter | LocalCausalLMWriter | None = None) -> DraftResult:
    """A draft report. `writer` defaults to the `draft_writer` setting ("composer" when unset).
    `identifiers` are the study's own (accession number, patient name/id, dates): an LLM prompt
    that contains any of them is never sent. `llm` injects a ready writer (tests, the benchmark)."""
    if writer is None:
        writer = _settings(settings).draft_writer
    if writer not in WRITERS:
        raise ValueError(f"unknown writer {writer!r}; choose one of {WRITERS}")
    text, provenance = compose(findings, evidence, is_demo=is_demo, identifiers=identifiers)
    result = DraftResult(text=text, writer="composer", provenance=provenance)

    if writer != "composer":
        try:
            messages = build_messages(findings, evidence)
            leaked = scan_for_identifiers(prompt_text(messages), identifiers)
            if leaked:
                # Count only: the identifiers themselves must not reach the log or the audit trail.
                raise WriterError(f"prompt contained {len(leaked)} study identifier(s); not sent")
            model = llm or make_llm_writer(writer, _settings(settings))
            body = model.write(messages)
            if is_demo:
                body = f"{DEMO_MARKER}\n{body.replace(DEMO_MARKER, '').strip()}"
            result = DraftResult(text=body, writer=model.name, provenance=[
                {"section": "ALL", "text": body, "source": f"llm:{model.name}"}])
        except WriterError as exc:
            logger.warning("%s writer failed, using the composer: %s", writer, exc)
            result = DraftResult(text=text, writer="composer", provenance=provenance,
                                 fallback_reason=f"{writer}: {exc}")

    return DraftResult(text=result.text, writer=result.writer, flags=check(result.text, findings),
                       fallback_reason=result.fallback_reason, provenance=result.provenance)
