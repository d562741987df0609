"""Grad-CAM heat maps: where in the film did the model look for a finding.

Works on any `Classifier` through its differentiable `logits()`: the DenseNet backends name their
target layer (`gradcam_layer`), Hugging Face models get one found for them (the last block's
`layernorm_before` for ViT-style models, else the last spatial feature map), and callers
can override it with `target_layer`. Maps are low resolution (7x7 for a 224 px DenseNet),
ReLU'd and scaled to [0, 1] per (image, label); `render_overlay` lays one over the radiograph.

Cost: one forward pass with gradients plus one backward pass per requested label, for the whole
batch at once (images do not interact in eval mode, so the summed score's gradient separates).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from workers.models.base import Classifier, as_grey

Target = str | nn.Module | None


def _named(module: nn.Module, name: str) -> nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError as exc:
        raise ValueError(f"target layer {name!r} not found in {type(module).__name__}") from exc


def _probe_last_spatial(classifier: Classifier, sample: torch.Tensor) -> str:
    """Name of the last module (in completion order) whose output is a (N, C, H, W) map with
    H, W > 1: for a CNN, the final feature map before global pooling."""
    found: list[str] = []
    handles = []
    for name, sub in classifier.module.named_modules():
        if not name:
            continue

        def hook(_m: nn.Module, _i: object, out: object, name: str = name) -> None:
            if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[-1] > 1 and out.shape[-2] > 1:
                found.append(name)

        handles.append(sub.register_forward_hook(hook))
    try:
        with torch.no_grad():
            classifier.logits(sample)
    finally:
        for handle in handles:
            handle.remove()
    if not found:
        raise ValueError(f"{classifier.info.model_id}: no spatial feature map found; pass target_layer")
    return found[-1]


def find_target_layer(classifier: Classifier, sample: torch.Tensor | None = None) -> str:
    """The dotted name of the layer Grad-CAM uses by default for this classifier."""
    named = getattr(classifier, "gradcam_layer", None)
    if named:
        return named
    # Transformer classifiers (ViT, DeiT, BEiT, Swin): the token map entering the last block's
    # first LayerNorm, as pytorch-grad-cam recommends; module paths differ between transformers
    # versions ("encoder.layer.11" in 4.x, "layers.11" in 5.x), the LayerNorm name does not.
    norms = [name for name, _ in classifier.module.named_modules() if name.endswith("layernorm_before")]
    if norms:
        return norms[-1]
    if sample is None:
        raise ValueError("a sample batch is needed to find the target layer")
    return _probe_last_spatial(classifier, sample)


def _as_spatial(activation: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) as is; (N, T, D) token sequences -> (N, D, g, g) from the last g*g tokens
    (dropping CLS / distillation / register tokens, which come first)."""
    if activation.ndim == 4:
        return activation
    if activation.ndim == 3:
        grid = int(math.isqrt(activation.shape[1]))
        while grid > 0 and activation.shape[1] - grid * grid > 8:  # at most a few special tokens
            grid -= 1
        if grid < 1:
            raise ValueError(f"cannot read token activations {tuple(activation.shape)} as a square grid")
        tokens = activation[:, -grid * grid:, :]
        return tokens.transpose(1, 2).reshape(activation.shape[0], activation.shape[2], grid, grid)
    raise ValueError(f"target layer output has shape {tuple(activation.shape)}; expected 3 or 4 dims")


def gradcam(
    classifier: Classifier,
    images: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    *,
    target_layer: Target = None,
) -> list[dict[str, np.ndarray]]:
    """One {label: low-res float32 map in [0, 1]} per image; labels default to all the model's.

    A label reported from several outputs (e.g. "Other") uses the highest-scoring output per
    image. Labels the model does not output raise ValueError.
    """
    if len(images) == 0:
        return []
    batch = torch.stack([classifier.preprocess(i) for i in images])
    return gradcam_batch(classifier, batch, labels, target_layer=target_layer)


def gradcam_batch(
    classifier: Classifier,
    batch: torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    target_layer: Target = None,
) -> list[dict[str, np.ndarray]]:
    """`gradcam` on already preprocessed inputs (the tensors the classify stage stacked)."""
    wanted = list(labels) if labels is not None else list(classifier.info.labels)
    unknown = [lbl for lbl in wanted if lbl not in classifier.info.labels]
    if unknown:
        raise ValueError(f"{classifier.info.model_id} does not output {unknown}")
    return _forward_and_cams(classifier, batch, lambda _scores: wanted, target_layer)[1]


