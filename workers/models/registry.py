"""Spec string -> Classifier. The spec is what `RADSTACK_MODEL` holds and what every finding
records as its model id: "xrv:<weights>", "hf:<id or dir>", "densenet22:<checkpoint>", "demo"."""

from __future__ import annotations

import logging
from pathlib import Path

from workers.models.base import Classifier

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {
    "xrv": "torchxrayvision DenseNet/ResNet, 18 chest labels: xrv:<weights name or .pt path>",
    "hf": "Hugging Face image classifier: hf:<model id or local folder>",
    "densenet22": "torchvision DenseNet-121, 22 labels: densenet22:<checkpoint .pt>",
    "demo": "seeded DenseNet-22 that ships with nothing; DEMO MODEL, NOT FOR CLINICAL USE",
}


def parse_spec(spec: str) -> tuple[str, str]:
    """Split a spec: "xrv:densenet121-res224-all" -> ("xrv", "densenet121-res224-all"), "demo" -> ("demo", "").

    Splits on the first ":" only, so paths and HF ids (which may contain ":") pass through whole.
    """
    text = (spec or "").strip()
    backend, sep, value = text.partition(":")
    backend = backend.strip().lower()
    value = value.strip()
    known = ", ".join(BACKENDS)
    if backend not in BACKENDS:
        raise ValueError(f"unknown model backend {backend!r} in spec {spec!r}; known backends: {known}")
    if backend == "demo":
        if value:
            raise ValueError(f"the demo model takes no argument (spec {spec!r}); use just 'demo'")
        return "demo", ""
    if not sep or not value:
        raise ValueError(f"spec {spec!r} names no weights; expected {BACKENDS[backend]}")
    return backend, value


def load_classifier(spec: str, *, weights_dir: Path, device: str = "cpu",
                    expected_sha256: str | None = None) -> Classifier:
    """Build the classifier a spec names. Raises WeightsNotFound (with what to fetch and where)
    or WeightsChecksumMismatch; never substitutes other weights."""
    backend, value = parse_spec(spec)
    weights_dir = Path(weights_dir).expanduser()
    if backend == "demo":
        from workers.models.densenet22 import DemoClassifier

        classifier: Classifier = DemoClassifier(device=device, expected_sha256=expected_sha256)
    elif backend == "xrv":
        from workers.models.xrv_backend import XrvClassifier

        classifier = XrvClassifier(value, weights_dir=weights_dir, device=device,
                                   expected_sha256=expected_sha256, model_id=spec.strip())
    elif backend == "hf":
        from workers.models.hf_backend import HFClassifier

        classifier = HFClassifier(value, weights_dir=weights_dir, device=device,
                                  expected_sha256=expected_sha256, model_id=spec.strip())
    else:
        from workers.models.densenet22 import DenseNet22Classifier

        classifier = DenseNet22Classifier.from_checkpoint(
            value, weights_dir=weights_dir, device=device, expected_sha256=expected_sha256,
            model_id=spec.strip(),
        )
    logger.info("loaded %s (%s, sha256 %s)", classifier.info.model_id, classifier.info.version,
                classifier.info.weights_sha256)
    return classifier
