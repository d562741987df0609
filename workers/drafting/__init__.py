"""Generate stage: draft reports from findings and evidence, with a consistency check."""

from workers.drafting.composer import compose, narrative
from workers.drafting.consistency import check as check_consistency
from workers.drafting.llm import LocalCausalLMWriter, OpenAIChatWriter, WriterError
from workers.drafting.prompts import build_messages, prompt_text, scan_for_identifiers
from workers.drafting.service import WRITERS, write_draft
from workers.drafting.types import DEMO_MARKER, DraftResult, FindingInput

__all__ = [
    "DEMO_MARKER", "DraftResult", "FindingInput", "LocalCausalLMWriter", "OpenAIChatWriter", "WRITERS",
    "WriterError", "build_messages", "check_consistency", "compose", "narrative", "prompt_text",
    "scan_for_identifiers", "write_draft",
]
