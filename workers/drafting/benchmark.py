"""Report benchmark on the Indiana University test split (`radstack bench reports`).

Each test report's MeSH-derived labels are fed to the writer as the findings (oracle labels:
this measures retrieval + writing, not the image model). Text metrics are pycocoevalcap's
BLEU-4 (corpus level) and ROUGE-L, on text cleaned the way R2Gen cleans IU X-ray reports
(lower case, punctuation removed, " . " between sentences), FINDINGS against FINDINGS as in
R2Gen, and the whole report against the whole report. Label F1 compares the labeller's reading
of the draft with the MeSH labels; the hallucination rate is the share of drafts with a flag
for a finding that the (oracle) findings do not contain.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.labels import CRITICAL
from workers.drafting.composer import narrative
from workers.drafting.consistency import check, hallucinated
from workers.drafting.service import write_draft
from workers.drafting.types import FindingInput
from workers.knowledge.labeller import asserted, label_report
from workers.knowledge.lexicon import LABELLED
from workers.retrieval.corpus import PriorReport, heldout_reports, load_iu_reports, train_reports

CHEST_LABELS = tuple(label for label in LABELLED if label != "Normal")
PUBLISHED = {"R2Gen (Chen et al. 2020, image-based)": (0.165, 0.371)}
_SECTION = re.compile(r"\b(FINDINGS|IMPRESSION):\s*")


def clean_report(text: str) -> str:
    """R2Gen's clean_report_iu_xray (github.com/zhjohnchan/R2Gen, modules/tokenizers.py)."""
    def report_cleaner(t: str) -> list[str]:
        t = t.replace("..", ".").replace("..", ".").replace("..", ".").replace("1. ", "").replace(". 2. ", ". ")
        t = t.replace(". 3. ", ". ").replace(". 4. ", ". ").replace(". 5. ", ". ").replace(" 2. ", ". ")
        t = t.replace(" 3. ", ". ").replace(" 4. ", ". ").replace(" 5. ", ". ")
        return t.strip().lower().split(". ")

    def sent_cleaner(t: str) -> str:
        t = t.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
        return re.sub(r"[.,?;*!%^&_+():\-\[\]{}]", "", t)

    tokens = [sent_cleaner(sent) for sent in report_cleaner(text) if sent_cleaner(sent) != ""]
    return " . ".join(tokens) + " ."


def sections(text: str) -> dict[str, str]:
    parts = _SECTION.split(narrative(text))
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


@dataclass
class Row:
    name: str
    bleu4_findings: float
    rouge_findings: float
    bleu4_report: float
    rouge_report: float
    f1_micro: float
    f1_macro: float
    hallucination_rate: float
    n: int
    seconds: float


