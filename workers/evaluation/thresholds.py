"""Which threshold a worker applies to each label.

Precedence, most specific first:
1. `RADSTACK_THRESHOLDS` (settings.thresholds): per-label overrides an operator typed in;
2. the calibration file written by `radstack eval --calibrate`, if it was calibrated for the
   weights now loaded (same SHA-256): thresholds for other weights are meaningless and ignored
   with a warning;
3. settings.default_threshold.

The file's location: the `thresholds_file` setting (RADSTACK_THRESHOLDS_FILE), else
`<data_dir>/thresholds.json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_cache: dict[Path, tuple[float, dict[str, Any]]] = {}


def thresholds_file_path(settings: Any) -> Path:
    if settings.thresholds_file:
        return Path(settings.thresholds_file).expanduser()
    return Path(settings.data_dir) / "thresholds.json"


def read_thresholds_file(path: Path) -> dict[str, Any] | None:
    """The parsed file, cached by modification time (re-read after a new calibration)."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        thresholds = {str(k): float(v) for k, v in document["thresholds"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.error("ignoring unreadable thresholds file %s: %s", path, exc)
        return None
    document["thresholds"] = thresholds
    _cache[path] = (mtime, document)
    return document


def effective_thresholds(settings: Any, weights_sha256: str | None = None) -> dict[str, float]:
    """Per-label thresholds from the calibration file and the settings (see module doc)."""
    out: dict[str, float] = {}
    path = thresholds_file_path(settings)
    document = read_thresholds_file(path)
    if document is not None:
        calibrated_for = (document.get("model") or {}).get("weights_sha256")
        if weights_sha256 and calibrated_for and calibrated_for != weights_sha256:
            logger.warning("thresholds file %s was calibrated for weights %s, not the loaded %s; ignored",
                           path, str(calibrated_for)[:12], weights_sha256[:12])
        else:
            out.update(document["thresholds"])
    out.update(settings.thresholds or {})
    return out


def threshold_function(settings: Any, weights_sha256: str | None = None) -> Callable[[str], float]:
    table = effective_thresholds(settings, weights_sha256)
    default = float(settings.default_threshold)
    return lambda label: float(table.get(label, default))
