"""Finding weight files on disk, pinning them by SHA-256, and loading them without surprises.

Nothing here downloads: hospitals are often offline and a silent download (or, worse, a silent
fallback to random weights) would make findings untraceable. A missing file is `WeightsNotFound`
whose message says which file, where it was looked for, and what to fetch.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from workers.models.base import WeightsChecksumMismatch, WeightsNotFound

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths: Iterable[Path]) -> str:
    """One checksum for a model stored as several files (sharded safetensors): the SHA-256 of
    the sorted "name:sha256" lines, so it does not depend on the folder's location."""
    paths = sorted(paths, key=lambda p: p.name)
    if len(paths) == 1:
        return sha256_file(paths[0])
    lines = "".join(f"{p.name}:{sha256_file(p)}\n" for p in paths)
    return hashlib.sha256(lines.encode()).hexdigest()


def sha256_state_dict(state: Mapping[str, torch.Tensor]) -> str:
    """Deterministic checksum of in-memory weights (the demo model has no file). Hashes names,
    dtypes, shapes and raw bytes in key order; torch.save output is not guaranteed stable."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def check_sha256(actual: str, expected: str | None, what: Path | str) -> None:
    if expected is None:
        return
    if actual.lower() != expected.strip().lower():
        raise WeightsChecksumMismatch(
            f"SHA-256 of {what} is {actual}, expected {expected.strip().lower()}: the file is not the "
            "pinned weights (corrupt copy, or a different release). Replace it or update the pin."
        )


def looks_like_path(value: str) -> bool:
    """A spec value is a path (rather than a name) when it says so syntactically."""
    return (
        "/" in value or "\\" in value or value.startswith(("~", "."))
        or value.endswith((".pt", ".pth", ".bin", ".ckpt", ".safetensors"))
    )


def find_file(
    value: str,
    *,
    search_dirs: Iterable[Path],
    candidates: Iterable[str] = (),
    what: str,
    fetch_hint: str,
) -> Path:
    """Resolve `value` to an existing file.

    An absolute path is taken as is. Otherwise `value` and then each of `candidates` (other file
    names the same weights are known by) is tried in each of `search_dirs`, in order.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        if path.is_file():
            return path
        raise WeightsNotFound(f"{what}: weights file {path} does not exist. {fetch_hint}")
    dirs = [Path(d).expanduser() for d in search_dirs]
    names = [value, *[c for c in candidates if c != value]]
    tried: list[Path] = []
    for directory in dirs:
        for name in names:
            candidate = directory / name
            tried.append(candidate)
            if candidate.is_file():
                return candidate.resolve()
    looked = ", ".join(str(p) for p in tried)
    raise WeightsNotFound(
        f"{what}: weights file {names[0]!r} not found in {', '.join(str(d) for d in dirs)} "
        f"(looked for: {looked}). {fetch_hint}"
    )


def load_torch_file(path: Path, device: torch.device | str, *, allow_pickle: bool = True) -> Any:
    """torch.load with weights_only=True first; full unpickling only as a logged fallback.

    Published checkpoints are not all plain tensors: torchxrayvision ships whole pickled modules,
    and training scripts often save numpy scalars next to the state dict. Unpickling can run
    code, so it is allowed only for files the operator put in the weights folder (and ideally
    pinned by SHA-256), and it is logged.
    """
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        if not allow_pickle:
            raise
        logger.warning(
            "%s is not a plain tensor checkpoint (%s); unpickling it in full. Only do this for "
            "trusted files, pinned by SHA-256.", path, str(exc).splitlines()[0][:200],
        )
        return torch.load(path, map_location=device, weights_only=False)


def extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Accept the usual checkpoint shapes: a state dict, {"state_dict": ...}, {"model": ...}
    (either holding a state dict or a module), or a whole pickled nn.Module."""
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict())
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model", "net"):
            inner = obj.get(key)
            if isinstance(inner, (Mapping, torch.nn.Module)):
                return extract_state_dict(inner, path)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise ValueError(f"{path}: not a checkpoint this backend understands (type {type(obj).__name__})")


def strip_prefixes(state: Mapping[str, torch.Tensor], prefixes: Iterable[str]) -> dict[str, torch.Tensor]:
    """Remove wrapper prefixes (DataParallel's "module.", Lightning's "model.") repeatedly."""
    prefixes = tuple(prefixes)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in prefixes:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    """load_state_dict(strict=True) with an error that names the checkpoint and a few keys;
    loading partially would be a silent fallback to random weights for the missing part."""
    try:
        result = module.load_state_dict(dict(state), strict=False)
    except RuntimeError as exc:  # shape mismatches raise even with strict=False
        raise ValueError(f"{path}: checkpoint does not fit the architecture: {exc}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path}: checkpoint does not fit the architecture: "
            f"{len(result.missing_keys)} missing keys (e.g. {result.missing_keys[:3]}), "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {result.unexpected_keys[:3]})"
        )


# The weights folder's manifest: what `radstack models import` put there and its SHA-256, so
# `radstack models verify` can tell a corrupted or swapped file from the one that was imported.
MANIFEST = "MANIFEST.json"


def read_manifest(weights_dir: Path) -> dict[str, dict[str, Any]]:
    import json

    path = Path(weights_dir) / MANIFEST
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")).get("files", {}))


def record_manifest(weights_dir: Path, relpath: str, entry: dict[str, Any]) -> None:
    import json
    import os

    files = read_manifest(weights_dir)
    files[relpath] = entry
    path = Path(weights_dir) / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"files": dict(sorted(files.items()))}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
