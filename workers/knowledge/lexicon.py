"""How each label of the vocabulary is written about in chest radiograph reports.

One table serves three readers, so that they can never disagree about what a word means:
the retrieval query builder (`query`), the negation-aware labeller (`mention`, `normal`,
`hedge`, `exclude`) and the composer (`sentence`, `negative`). Patterns are lower-case regular
expressions matched against lower-cased text. The MeSH mapping of the Indiana University
reports (workers/retrieval/mesh.py) follows the same choices, e.g. a calcified granuloma is a
Nodule and blunted costophrenic angles are an Effusion, so that labeller and MeSH are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LabelTerms:
    label: str
    query: tuple[str, ...]            # words a retrieval query adds for this label
    mention: tuple[str, ...]          # a match names the finding (negation decided by context)
    normal: tuple[str, ...] = ()      # a match says the finding is absent ("heart size is normal")
    hedge: tuple[str, ...] = ()       # a match says it is borderline ("upper limits of normal")
    exclude: tuple[str, ...] = ()     # blanked before matching ("subcutaneous emphysema")
    sentence: str = ""                # the composer's sentence when no retrieved one fits
    negative: str = ""                # the composer's pertinent-negative phrase


_HEART = r"(?:heart|cardiac (?:silhouette|size|shadow|contours?)|heart size)"
_MEDIASTINUM = r"(?:mediastin\w*|cardiomediastinal (?:silhouette|contours?|structures))"
_NORMAL_WORDS = r"(?:normal|within normal limits|unremarkable|not enlarged|stable in size)"
_CLEAR_LUNGS = r"\blungs? (?:are|is|appear|appears|remain) (?:\w+ )?clear\b"

LEXICON: dict[str, LabelTerms] = {t.label: t for t in (
    LabelTerms(
        "Atelectasis", ("atelectasis", "atelectatic", "subsegmental", "volume", "loss"),
        (r"atelecta\w*", r"\b(?:lobar|lobe|lung) collapse", r"\bcollapse of the \w+ (?:lobe|lung)"),
        sentence="There is atelectasis.", negative="atelectasis"),
    LabelTerms(
        "Cardiomegaly", ("cardiomegaly", "enlarged", "heart", "cardiac", "silhouette", "enlargement"),
        (r"cardiomegal\w*", rf"{_HEART}[^.;,]{{0,30}}?\benlarg\w*", rf"enlarged {_HEART}",
         r"cardiac enlargement", rf"enlargement of the {_HEART}",
         rf"{_HEART} (?:is |are )?(?:mildly |moderately |markedly )?(?:large|increased)\b"),
        normal=(rf"{_HEART}[^.;]{{0,45}}?{_NORMAL_WORDS}", r"normal (?:heart|cardiac) (?:size|silhouette)",
                rf"{_NORMAL_WORDS} {_HEART}", r"cardiomediastinal silhouette[^.;]{0,40}?" + _NORMAL_WORDS),
        hedge=(r"upper limits? (?:of )?normal", r"(?:top|high) normal",
               r"borderline (?:cardiomegaly|heart size|enlarge\w*|cardiac)"),
        sentence="The heart is enlarged.", negative="cardiomegaly"),
    LabelTerms(
        "Effusion", ("pleural", "effusion", "effusions", "fluid", "costophrenic", "blunting"),
        (r"effusions?\b", r"pleural fluid", r"blunt\w* of (?:the )?(?:\w+ )?costophrenic",
         r"costophrenic (?:angles?|sulc\w*|recess\w*)[^.;,]{0,20}?blunt\w*", r"blunted (?:\w+ )?costophrenic",
         r"hemothorax", r"hydropneumothorax", r"fluid in the (?:\w+ )?fissure"),
        normal=(r"costophrenic (?:angles?|sulc\w*|recess\w*)[^.;,]{0,20}?\b(?:sharp|clear|normal)",
                r"pleural spaces? (?:are|is) (?:\w+ )?clear"),
        exclude=(r"pericardial effusions?",),
        sentence="There is a pleural effusion.", negative="pleural effusion"),
    LabelTerms(
        "Infiltration", ("infiltrate", "infiltrates", "infiltration"),
        (r"infiltrat\w*",),
        sentence="There are pulmonary infiltrates.", negative="infiltrate"),
    LabelTerms(
        "Mass", ("mass", "masses", "lesion"),
        (r"\bmass(?:es)?\b", r"\bmass-like\b"),
        normal=(_CLEAR_LUNGS,),
        sentence="There is a mass.", negative="mass"),
    LabelTerms(
        "Nodule", ("nodule", "nodules", "nodular", "granuloma", "calcified"),
        (r"nodul\w*", r"granulomas?\b"),
        sentence="There is a pulmonary nodule.", negative="pulmonary nodule"),
    LabelTerms(
        "Pneumonia", ("pneumonia", "infection", "infectious", "airspace"),
        (r"pneumonia\w*", r"\binfect\w*", r"pneumonitis"),
        normal=(_CLEAR_LUNGS,),
        exclude=(r"granulomatous (?:infection|process|disease)",),
        sentence="The appearance is compatible with pneumonia.", negative="pneumonia"),
    LabelTerms(
        "Pneumothorax", ("pneumothorax", "pneumothoraces"),
        (r"pneumothora\w*",),
        sentence="There is a pneumothorax.", negative="pneumothorax"),
    LabelTerms(
        "Consolidation", ("consolidation", "consolidative", "airspace", "focal"),
        (r"consolidat\w*",),
        normal=(_CLEAR_LUNGS,),
        sentence="There is focal consolidation.", negative="focal consolidation"),
    LabelTerms(
        "Edema", ("edema", "pulmonary", "congestion", "vascular", "interstitial", "chf", "failure"),
        (r"\bedema\b", r"(?:vascular|pulmonary|venous|interstitial) (?:congestion|engorgement)",
         r"\bcongestion\b", r"congestive heart failure", r"\bchf\b", r"cephalization",
         r"vascular (?:prominence|engorgement|redistribution)", r"prominen\w* (?:of the )?(?:pulmonary |central )?vascul\w*",
         r"increased (?:\w+ )?vascularity", r"indistinct (?:pulmonary )?vascul\w*"),
        normal=(_CLEAR_LUNGS,),
        exclude=(r"(?:soft tissue|subcutaneous) edema", r"nasal congestion"),
        sentence="There is pulmonary edema.", negative="pulmonary edema"),
    LabelTerms(
        "Emphysema", ("emphysema", "copd", "hyperinflated", "hyperinflation", "hyperexpanded", "obstructive"),
        (r"emphysema\w*", r"\bcopd\b", r"chronic obstructive", r"hyper-?(?:inflat|expan|aerat|lucen)\w*",
         r"\bbullae\b|\bbullous\b|\bblebs?\b", r"flatten\w* (?:of )?(?:the )?(?:\w+ )?(?:hemi)?diaphragm"),
        exclude=(r"(?:subcutaneous|soft tissue|mediastinal|interstitial) emphysema",),
        sentence="The lungs are hyperinflated, consistent with emphysema.", negative="emphysema"),
    LabelTerms(
        "Fibrosis", ("fibrosis", "fibrotic", "scarring", "scar"),
        (r"fibros(?:is|es)\b", r"fibrotic", r"\bscar(?:s|ring|red)?\b", r"cicatri\w*", r"interstitial lung disease"),
        exclude=(r"cystic fibrosis", r"pleural (?:\w+ )?scar\w*", r"pleural-parenchymal scar\w*"),
        sentence="There is pulmonary scarring/fibrosis.", negative="fibrosis"),
    LabelTerms(
        "Pleural_Thickening", ("pleural", "thickening", "apical", "capping"),
        (r"pleural (?:\w+ )?thicken\w*", r"thickening of the (?:\w+ )?pleura", r"pleural (?:\w+ )?scar\w*",
         r"pleural-parenchymal scar\w*", r"apical (?:pleural )?cap(?:ping)?\b", r"pleural plaques?"),
        sentence="There is pleural thickening.", negative="pleural thickening"),
    LabelTerms(
        "Hernia", ("hernia", "hiatal", "hiatus"),
        (r"hernia\w*",),
        sentence="There is a hiatal hernia.", negative="hiatal hernia"),
    LabelTerms(
        "COVID-19", ("covid-19", "coronavirus", "viral", "multifocal", "peripheral"),
        (r"covid\w*", r"sars-cov-2", r"coronavirus"),
        sentence="The appearance is compatible with COVID-19.", negative="COVID-19 pattern"),
    LabelTerms(
        "Viral_Pneumonia", ("viral", "pneumonia", "bronchiolitis", "interstitial"),
        (r"viral (?:pneumonia|pneumonitis|infection)", r"atypical pneumonia"),
        sentence="The appearance is compatible with viral pneumonia.", negative="viral pneumonia"),
    LabelTerms(
        "Tuberculosis", ("tuberculosis", "tb", "cavitary", "apical", "mycobacterial"),
        (r"tuberculo\w*", r"\btb\b", r"mycobacter\w*"),
        sentence="The appearance raises concern for tuberculosis.", negative="tuberculosis"),
    LabelTerms(
        "Normal", ("normal", "clear", "acute", "cardiopulmonary", "abnormality", "unremarkable"),
        (r"no (?:evidence of )?acute (?:cardiopulmonary |pulmonary |cardiac |intrathoracic |chest |radiographic |"
         r"cardiothoracic |thoracic )?(?:disease|abnormalit\w*|process|findings?|pathology)",
         r"no (?:active|acute) disease", r"normal (?:chest|study|radiograph|examination|exam)\b",
         r"negative (?:chest|study|radiograph|examination|exam)\b"),
        sentence="No acute cardiopulmonary abnormality.", negative=""),
    LabelTerms(
        "Lung_Opacity", ("opacity", "opacities", "density", "airspace", "disease", "haziness"),
        (r"opacit\w*", r"opacified", r"air ?space (?:disease|process)", r"(?<!bone )(?<!breast )densit(?:y|ies)\b",
         r"haziness"),
        normal=(_CLEAR_LUNGS,),
        exclude=(r"(?:bone|bony|mineral|soft tissue|breast|nipple) densit\w*", r"densit\w* of the (?:bones|spine)"),
        sentence="There is a lung opacity.", negative="focal airspace opacity"),
    LabelTerms(
        "Lung_Lesion", ("lesion", "cavitary", "cavity", "cyst", "lung"),
        (r"(?:lung|pulmonary|cavitary|parenchymal|spiculated) lesions?",
         r"\blesions? (?:in|of|within) the (?:\w+ )?(?:lung|lobe)",
         r"cavit\w*", r"\bcysts?\b"),
        sentence="There is a lung lesion.", negative="lung lesion"),
    LabelTerms(
        "Fracture", ("fracture", "fractures", "rib", "fractured"),
        (r"fractur\w*", r"\bfx\b"),
        normal=(r"(?:bony|osseous|skeletal) (?:structures|thorax)[^.;]{0,30}?(?:intact|unremarkable|normal)",
                r"no acute (?:bony|bone|osseous|skeletal) (?:abnormalit\w*|injur\w*|findings?|process)"),
        sentence="There is a fracture.", negative="acute fracture"),
    LabelTerms(
        "Enlarged_Cardiomediastinum", ("mediastinum", "mediastinal", "widened", "widening", "cardiomediastinal", "prominent"),
        (rf"{_MEDIASTINUM}[^.;,]{{0,30}}?\b(?:widen\w*|enlarg\w*|prominen\w*)", r"wide(?:ned)? mediastinum",
         r"(?:enlarged|widened|prominent) (?:cardio)?mediastin\w*",
         r"(?:prominence|widening|enlargement) of the (?:\w+ )?mediastin\w*", r"mediastinal (?:lymph)?adenopathy"),
        normal=(rf"{_MEDIASTINUM}[^.;]{{0,45}}?{_NORMAL_WORDS}", rf"normal {_MEDIASTINUM}",
                rf"heart and mediastinum (?:are )?{_NORMAL_WORDS}"),
        sentence="The cardiomediastinal silhouette is enlarged.", negative="mediastinal widening"),
    LabelTerms(
        "Support_Devices", ("catheter", "tube", "line", "pacemaker", "device", "wires", "sternotomy", "clips"),
        (r"catheter\w*", r"\b(?:picc|central venous|central|port|venous) (?:line|catheter)s?\b", r"\btubes?\b",
         r"pacemaker\w*|\bpacer\b|defibrillator|\baicd\b|\bicd\b", r"\bleads?\b", r"\bstents?\b",
         r"sternotomy (?:wires?|sutures?)", r"\bwires?\b", r"surgical clips?|\bclips\b", r"port-a-cath|\bport\b",
         r"(?:medical|cardiac|implanted|monitoring|electronic) devices?", r"suture material|\bsutures?\b",
         r"hardware", r"\bdrains?\b"),
        exclude=(r"\blead(?:s|ing)? to\b", r"eustachian tubes?"),
        sentence="Support devices are present.", negative="support devices"),
)}


# Findings that entail others: a COVID-19 pattern is a (viral) pneumonia, so a draft may say
# "pneumonia" for it and must not say "no pneumonia".
IMPLIES: dict[str, frozenset[str]] = {
    "COVID-19": frozenset({"Pneumonia", "Viral_Pneumonia"}),
    "Viral_Pneumonia": frozenset({"Pneumonia"}),
}


def with_implied(labels: frozenset[str] | set[str]) -> frozenset[str]:
    return frozenset(labels).union(*(IMPLIES.get(label, frozenset()) for label in labels))


def terms_for(label: str) -> LabelTerms | None:
    return LEXICON.get(label)


# Labels the labeller reports on: every label of the lexicon (the chest labels and Normal).
LABELLED: tuple[str, ...] = tuple(LEXICON)
