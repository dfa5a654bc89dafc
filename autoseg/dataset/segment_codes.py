"""What each label is, in codes a DICOM viewer understands: dataset.json's optional ``segment_codes``.

A DICOM Segmentation says what every segment is with coded concepts (a
category such as "Anatomical Structure", a type such as "Liver", and an
optional modifier such as "Left"), each a triple of coding scheme, code value
and code meaning. dataset.json may give them per label::

    "segment_codes": {
        "liver": {"category": ["SCT", "91723000", "Anatomical Structure"], "type": ["SCT", "10200004", "Liver"]},
        "3": {"category": [...], "type": [...], "modifier": ["SCT", "7771000", "Left"]}
    }

keyed by a label's name, or by a label value (as text: the only way to reach
the values that regions are made of, which are what a label map holds).
Labels without codes are written as "Tissue". `autoseg convert dicom_folder`
fills the codes from the DICOM-SEG objects it reads, so they survive the round
trip from PACS to model to PACS.
"""

from __future__ import annotations

from typing import Any

from autoseg.dataset.checks import IGNORE_LABEL, is_int

KEY = "segment_codes"
ROLES = ("category", "type", "modifier")  # "modifier" is optional
REQUIRED_ROLES = ("category", "type")
LIVER = '["SCT", "10200004", "Liver"]'
EXAMPLE = f'{{"category": ["SCT", "91723000", "Anatomical Structure"], "type": {LIVER}}}'
MAX_SCHEME, MAX_MEANING = 16, 64  # DICOM's SH and LO value lengths

Code = tuple[str, str, str]  # (coding scheme designator, code value, code meaning)


def label_values_by_key(labels: dict[str, Any]) -> dict[str, int]:
    """{key: label value} of every key ``segment_codes`` may use: plain labels' names and every foreground value."""
    ignore = labels.get(IGNORE_LABEL)
    plain = {name: value for name, value in labels.items() if is_int(value) and value not in (0, ignore)}
    values = set(plain.values()) | {v for value in labels.values() if isinstance(value, list) for v in value if is_int(v)}
    by_value = {str(value): value for value in sorted(values - {0, ignore})}
    return plain | {key: value for key, value in by_value.items() if key not in plain}  # a label named "2" keeps its name


def segment_code_problems(data: dict) -> list[str]:
    """Problems with ``segment_codes`` in a parsed dataset.json whose labels are valid (empty when it is absent)."""
    if KEY not in data:
        return []
    codes = data[KEY]
    if not isinstance(codes, dict):
        return [f"'{KEY}' must be an object mapping label names or values to codes, e.g. {{\"liver\": {EXAMPLE}}}"]
    known = label_values_by_key(data["labels"])
    problems, seen = [], {}
    for key, entry in codes.items():
        where = f"'{KEY}' entry {key!r}"
        if key not in known:
            problems.append(f"{where} is neither a label name nor a foreground label value; use one of {', '.join(known)}")
        elif known[key] in seen:
            problems.append(f"{where} and {seen[known[key]]!r} both give codes for label value {known[key]}; keep one")
        else:
            seen[known[key]] = key
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object such as {EXAMPLE}")
            continue
        missing = [role for role in REQUIRED_ROLES if role not in entry]
        unknown = [role for role in entry if role not in ROLES]
        if missing or unknown:
            problems.append(
                f"{where} needs 'category' and 'type' (and may have 'modifier')"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(map(repr, unknown))}" if unknown else "")
            )
        problems += [f"{where} {role}: {problem}" for role in ROLES if role in entry for problem in _code_problems(entry[role])]
    return problems


def _code_problems(code: Any) -> list[str]:
    if not (isinstance(code, list) and len(code) == 3 and all(isinstance(part, str) and part.strip() for part in code)):
        return [f"must be [coding scheme, code value, code meaning], three non-empty texts such as {LIVER}; got {code!r}"]
    scheme, _, meaning = code
    problems = []
    if len(scheme) > MAX_SCHEME:
        problems.append(f"the coding scheme {scheme!r} is longer than DICOM's {MAX_SCHEME} characters")
    if len(meaning) > MAX_MEANING:
        problems.append(f"the code meaning {meaning!r} is longer than DICOM's {MAX_MEANING} characters")
    return problems


def codes_by_value(labels: dict[str, Any], codes: dict[str, dict[str, list[str]]]) -> dict[int, dict[str, Code]]:
    """{label value: {role: code}} of a valid ``segment_codes``."""
    known = label_values_by_key({name: list(value) if isinstance(value, tuple) else value for name, value in labels.items()})
    return {known[key]: {role: tuple(code) for role, code in entry.items()} for key, entry in codes.items()}
