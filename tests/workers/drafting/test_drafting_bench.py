"""`radstack bench reports` on a slice of the IU test split, and its metric helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.drafting import benchmark

pytest.importorskip("pycocoevalcap")


def test_r2gen_cleaning() -> None:
    assert benchmark.clean_report("1. Heart size normal. 2. No effusion, (small) XXXX.") == (
        "heart size normal . no effusion small xxxx .")


def test_identical_text_scores_one_and_label_f1() -> None:
    bleu, rouge = benchmark.text_scores(["The heart is normal. The lungs are clear."] * 2,
                                        ["The heart is normal. The lungs are clear."] * 2)
    assert bleu == pytest.approx(1.0, abs=1e-6) and rouge == pytest.approx(1.0)
    micro, macro = benchmark.label_f1([frozenset({"Effusion"}), frozenset({"Mass"})], [{"Effusion"}, set()])
    assert micro == pytest.approx(2 / 3) and macro == pytest.approx(0.5)


def test_baselines_are_deterministic() -> None:
    from workers.retrieval import load_iu_reports, train_reports

    train = [r for r in train_reports(load_iu_reports()) if r.findings]
    assert benchmark.constant_baseline(train).labels == frozenset({"Normal"})
    nearest = benchmark.nearest_jaccard(train, frozenset({"Cardiomegaly", "Effusion"}))
    assert nearest.labels == frozenset({"Cardiomegaly", "Effusion"})
    assert nearest is benchmark.nearest_jaccard(train, frozenset({"Cardiomegaly", "Effusion"}))


def test_bench_command_prints_the_table(iu_index_dir: Path, iu_retriever: object, capsys: pytest.CaptureFixture[str]) -> None:
    from radstack.cli import main

    assert main(["bench", "reports", "--limit", "40", "--index-dir", str(iu_index_dir)]) == 0
    out = capsys.readouterr().out
    rows = {line[:48].strip(): line[48:].split() for line in out.splitlines() if line.startswith(("baseline", "radstack"))}
    assert set(rows) == {"baseline: constant normal report", "baseline: nearest-Jaccard train report",
                         "radstack composer (tfidf-v1)"}
    ours, nearest, constant = (rows["radstack composer (tfidf-v1)"], rows["baseline: nearest-Jaccard train report"],
                               rows["baseline: constant normal report"])
    assert float(ours[0]) > max(float(nearest[0]), float(constant[0]))     # BLEU-4, FINDINGS
    assert float(ours[4]) > float(nearest[4]) and float(ours[6]) < 0.05    # label F1, hallucination rate
    assert "R2Gen" in out and "Labeller vs MeSH" in out and "ALL (micro)" in out
