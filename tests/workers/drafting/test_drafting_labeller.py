"""The negation-aware labeller: negation and uncertainty cues, scope, and validation on IU."""

from __future__ import annotations

import pytest

from workers.drafting.benchmark import labeller_validation
from workers.knowledge.labeller import Mention, label_report, label_sentence, split_sentences

P, N, U = Mention.POSITIVE, Mention.NEGATIVE, Mention.UNCERTAIN


@pytest.mark.parametrize(("sentence", "expected"), [
    ("No pneumothorax.", {"Pneumothorax": N}),
    ("Without effusion.", {"Effusion": N}),
    ("The opacity may represent atelectasis.", {"Atelectasis": U, "Lung_Opacity": U}),
    ("No pneumothorax, pleural effusion, or focal consolidation.", {"Pneumothorax": N, "Effusion": N, "Consolidation": N}),
    ("No focal consolidation, large pleural effusion, or pneumothorax is identified.",
     {"Consolidation": N, "Effusion": N, "Pneumothorax": N}),
    ("No effusion, mild cardiomegaly.", {"Effusion": N, "Cardiomegaly": P}),
    ("There is no pneumothorax and the heart is enlarged.", {"Pneumothorax": N, "Cardiomegaly": P}),
    ("Pneumothorax is not seen.", {"Pneumothorax": N}),
    ("Pneumonia cannot be excluded.", {"Pneumonia": U}),
    ("Atelectasis versus pneumonia.", {"Atelectasis": U, "Pneumonia": U}),
    ("Possible small left pleural effusion.", {"Effusion": U}),
    ("No change in the large right pleural effusion.", {"Effusion": P}),
    ("Moderate cardiomegaly.", {"Cardiomegaly": P}),
    ("The heart is normal in size.", {"Cardiomegaly": N}),
    ("The heart is not enlarged.", {"Cardiomegaly": N}),
    ("Heart size is upper limits of normal.", {"Cardiomegaly": U}),
    ("The lungs are clear.", {"Consolidation": N, "Pneumonia": N, "Lung_Opacity": N, "Edema": N, "Mass": N}),
    ("Subcutaneous emphysema in the left chest wall.", {}),
    ("Calcified granuloma in the right upper lobe.", {"Nodule": P}),
    ("Blunting of the left costophrenic angle.", {"Effusion": P}),
    ("Pericardial effusion.", {}),
    ("Right PICC line tip in the SVC.", {"Support_Devices": P}),
    ("No acute cardiopulmonary abnormality.", {"Normal": P}),
    ("No acute bony abnormality.", {"Fracture": N}),
])
def test_sentence_statuses(sentence: str, expected: dict[str, Mention]) -> None:
    assert label_sentence(sentence) == expected


def test_report_level_takes_the_strongest_statement() -> None:
    statuses = label_report("FINDINGS: No pneumothorax. Small right pneumothorax at the apex. "
                            "IMPRESSION: 1. Possible atelectasis. 2. No effusion.")
    assert statuses["Pneumothorax"] is P
    assert statuses["Atelectasis"] is U
    assert statuses["Effusion"] is N
    assert statuses["Hernia"] is Mention.ABSENT


def test_sentences_split_on_full_stops_and_list_numbers() -> None:
    assert split_sentences("1. Cardiomegaly. 2. No effusion measuring 1.5 cm.") == [
        "Cardiomegaly.", "No effusion measuring 1.5 cm."]


def test_labeller_agrees_with_the_iu_mesh_tags() -> None:
    rows = {row[0]: row for row in labeller_validation()}
    _, support, precision, recall, f1 = rows["ALL (micro)"]
    assert support > 500 and precision > 0.9 and recall > 0.85 and f1 > 0.9
    for label in ("Cardiomegaly", "Atelectasis", "Effusion", "Emphysema", "Lung_Opacity", "Nodule"):
        assert rows[label][4] > 0.85, rows[label]
