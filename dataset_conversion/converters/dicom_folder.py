"""Patient folders of DICOM series, with DICOM-SEG objects or label files, to the raw format.

Source layout: one folder per case (its name is the case id), holding at any
depth the DICOM files of its image series, and optionally its segmentation:
one DICOM Segmentation object (Modality SEG) referencing one of its series,
or one label image file (.nii.gz, .nrrd, .mha, ...) on the grid of its
series. Cases without a segmentation become test cases (imagesTs).

Channels: with one image series per case, that series is channel 0. With
several, ``channels`` names them by text their SeriesDescription contains
(case-insensitive; ``--channels T1 FLAIR``), each matching exactly one series
per case; without it the series are matched by their descriptions, which must
then be the same set in every case (channels in sorted order). Series are
converted to NIfTI on their own grid (patient coordinates, LPS).

Labels: each distinct segment label across the SEG objects becomes a label
value, in the order first met (segment number order within a case); where
segments overlap, the later segment's value wins and the converter says how
many voxels that concerned. Each label's coded concepts (category, type,
modifier) go into dataset.json's ``segment_codes``, so predictions written as
DICOM-SEG carry them again. Label files keep their integer values, which must
be values the SEG objects define when both occur; a dataset of label files
only names its labels ``label_1``, ``label_2``, ... Needs ``autoseg[dicom]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import ImageData, read_image, split_ending
from autoseg.io.dicom import is_dicom_file, ordered_slices, read_dicom_files, require_dicom_extra
from autoseg.io.dicom_seg import require_highdicom
from dataset_conversion.converters.registry import register_converter
from dataset_conversion.raw_writer import RawCase, write_raw_dataset


@dataclass
class Series:
    uid: str
    description: str
    modality: str
    files: list[Path] = field(default_factory=list)


@dataclass
class SourceCase:
    case_id: str
    folder: Path
    series: dict[str, Series]  # SeriesInstanceUID -> image series
    segmentations: list[Path]  # DICOM-SEG files
    label_files: list[Path]


def _scan(folder: Path) -> SourceCase:
    pydicom = require_dicom_extra("converting DICOM folders")
    series: dict[str, Series] = {}
    segmentations, label_files = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if is_dicom_file(path):
            header = pydicom.dcmread(path, stop_before_pixels=True)
            if getattr(header, "Modality", "") == "SEG":
                segmentations.append(path)
            elif "PixelData" in header or hasattr(header, "Rows"):
                uid = str(header.SeriesInstanceUID)
                entry = series.setdefault(uid, Series(uid, str(getattr(header, "SeriesDescription", "")), str(header.Modality)))
                entry.files.append(path)
        elif split_ending(path) is not None:
            label_files.append(path)
    case_id = re.sub(r"[^A-Za-z0-9_.-]", "_", folder.name)
    return SourceCase(case_id, folder, series, segmentations, label_files)


def _channels(cases: list[SourceCase], wanted: list[str] | None) -> tuple[list[str], dict[str, list[Series]]]:
    """(channel names, {case id: its series in channel order})."""
    if wanted:
        chosen = {}
        for case in cases:
            picks = []
            for name in wanted:
                matches = [s for s in case.series.values() if name.lower() in s.description.lower()]
                if len(matches) != 1:
                    found = ", ".join(repr(s.description) for s in case.series.values())
                    raise AutosegError(
                        f"{case.folder}: {len(matches)} series have a description containing {name!r} (its series: {found}); "
                        "each --channels name must match exactly one series per case."
                    )
                picks.append(matches[0])
            chosen[case.case_id] = picks
        return list(wanted), chosen
    if all(len(case.series) == 1 for case in cases):
        only = next(iter(cases[0].series.values()))
        return [only.description or only.modality], {case.case_id: list(case.series.values()) for case in cases}
    descriptions = [sorted(s.description for s in case.series.values()) for case in cases]
    if any(d != descriptions[0] for d in descriptions) or len(set(descriptions[0])) != len(descriptions[0]):
        differing = next(case for case, d in zip(cases, descriptions) if d != descriptions[0] or len(set(d)) != len(d))
        raise AutosegError(
            f"the cases hold different series ({cases[0].folder.name}: {descriptions[0]}; {differing.folder.name}: "
            f"{sorted(s.description for s in differing.series.values())}); name the channels with --channels and text from "
            "each series' description (e.g. --channels T1 FLAIR)."
        )
    return descriptions[0], {case.case_id: sorted(case.series.values(), key=lambda s: s.description) for case in cases}


def _segmentation(
    path: Path, case: SourceCase, series: list[Series], values: dict[str, int], codes: dict[str, dict[str, list[str]]]
) -> tuple[np.ndarray, Series]:
    """The label map of a DICOM-SEG on the grid of the series it references; new segment labels get new values,
    and their coded concepts go into ``codes`` (dataset.json's segment_codes)."""
    hd = require_highdicom()
    import pydicom

    seg = hd.seg.segread(path)
    referenced = {item.SeriesInstanceUID for item in seg.ReferencedSeriesSequence}
    source = next((s for s in case.series.values() if s.uid in referenced), None)
    if source is None:
        raise AutosegError(f"{path} references series {sorted(referenced)}, none of which is in {case.folder}.")
    if source not in series:
        raise AutosegError(f"{path} segments series {source.description!r}, which is not one of the channels converted.")
    ordered = ordered_slices(source.files, _where(case, source))
    uids = [str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in ordered]
    numbers = list(seg.get_segment_numbers())
    masks = seg.get_pixels_by_source_instance(uids, segment_numbers=numbers, combine_segments=False, skip_overlap_checks=True)
    labels = np.zeros(masks.shape[:3], dtype=np.uint8)
    overlap = 0
    for index, number in enumerate(numbers):
        description = seg.get_segment_description(number)
        name = str(description.SegmentLabel)
        value = values.setdefault(name, len(values) + 1)
        found = _codes(description)
        kept = codes.setdefault(name, found)
        if kept != found:
            print(f"notice: {path}: segment {name!r} is coded {found}, elsewhere {kept}; the first was kept")
        mask = masks[..., index] > 0
        overlap += int(np.count_nonzero(mask & (labels > 0)))
        labels[mask] = value
    if overlap:
        print(f"notice: {path}: {overlap} voxel(s) lie in more than one segment; the later segment's label was kept")
    return labels, source


def _codes(description) -> dict[str, list[str]]:
    """The category, type and (where given) type modifier of a segment, as dataset.json's segment_codes hold them."""
    type_item = description.SegmentedPropertyTypeCodeSequence[0]
    items = {"category": description.SegmentedPropertyCategoryCodeSequence[0], "type": type_item}
    # the modifier sits inside the type's item; objects written before DICOM 2014 put it beside
    modifiers = type_item.get("SegmentedPropertyTypeModifierCodeSequence") or description.get("SegmentedPropertyTypeModifierCodeSequence")
    if modifiers:
        items["modifier"] = modifiers[0]
    value = {role: item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") for role, item in items.items()}
    return {role: [str(item.CodingSchemeDesignator), str(value[role]), str(item.CodeMeaning)] for role, item in items.items()}


def _where(case: SourceCase, series: Series) -> str:
    return f"{case.folder} (series {series.description or series.uid!r})"


@register_converter("dicom_folder", "patient folders of DICOM series with DICOM-SEG objects or label files", "DICOM")
def convert_dicom_folder(
    source: Path, raw_root: Path, dataset_id: int, *, name: str, overwrite: bool = False, channels: list[str] | None = None
) -> Path:
    folders = sorted(p for p in Path(source).iterdir() if p.is_dir() and not p.name.startswith("."))
    cases = [_scan(folder) for folder in folders]
    empty = [case.folder.name for case in cases if not case.series]
    if not cases or len(empty) == len(cases):
        raise AutosegError(f"{source}: no case folder holds a DICOM image series; put one folder per case (patient) in it.")
    if empty:
        raise AutosegError(f"{source}: {', '.join(empty[:5])} hold no DICOM image series; remove them or add their series.")
    for case in cases:
        if len(case.segmentations) + len(case.label_files) > 1:
            found = [p.name for p in case.segmentations + case.label_files]
            raise AutosegError(f"{case.folder}: several segmentations ({', '.join(found)}); keep one per case.")
    channel_names, chosen = _channels(cases, channels)
    values: dict[str, int] = {}
    codes: dict[str, dict[str, list[str]]] = {}
    file_values: set[int] = set()
    converted = []
    for case in cases:
        series = chosen[case.case_id]
        images = [read_dicom_files(s.files, _where(case, s)) for s in series]
        labels = None
        if case.segmentations:
            array, segmented = _segmentation(case.segmentations[0], case, series, values, codes)
            labels = ImageData(array[None], images[series.index(segmented)].geometry)
        elif case.label_files:
            labels = read_image(case.label_files[0])
            if not np.allclose(labels.array, np.round(labels.array)) or labels.array.min() < 0:
                raise AutosegError(f"{case.label_files[0]}: a label file holds whole numbers >= 0; this one does not.")
            labels = ImageData(labels.array.astype(np.uint8), labels.geometry)
            file_values |= set(np.unique(labels.array).tolist()) - {0}
        converted.append((case, images, labels))
    if values and file_values - set(values.values()):
        raise AutosegError(
            f"label files hold value(s) {sorted(file_values - set(values.values()))} that no DICOM-SEG defines (they define "
            f"{values}); give every case a segmentation of the same labels."
        )
    if all(labels is None for _, _, labels in converted):
        raise AutosegError(f"{source}: no case holds a segmentation (a DICOM-SEG object or a label file); there is nothing to train on.")
    label_names = {"background": 0} | (values or {f"label_{v}": v for v in sorted(file_values)})

    def raw_cases():
        for case, images, labels in converted:
            split = "train" if labels is not None else "test"
            yield RawCase(case.case_id, images, [labels] if labels is not None else [], split=split)

    dataset_json = {
        "name": name,
        "description": f"Converted from DICOM patient folders in {Path(source).name}; channels matched by series description.",
        "channel_names": {str(i): channel for i, channel in enumerate(channel_names)},
        "labels": label_names,
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    if codes:
        dataset_json["segment_codes"] = codes
    return write_raw_dataset(raw_root, dataset_id, name, dataset_json=dataset_json, cases=raw_cases(), overwrite=overwrite)
