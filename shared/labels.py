"""The common label vocabulary that every model backend's outputs are mapped onto.

Backends name the same finding differently ("Effusion", "Pleural Effusion", "pleural_effusion");
findings are stored under one canonical name so that thresholds, retrieval, drafting and the
review UI never depend on which model produced them.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

OTHER = "Other"

# The 14 NIH ChestX-ray14 labels.
CHESTXRAY14 = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia",
)

# The 22-label vocabulary of the densenet22 backend, in its output order. The last four are
# brain-MRI classes that this checkpoint family was trained with; they are kept so the output
# layer maps one to one, and are never reported as chest findings.
DENSENET22 = CHESTXRAY14 + (
    "COVID-19", "Viral_Pneumonia", "Tuberculosis", "Normal",
    "Glioma", "Meningioma", "Pituitary", "No_Tumor",
)
NON_CHEST = frozenset({"Glioma", "Meningioma", "Pituitary", "No_Tumor"})

# Labels emitted by CheXpert-style models (torchxrayvision) beyond ChestX-ray14.
CHEXPERT_EXTRA = ("Lung_Opacity", "Lung_Lesion", "Fracture", "Enlarged_Cardiomediastinum", "Support_Devices")

VOCABULARY: tuple[str, ...] = DENSENET22 + CHEXPERT_EXTRA

# Findings that jump the review queue when positive.
CRITICAL = frozenset({"Pneumothorax", "Effusion", "Mass", "Edema", "Pneumonia", "Consolidation"})

# Plain-English names for reports and the UI.
DISPLAY_NAMES: dict[str, str] = {
    "Effusion": "pleural effusion",
    "Pleural_Thickening": "pleural thickening",
    "COVID-19": "COVID-19 pattern",
    "Viral_Pneumonia": "viral pneumonia",
    "Lung_Opacity": "lung opacity",
    "Lung_Lesion": "lung lesion",
    "Enlarged_Cardiomediastinum": "enlarged cardiomediastinum",
    "Support_Devices": "support devices",
    "No_Tumor": "no tumour",
}

_ALIASES: dict[str, str] = {
    "pleuraleffusion": "Effusion",
    "effusions": "Effusion",
    "pleuralthickening": "Pleural_Thickening",
    "pleural_other": "Pleural_Thickening",
    "covid": "COVID-19",
    "covid19": "COVID-19",
    "viralpneumonia": "Viral_Pneumonia",
    "tb": "Tuberculosis",
    "nofinding": "Normal",
    "notumor": "No_Tumor",
    "enlargedcardiomediastinum": "Enlarged_Cardiomediastinum",
    "lungopacity": "Lung_Opacity",
    "lunglesion": "Lung_Lesion",
    "supportdevices": "Support_Devices",
    "infiltrate": "Infiltration",
    "infiltrates": "Infiltration",
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_CANONICAL_BY_KEY = {_key(label): label for label in VOCABULARY}
_CANONICAL_BY_KEY.update(_ALIASES)


def canonical_label(name: str) -> str:
    """Map a backend's label name onto the vocabulary; unknown names become OTHER (logged)."""
    label = _CANONICAL_BY_KEY.get(_key(name))
    if label is None:
        logger.warning("unknown model label %r mapped to %r", name, OTHER)
        return OTHER
    return label


def display_name(label: str) -> str:
    return DISPLAY_NAMES.get(label, label.replace("_", " ").lower())


def is_chest_finding(label: str) -> bool:
    """True for labels that describe an abnormality on a chest film (not Normal, not brain MRI)."""
    return label not in NON_CHEST and label not in {"Normal", OTHER}
