"""The local transformers writer, on a tiny GPT-2 that the test itself builds and saves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings

from workers.drafting import FindingInput, LocalCausalLMWriter, write_draft
from workers.drafting import llm as llm_module
from workers.retrieval import EvidenceHit

FINDINGS = [FindingInput("Effusion", 0.8, 0.5, True), FindingInput("Pneumothorax", 0.1, 0.5, False)]
EVIDENCE = [EvidenceHit("prior_report", "CXR7", "FINDINGS: Small left pleural effusion. IMPRESSION: Effusion.",
                        ("Effusion",), 0.6, "tfidf-v1")]
WORDS = "findings impression : . the there is a no pleural effusion pneumothorax heart lungs clear small".split()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    vocab = {token: i for i, token in enumerate(["[UNK]", "[PAD]", "[EOS]", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    tokenizer.save_pretrained(folder)
    config = GPT2Config(vocab_size=len(vocab), n_positions=2048, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=2, eos_token_id=2, pad_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def test_a_random_model_ignores_the_format_and_the_composer_is_used(tiny_model_dir: Path) -> None:
    settings = Settings(llm_model_dir=str(tiny_model_dir), llm_max_tokens=6)
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, writer="local", settings=settings)
    assert draft.writer == "composer"
    assert draft.fallback_reason is not None and draft.fallback_reason.startswith("local:")
    assert "pleural effusion" in draft.text.lower()


def test_a_model_that_writes_both_sections_is_used(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = LocalCausalLMWriter(tiny_model_dir, max_new_tokens=20)
    tokenizer, model = writer._load()
    answer = tokenizer(" there is a small pleural effusion . impression : pleural effusion .", return_tensors="pt")

    def generate(input_ids: Any, **kwargs: Any) -> Any:
        import torch

        return torch.cat([input_ids, answer["input_ids"]], dim=1)

    monkeypatch.setattr(model, "generate", generate)
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=True, writer="local", llm=writer)
    assert draft.writer == f"local:{tiny_model_dir.name}" and draft.fallback_reason is None
    assert draft.text.splitlines()[0] == "DEMO MODEL, NOT FOR CLINICAL USE"
    assert "FINDINGS: there is a small pleural effusion ." in draft.text
    assert draft.flags == []


def test_a_missing_model_folder_falls_back(tmp_path: Path) -> None:
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, writer="local",
                        settings=Settings(llm_model_dir=str(tmp_path / "nothing-here")))
    assert draft.writer == "composer" and "no local LLM" in (draft.fallback_reason or "")
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, writer="local", settings=Settings())
    assert "RADSTACK_LLM_MODEL_DIR" in (draft.fallback_reason or "")


def test_section_parsing() -> None:
    assert llm_module.normalise_sections("Sure.\n**FINDINGS:** Clear lungs.\n**IMPRESSION:** Normal.") == (
        "FINDINGS: Clear lungs.\nIMPRESSION: Normal.")
    for bad in ("Clear lungs.", "IMPRESSION: a FINDINGS: b", "FINDINGS:\nIMPRESSION: b"):
        with pytest.raises(llm_module.WriterError):
            llm_module.normalise_sections(bad)
