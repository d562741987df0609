"""`radstack bench reports`: the report benchmark on the Indiana University test split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks")
    sub = parser.add_subparsers(dest="bench_command", required=True)
    reports = sub.add_parser(
        "reports", help="draft reports for the IU X-ray test split from oracle (MeSH) labels and score them",
        description="BLEU-4 / ROUGE-L (pycocoevalcap), label F1 and hallucination-flag rate for the "
                    "writers and two baselines, then the labeller's per-label precision/recall.",
    )
    reports.add_argument("--backend", default="tfidf", choices=("tfidf", "dense", "hybrid"), help="retrieval backend")
    reports.add_argument("--writer", action="append", choices=("composer", "openai", "local"),
                         help="writer(s) to score (repeatable; default: composer)")
    reports.add_argument("--limit", type=int, default=None, help="score only the first N test reports")
    reports.add_argument("--top-k", type=int, default=5, help="similar reports retrieved per draft")
    reports.add_argument("--index-dir", type=Path, default=None, help="index cache folder (default: settings)")
    reports.add_argument("--no-labeller", action="store_true", help="skip the labeller validation table")
    reports.set_defaults(handler=run_reports)
    from radstack.benchmarks import perf

    perf.register(sub)


def run_reports(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from workers.drafting import benchmark

    index_dir = args.index_dir or get_settings().resolved_index_dir
    rows = benchmark.run(index_dir, backend=args.backend, writers=args.writer or ["composer"], limit=args.limit,
                         top_k=args.top_k, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"IU X-ray test split, oracle MeSH labels, n={rows[0].n} reports")
    print(benchmark.format_table(rows))
    if not args.no_labeller:
        print()
        print("Labeller vs MeSH labels on the IU test split (uncertain = not asserted)")
        print(f"{'label':28s} {'support':>7s} {'prec':>6s} {'recall':>6s} {'F1':>6s}")
        for label, support, precision, recall, f1 in benchmark.labeller_validation():
            print(f"{label:28s} {support:7d} {precision:6.3f} {recall:6.3f} {f1:6.3f}")
    return 0
