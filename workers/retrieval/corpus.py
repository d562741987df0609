"""The Indiana University chest X-ray report collection, as shipped inside torchxrayvision.

3,955 de-identified reports (XML, one per study) with FINDINGS, IMPRESSION and MeSH terms.
Only FINDINGS, IMPRESSION and the MeSH major terms are kept: the other sections (INDICATION,
COMPARISON) carry ages and history that a draft about another patient must never copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import tarfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from workers.retrieval.mesh import labels_for_mesh

# Changing the split would silently mix benchmark reports into the index: bump the version.
SPLIT_VERSION = "iu-split-v1"
TEST_FRACTION = 0.2

_lock = threading.Lock()
_cache: dict[Path, list["PriorReport"]] = {}


@dataclass(frozen=True)
class PriorReport:
    report_id: str                 # "CXR1000": the collection's own id
    findings: str
    impression: str
    mesh: tuple[str, ...]          # MeSH major terms, as written
    labels: frozenset[str]         # canonical labels from the MeSH terms (mesh.py)

    @property
    def text(self) -> str:
        return " ".join(part for part in (self.findings, self.impression) if part)

    @property
    def split(self) -> str:
        return split_of(self.report_id)


def iu_reports_path() -> Path:
    # The collection ships inside the package: no download. find_spec locates it without
    # importing torchxrayvision (and torch), which would cost seconds in every retrieve worker.
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("torchxrayvision is not installed; it ships data/NLMCXR_reports.tgz")
    path = Path(next(iter(spec.submodule_search_locations))).resolve() / "data" / "NLMCXR_reports.tgz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall torchxrayvision (>=1.3), which ships it")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def split_of(report_id: str) -> str:
    """"train" or "test", fixed by a hash of the id: stable across machines, runs and Python
    versions (unlike hash()), and independent of the order the archive lists its files in."""
    digest = hashlib.sha256(f"{SPLIT_VERSION}:{report_id}".encode()).digest()
    return "test" if int.from_bytes(digest[:4], "big") / 2**32 < TEST_FRACTION else "train"


def _clean(text: str | None) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    # Some reports end sentences with "..": keep one full stop.
    return re.sub(r"\.{2,}", ".", text)


def _parse(data: bytes) -> PriorReport | None:
    root = ET.fromstring(data)
    uid = root.find("uId")
    if uid is None or not uid.get("id"):
        return None
    sections = {node.get("Label"): _clean(node.text) for node in root.iter("AbstractText")}
    mesh = tuple(_clean(node.text) for node in root.iter("major") if node.text and node.text.strip())
    return PriorReport(
        report_id=str(uid.get("id")), findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""), mesh=mesh, labels=labels_for_mesh(mesh),
    )


def load_iu_reports(path: Path | None = None) -> list[PriorReport]:
    """Every report of the collection, sorted by id; parsed once per process."""
    path = (path or iu_reports_path()).resolve()
    with _lock:
        if path not in _cache:
            reports = []
            with tarfile.open(path, "r:gz") as archive:
                for member in archive:
                    if member.isfile() and member.name.endswith(".xml"):
                        handle = archive.extractfile(member)
                        report = _parse(handle.read()) if handle else None
                        if report is not None:
                            reports.append(report)
            _cache[path] = sorted(reports, key=lambda r: (len(r.report_id), r.report_id))
        return list(_cache[path])


def train_reports(reports: list[PriorReport] | None = None) -> list[PriorReport]:
    """The reports retrieval may index: train split, with some text."""
    return [r for r in (reports or load_iu_reports()) if r.split == "train" and r.text]


def heldout_reports(reports: list[PriorReport] | None = None) -> list[PriorReport]:
    """The benchmark's reports: test split, with a FINDINGS section (as R2Gen's IU X-ray set)."""
    return [r for r in (reports or load_iu_reports()) if r.split == "test" and r.findings]
