"""Classifier backends for the classify stage. Import what you need from here:

    from workers.models import load_classifier, Classifier, ModelInfo
"""

from workers.models.base import Classifier, ModelInfo, WeightsChecksumMismatch, WeightsNotFound
from workers.models.registry import BACKENDS, load_classifier, parse_spec

__all__ = [
    "BACKENDS", "Classifier", "ModelInfo", "WeightsChecksumMismatch", "WeightsNotFound",
    "load_classifier", "parse_spec",
]