def forward_with_gradcam(
    classifier: Classifier,
    batch: torch.Tensor,
    threshold_for: Callable[[str], float],
    *,
    target_layer: Target = None,
    skip: Callable[[str], bool] | None = None,
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    """Scores and the maps of each image's positive findings from ONE forward pass (with
    gradients), instead of an inference pass followed by a Grad-CAM pass: the classify stage's
    heat maps then cost little more than the backward passes to the target layer."""
    def positives(scores: list[dict[str, float]]) -> list[str]:
        return sorted({lbl for s in scores for lbl, p in s.items() if p >= threshold_for(lbl) and not (skip and skip(lbl))})

    scores, maps = _forward_and_cams(classifier, batch, positives, target_layer)
    kept = [{lbl: m[lbl] for lbl, p in s.items() if lbl in m and p >= threshold_for(lbl)} for s, m in zip(scores, maps)]
    return scores, kept


def _forward_and_cams(
    classifier: Classifier,
    batch: torch.Tensor,
    labels_for: Callable[[list[dict[str, float]]], Sequence[str]],
    target_layer: Target,
) -> tuple[list[dict[str, float]], list[dict[str, np.ndarray]]]:
    batch = classifier.to_device(batch)
    n_images = batch.shape[0]
    if isinstance(target_layer, nn.Module):
        layer = target_layer
    else:
        layer = _named(classifier.module, target_layer or find_target_layer(classifier, batch[:1]))

    captured: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: object, out: object) -> None:
        captured.append(out[0] if isinstance(out, (tuple, list)) else out)  # type: ignore[index]

    handle = layer.register_forward_hook(keep)
    was_training = classifier.module.training
    classifier.module.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad():
            # clone(): a batch built under inference_mode cannot take part in autograd.
            logits = classifier.logits(batch.clone())
            if not captured:
                raise ValueError("target layer did not run during the forward pass")
            activation = captured[-1]
            with torch.no_grad():
                rows = classifier.probabilities(logits.detach()).float().cpu().numpy()
            scores = [classifier._to_dict(row) for row in rows]
            results: list[dict[str, np.ndarray]] = [{} for _ in range(n_images)]
            for label in labels_for(scores):
                cols = [i for i, lbl in enumerate(classifier.output_labels) if lbl == label]
                score = logits[:, cols].max(dim=1).values.sum()
                (grad,) = torch.autograd.grad(score, activation, retain_graph=True)
                # Read both after the backward: a later in-place op (DenseNet's ReLU) may have
                # changed the activation, and the gradient is w.r.t. that same version.
                act, grad = _as_spatial(activation.detach()), _as_spatial(grad)
                weights = grad.mean(dim=(2, 3), keepdim=True)
                cams = torch.relu((weights * act).sum(dim=1)).float().cpu().numpy()
                for i, cam in enumerate(cams):
                    peak = float(cam.max())
                    results[i][label] = (cam / peak if peak > 0 else np.zeros_like(cam)).astype(np.float32)
    finally:
        handle.remove()
        classifier.module.train(was_training)
    return scores, results


def gradcam_for_findings(
    classifier: Classifier,
    images: Sequence[np.ndarray] | None,
    predictions: Sequence[Mapping[str, float]],
    threshold_for: Callable[[str], float],
    *,
    batch: torch.Tensor | None = None,
    target_layer: Target = None,
    skip: Callable[[str], bool] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Maps only for positive findings (probability >= threshold), one pass for the batch.

    Give `images`, or the preprocessed `batch` the predictions came from (no second decode).
    `skip` drops labels that never get a map, e.g. `lambda l: not shared.labels.is_chest_finding(l)`.
    """
    positive = [
        {lbl for lbl, p in pred.items() if p >= threshold_for(lbl) and not (skip and skip(lbl))}
        for pred in predictions
    ]
    union = sorted(set().union(*positive)) if positive else []
    if not union:
        return [{} for _ in predictions]
    if batch is None:
        if images is None:
            raise ValueError("give images or a preprocessed batch")
        batch = torch.stack([classifier.preprocess(i) for i in images])
    maps = gradcam_batch(classifier, batch, union, target_layer=target_layer)
    return [{lbl: m[lbl] for lbl in pos} for m, pos in zip(maps, positive, strict=True)]


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a low-res map to (height, width), values kept in [0, 1]."""
    img = Image.fromarray(np.asarray(cam, dtype=np.float32))
    return np.clip(np.asarray(img.resize((width, height), Image.Resampling.BILINEAR)), 0.0, 1.0)


def _jet(values: np.ndarray) -> np.ndarray:
    """A small jet-like colormap (blue -> cyan -> yellow -> red), no matplotlib needed."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.concatenate([r, g, b], axis=-1)


def render_overlay(
    image: np.ndarray,
    cam: np.ndarray,
    *,
    region: tuple[int, int, int, int] | None = None,
    alpha: float = 0.5,
    max_side: int = 512,
) -> bytes:
    """PNG bytes: the greyscale film with the heat map blended over it.

    `region` is (top, left, height, width) of the film that the model saw
    (`classifier.input_region(h, w)`, e.g. xrv's centre crop); default the whole film. Cool
    parts of the map are blended less so the anatomy stays readable.
    """
    grey = as_grey(image)
    top, left, height, width = region or (0, 0, *grey.shape)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    heat = upsample(cam, height, width)
    weight = (alpha * heat)[..., None]
    patch = rgb[top:top + height, left:left + width]
    rgb[top:top + height, left:left + width] = (1 - weight) * patch + weight * _jet(heat)
    out = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    if max(out.size) > max_side:
        out.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    # Fast zlib level: `optimize=True` cost ~0.5 s per overlay, most of a classify batch's time.
    out.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode_npy(cam: np.ndarray) -> bytes:
    """The raw low-res map as .npy bytes, for the blob store."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(cam, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()
