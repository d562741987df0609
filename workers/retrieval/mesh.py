"""MeSH major terms of the Indiana University reports -> the label vocabulary.

A major term is "Descriptor/qualifier/qualifier..." (e.g. "Pulmonary Atelectasis/base/left").
Each rule names a descriptor and, where the descriptor alone is not a finding ("Lung",
"Mediastinum"), the qualifiers that make it one. The full table and its reasoning are in
docs/retrieval.md; the choices follow the labeller's lexicon so that the two can be compared.
"""

from __future__ import annotations

from collections.abc import Iterable

# descriptor (lower case) -> [(qualifier words of which one must be present, or None; labels)]
_Rule = tuple[frozenset[str] | None, tuple[str, ...]]
_ENLARGED = frozenset({"enlarged", "prominent", "widened", "wide"})
_DEVICES: tuple[str, ...] = ("Support_Devices",)

RULES: dict[str, list[_Rule]] = {
    "normal": [(None, ("Normal",))],
    "cardiomegaly": [(None, ("Cardiomegaly",))],
    "cardiac shadow": [(_ENLARGED, ("Cardiomegaly",))],
    "heart": [(_ENLARGED, ("Cardiomegaly",))],
    "heart atria": [(_ENLARGED, ("Cardiomegaly",))],
    "heart ventricles": [(_ENLARGED, ("Cardiomegaly",))],
    "mediastinum": [(_ENLARGED, ("Enlarged_Cardiomediastinum",))],
    "pulmonary atelectasis": [(None, ("Atelectasis",))],
    "atelectasis": [(None, ("Atelectasis",))],
    "pleural effusion": [(None, ("Effusion",))],
    "hemothorax": [(None, ("Effusion",))],
    "hydropneumothorax": [(None, ("Effusion", "Pneumothorax"))],
    "hemopneumothorax": [(None, ("Effusion", "Pneumothorax"))],
    "costophrenic angle": [(frozenset({"blunted"}), ("Effusion",))],
    "pleura": [(frozenset({"blunted"}), ("Effusion",)), (frozenset({"thickening", "thickened"}), ("Pleural_Thickening",))],
    "infiltrate": [(None, ("Infiltration",))],
    "mass": [(None, ("Mass",))],
    "nodule": [(None, ("Nodule",))],
    "granuloma": [(None, ("Nodule",))],
    "calcified granuloma": [(None, ("Nodule",))],
    "pneumonia": [(None, ("Pneumonia",))],
    "pneumothorax": [(None, ("Pneumothorax",))],
    "consolidation": [(None, ("Consolidation",))],
    "pulmonary edema": [(None, ("Edema",))],
    "edema": [(None, ("Edema",))],
    "pulmonary congestion": [(None, ("Edema",))],
    "heart failure": [(None, ("Edema",))],
    "emphysema": [(None, ("Emphysema",))],
    "pulmonary emphysema": [(None, ("Emphysema",))],
    "bullous emphysema": [(None, ("Emphysema",))],
    "pulmonary disease, chronic obstructive": [(None, ("Emphysema",))],
    "blister": [(None, ("Emphysema",))],
    "lung, hyperlucent": [(None, ("Emphysema",))],
    "lung": [(frozenset({"hyperdistention"}), ("Emphysema",))],
    "diaphragm": [(frozenset({"flattened"}), ("Emphysema",))],
    "pulmonary fibrosis": [(None, ("Fibrosis",))],
    "fibrosis": [(None, ("Fibrosis",))],
    "lung diseases, interstitial": [(None, ("Fibrosis",))],
    # Scarring is reported as fibrosis, pleural scarring as pleural thickening (as the lexicon does).
    "cicatrix": [(frozenset({"pleura"}), ("Pleural_Thickening",)), (None, ("Fibrosis",))],
    "thickening": [(frozenset({"pleura"}), ("Pleural_Thickening",))],
    "hernia, hiatal": [(None, ("Hernia",))],
    "hernia, diaphragmatic": [(None, ("Hernia",))],
    "hernia": [(None, ("Hernia",))],
    "tuberculosis": [(None, ("Tuberculosis",))],
    "opacity": [(None, ("Lung_Opacity",))],
    "density": [(None, ("Lung_Opacity",))],
    "airspace disease": [(None, ("Lung_Opacity",))],
    "cavitation": [(None, ("Lung_Lesion",))],
    "cysts": [(frozenset({"lung"}), ("Lung_Lesion",))],
    "fractures, bone": [(None, ("Fracture",))],
    "rib fractures": [(None, ("Fracture",))],
    "catheters, indwelling": [(None, _DEVICES)],
    "catheterization, central venous": [(None, _DEVICES)],
    "surgical instruments": [(None, _DEVICES)],
    "implanted medical device": [(None, _DEVICES)],
    "medical device": [(None, _DEVICES)],
    "tube, inserted": [(None, _DEVICES)],
    "stents": [(None, _DEVICES)],
    "pacemaker, artificial": [(None, _DEVICES)],
    "sutures": [(None, _DEVICES)],
}


def labels_for_term(term: str) -> tuple[str, ...]:
    """Labels one MeSH major term maps to; () for terms outside the vocabulary (e.g. "Spine")."""
    parts = [part.strip().lower() for part in term.split("/")]
    descriptor, qualifiers = " ".join(parts[0].split()), set(parts[1:])
    for required, labels in RULES.get(descriptor, []):
        if required is None or required & qualifiers:
            return labels
    return ()


def labels_for_mesh(terms: Iterable[str]) -> frozenset[str]:
    """The report's labels. "Normal" only when no finding label is present (some reports are
    tagged both normal and, e.g., a device)."""
    labels = {label for term in terms for label in labels_for_term(term)}
    if len(labels) > 1:
        labels.discard("Normal")
    return frozenset(labels)
