"""`densenet22:<checkpoint>` and `demo`: torchvision DenseNet-121 with a 22-way head.

The head's outputs are shared.labels.DENSENET22 in order (14 ChestX-ray14 labels, COVID-19,
Viral_Pneumonia, Tuberculosis, Normal and four brain-MRI classes the checkpoint family was
trained with; those are reported under their own labels and filtered downstream via NON_CHEST).

`demo` is the same architecture with seeded weights that ship with nothing. It is a stand-in so
the pipeline can be tried without weights, not a model: its scores carry no clinical meaning.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from shared.labels import DENSENET22
from workers.models.base import Classifier, ModelInfo, as_grey, resolve_device, unique_labels
from workers.models.weights import (
    check_sha256,
    extract_state_dict,
    find_file,
    load_strict,
    load_torch_file,
    sha256_file,
    sha256_state_dict,
    strip_prefixes,
)

INPUT_SIZE = 224
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

DEMO_SEED = 20240522
DEMO_VERSION = "radstack-demo-1"
# Demo head bias (logits) per label. Most labels sit well below 0.5 (sigmoid(-3) ~ 0.05), a few
# are middling, and two sit just above 0.5 so the demo exercises the "positive finding" paths
# (critical queue, heat maps, report sentences). The image still moves every score a little
# through the (seeded, rescaled) head weights, so different films give different numbers.
DEMO_BIAS: dict[str, float] = {label: -3.0 for label in DENSENET22}
DEMO_BIAS.update({
    "Cardiomegaly": 0.4, "Effusion": 0.2,
    "Atelectasis": -1.2, "Infiltration": -1.0, "Nodule": -1.5, "Normal": -0.8,
    "Glioma": -6.0, "Meningioma": -6.0, "Pituitary": -6.0, "No_Tumor": -6.0,
})
# Scale of the seeded head weights: large enough that different films get visibly different
# scores (a random-init DenseNet's features vary little between images), small enough that the
# bias above still decides which labels sit high or low.
DEMO_HEAD_GAIN = 3.0


def build_densenet22() -> nn.Module:
    return torchvision.models.densenet121(weights=None, num_classes=len(DENSENET22))


# Checkpoints saved from torchvision < 0.3 (and CheXNet ports) name dense-layer parts "norm.1"
# instead of "norm1"; torchvision remaps them the same way when loading its own weights.
_OLD_DENSE_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def normalise_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state = strip_prefixes(state, ("module.", "model.", "densenet121.", "backbone."))
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _OLD_DENSE_KEY.match(key)
        if match:
            key = match.group(1) + match.group(2)
        # A head written as Sequential(Linear, Sigmoid) stores "classifier.0.*".
        key = key.replace("classifier.0.", "classifier.")
        out[key] = value
    return out


def imagenet_preprocess(image: np.ndarray) -> torch.Tensor:
    """Grey [0, 1] film -> (3, 224, 224) with ImageNet statistics (whole image, no crop)."""
    grey = torch.from_numpy(np.ascontiguousarray(as_grey(image)))[None, None]
    if grey.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        grey = F.interpolate(grey, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                             antialias=True, align_corners=False)
    rgb = grey[0].expand(3, -1, -1)  # grey film -> the 3 channels ImageNet models expect
    return (rgb - IMAGENET_MEAN) / IMAGENET_STD


class DenseNet22Classifier(Classifier):
    gradcam_layer = "features"

    def __init__(self, module: nn.Module, *, info: ModelInfo, device: torch.device) -> None:
        self.device = device
        self.module = module.to(device).eval()
        self.output_labels = tuple(DENSENET22)
        self.info = info

    @classmethod
    def from_checkpoint(cls, value: str, *, weights_dir: Path, device: str = "cpu",
                        expected_sha256: str | None = None, model_id: str | None = None) -> DenseNet22Classifier:
        folder = Path(weights_dir) / "densenet22"
        path = find_file(
            value, search_dirs=[folder, Path.cwd()], what=f"densenet22:{value}",
            fetch_hint=(f"Put the 22-label DenseNet-121 checkpoint (a state dict, or a dict with "
                        f"'state_dict'/'model') at {folder / Path(value).name}, give an absolute "
                        f"path, or run `radstack models import FILE --backend densenet22`."),
        )
        sha = sha256_file(path)
        check_sha256(sha, expected_sha256, path)
        dev = resolve_device(device)
        state = normalise_keys(extract_state_dict(load_torch_file(path, "cpu"), path))
        module = build_densenet22()
        load_strict(module, state, path)
        info = ModelInfo(
            model_id=model_id or f"densenet22:{value}",
            version=f"torchvision-{torchvision.__version__}",
            weights_sha256=sha,
            is_demo=False,
            labels=unique_labels(DENSENET22),
        )
        classifier = cls(module, info=info, device=dev)
        classifier.weights_path = path
        return classifier

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        return imagenet_preprocess(image)

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(batch)


def _demo_phantom() -> np.ndarray:
    """A crude synthetic chest film (two dark lung fields on brighter soft tissue), used as the
    demo's reference image."""
    yy, xx = np.mgrid[0:INPUT_SIZE, 0:INPUT_SIZE].astype(np.float32) / INPUT_SIZE
    film = 0.55 + 0.25 * yy
    for cx in (0.3, 0.7):
        film[((xx - cx) / 0.16) ** 2 + ((yy - 0.45) / 0.3) ** 2 < 1.0] = 0.2
    return film


def _demo_module() -> nn.Module:
    # fork_rng: seeding must not disturb the caller's global RNG stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEMO_SEED)
        module = build_densenet22().eval()
        head = module.classifier
        with torch.no_grad():
            head.weight.copy_(torch.randn(head.weight.shape) * (DEMO_HEAD_GAIN / head.in_features ** 0.5))
            # A random-init DenseNet's pooled features share a large image-independent part, which
            # through random head weights would add an arbitrary offset per label. Cancel it at
            # the reference phantom so each label's logit is DEMO_BIAS there and the image only
            # moves it around that value.
            ref = imagenet_preprocess(_demo_phantom())[None]
            features = F.adaptive_avg_pool2d(F.relu(module.features(ref)), 1).flatten(1)
            bias = torch.tensor([DEMO_BIAS[label] for label in DENSENET22])
            head.bias.copy_(bias - (features @ head.weight.T)[0])
    return module


class DemoClassifier(DenseNet22Classifier):
    """Seeded DenseNet-22. Deterministic across processes on the same torch build."""

    def __init__(self, *, device: str = "cpu", expected_sha256: str | None = None) -> None:
        module = _demo_module()
        sha = sha256_state_dict(module.state_dict())
        check_sha256(sha, expected_sha256, "the demo model")
        info = ModelInfo(
            model_id="demo",
            version=f"{DEMO_VERSION}+torchvision-{torchvision.__version__}",
            weights_sha256=sha,
            is_demo=True,
            labels=unique_labels(DENSENET22),
        )
        super().__init__(module, info=info, device=resolve_device(device))