def text_scores(references: Sequence[str], candidates: Sequence[str]) -> tuple[float, float]:
    """(BLEU-4, ROUGE-L) from pycocoevalcap on R2Gen-cleaned text."""
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError as exc:
        raise RuntimeError("the report benchmark needs pycocoevalcap (pip install pycocoevalcap)") from exc
    gts = {i: [clean_report(ref)] for i, ref in enumerate(references)}
    res = {i: [clean_report(cand)] for i, cand in enumerate(candidates)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    rouge, _ = Rouge().compute_score(gts, res)
    return float(bleu[3]), float(rouge)


def label_f1(gold: Sequence[frozenset[str]], predicted: Sequence[set[str]]) -> tuple[float, float]:
    """(micro F1, macro F1 over labels present in the gold set) on the chest labels."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted):
        for label in CHEST_LABELS:
            tp[label] += label in g and label in p
            fp[label] += label not in g and label in p
            fn[label] += label in g and label not in p
    def f1(t: int, f_p: int, f_n: int) -> float:
        return 2 * t / (2 * t + f_p + f_n) if t + f_p + f_n else 0.0
    micro = f1(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    present = [label for label in CHEST_LABELS if tp[label] + fn[label] > 0]
    macro = sum(f1(tp[label], fp[label], fn[label]) for label in present) / len(present) if present else 0.0
    return micro, macro


def oracle_findings(report: PriorReport) -> list[FindingInput]:
    return [FindingInput(label, 1.0 if label in report.labels else 0.0, 0.5, label in report.labels)
            for label in CHEST_LABELS]


def score(name: str, tests: Sequence[PriorReport], drafts: Sequence[str], seconds: float) -> Row:
    parts = [sections(draft) for draft in drafts]
    bleu_f, rouge_f = text_scores([r.findings for r in tests], [p.get("FINDINGS", "") for p in parts])
    bleu_r, rouge_r = text_scores([r.text for r in tests],
                                  [" ".join(p.get(s, "") for s in ("FINDINGS", "IMPRESSION")) for p in parts])
    predicted = [asserted(label_report(narrative(d))) for d in drafts]
    micro, macro = label_f1([r.labels for r in tests], predicted)
    halluc = sum(hallucinated(check(d, oracle_findings(r))) for r, d in zip(tests, drafts)) / max(len(drafts), 1)
    return Row(name, bleu_f, rouge_f, bleu_r, rouge_r, micro, macro, halluc, len(drafts), seconds)


def _as_report(report: PriorReport) -> str:
    return f"FINDINGS: {report.findings}\nIMPRESSION: {report.impression}"


def constant_baseline(train: Sequence[PriorReport]) -> PriorReport:
    """The most common normal report of the train split (exact FINDINGS + IMPRESSION text)."""
    normal = [r for r in train if r.labels == frozenset({"Normal"}) and r.findings]
    (findings, impression), _ = Counter((r.findings, r.impression) for r in normal).most_common(1)[0]
    return next(r for r in normal if (r.findings, r.impression) == (findings, impression))


def nearest_jaccard(train: Sequence[PriorReport], labels: frozenset[str]) -> PriorReport:
    """The train report whose MeSH label set is nearest (Jaccard; ties: first by report id)."""
    def jaccard(other: PriorReport) -> float:
        union = labels | other.labels
        return len(labels & other.labels) / len(union) if union else 1.0
    return max(train, key=jaccard)   # max keeps the first of equals: train is sorted by id


def run(index_dir: Path, *, backend: str = "tfidf", writers: Sequence[str] = ("composer",), limit: int | None = None,
        top_k: int = 5, progress: Callable[[str], None] = lambda _: None) -> list[Row]:
    from workers.retrieval import get_retriever

    reports = load_iu_reports()
    train = [r for r in train_reports(reports) if r.findings]
    tests = heldout_reports(reports)[:limit] if limit else heldout_reports(reports)
    rows = []

    started = time.perf_counter()
    constant = _as_report(constant_baseline(train))
    rows.append(score("baseline: constant normal report", tests, [constant] * len(tests), time.perf_counter() - started))

    started = time.perf_counter()
    nearest = [_as_report(nearest_jaccard(train, r.labels)) for r in tests]
    rows.append(score("baseline: nearest-Jaccard train report", tests, nearest, time.perf_counter() - started))

    retriever = get_retriever(index_dir, backend)
    for writer in writers:
        progress(f"writing {len(tests)} drafts with {writer} ({backend} retrieval)")
        started = time.perf_counter()
        drafts = []
        for report in tests:
            positive = sorted(report.labels - {"Normal"})
            hits = retriever.search(positive, sorted(CRITICAL - report.labels), top_k)
            drafts.append(write_draft(oracle_findings(report), hits, is_demo=False, writer=writer).text)
        rows.append(score(f"radstack {writer} ({retriever.name})", tests, drafts, time.perf_counter() - started))
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = (f"{'writer':48s} {'BLEU-4':>7s} {'ROUGE-L':>7s} {'BLEU-4':>7s} {'ROUGE-L':>7s} "
              f"{'F1 mic':>6s} {'F1 mac':>6s} {'halluc':>6s} {'n':>4s} {'sec':>5s}")
    lines = [f"{'':48s} {'(FINDINGS section)':>15s} {'(FINDINGS+IMPRESSION)':>15s}", header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.name:48s} {r.bleu4_findings:7.3f} {r.rouge_findings:7.3f} {r.bleu4_report:7.3f} "
                     f"{r.rouge_report:7.3f} {r.f1_micro:6.3f} {r.f1_macro:6.3f} {r.hallucination_rate:6.3f} "
                     f"{r.n:4d} {r.seconds:5.1f}")
    for name, (bleu, rouge) in PUBLISHED.items():
        lines.append(f"{name:48s} {bleu:7.3f} {rouge:7.3f} {'':>7s} {'':>7s} (published, IU X-ray test set)")
    return "\n".join(lines)


def labeller_validation(reports: Sequence[PriorReport] | None = None) -> list[tuple[str, int, float, float, float]]:
    """Per label (label, support, precision, recall, F1) of the labeller on the report text
    against the MeSH labels, on the test split; uncertain mentions count as not asserted."""
    reports = list(reports) if reports is not None else heldout_reports(load_iu_reports())
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for report in reports:
        predicted = asserted(label_report(report.text))
        for label in CHEST_LABELS:
            tp[label] += label in report.labels and label in predicted
            fp[label] += label not in report.labels and label in predicted
            fn[label] += label in report.labels and label not in predicted
    out = []
    for label in CHEST_LABELS:
        support = tp[label] + fn[label]
        if support == 0 and fp[label] == 0:
            continue
        p = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        r = tp[label] / support if support else 0.0
        out.append((label, support, p, r, 2 * p * r / (p + r) if p + r else 0.0))
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    p, r = t / (t + f_p) if t + f_p else 0.0, t / (t + f_n) if t + f_n else 0.0
    out.append(("ALL (micro)", t + f_n, p, r, 2 * p * r / (p + r) if p + r else 0.0))
    return out
