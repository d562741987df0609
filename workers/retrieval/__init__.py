"""Retrieve stage: similar prior reports (Indiana University collection, train split) and
knowledge-base passages for the classifier's findings. See docs/retrieval.md."""

from workers.retrieval.corpus import PriorReport, heldout_reports, load_iu_reports, split_of, train_reports
from workers.retrieval.index import EvidenceHit, Retriever, build_index, get_retriever
from workers.retrieval.query import Query, build_query

__all__ = [
    "EvidenceHit", "PriorReport", "Query", "Retriever", "build_index", "build_query", "get_retriever",
    "load_iu_reports", "split_of", "heldout_reports", "train_reports",
]
