"""DICOM Segmentation objects (DICOM-SEG) of predicted label maps, referencing the series they were predicted from.

One object per case, written with highdicom (the ``autoseg[dicom]`` extra):
segmentation type BINARY, one segment per label value present in the label
map's declared labels, each named as dataset.json names it and coded as its
``segment_codes`` code it (autoseg.dataset.segment_codes; "Tissue" where it
gives none), with the algorithm (autoseg, its version) recorded as the
segment's automatic source.
Frames follow the source series slice by slice (the order the series reader
stacks them, by position along the slice normal), so every label voxel lies at
the patient coordinates of the source voxel it was predicted for; empty frames
are left out. A label map with no foreground still gets an object, with one
empty frame, so a viewer shows that the case was segmented and nothing found.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io.base import atomic_write
from autoseg.io.dicom import TYPE_2_ATTRIBUTES, require_dicom_extra, series_files

if TYPE_CHECKING:
    from autoseg.dataset.segment_codes import Code

DICOM_SEG = "dicom_seg"
DICOM_SEG_ENDING = ".dcm"


def require_highdicom():
    require_dicom_extra("--output_format dicom_seg")
    try:
        import highdicom
    except ImportError:
        raise AutosegError("--output_format dicom_seg needs highdicom: pip install 'autoseg[dicom]'.") from None
    return highdicom


def missing_frame_of_reference(folders: list[Path]) -> list[Path]:
    """The series folders whose slices carry no Frame of Reference UID: a DICOM Segmentation shares its source
    images' frame of reference (the standard requires it), so none can be written for them."""
    pydicom = require_dicom_extra("--output_format dicom_seg")
    missing = []
    for folder in folders:
        first = next((p for p in sorted(Path(folder).iterdir()) if p.is_file() and not p.name.startswith(".")), None)
        header = pydicom.dcmread(first, stop_before_pixels=True, specific_tags=["FrameOfReferenceUID"]) if first else None
        if header is None or not str(getattr(header, "FrameOfReferenceUID", "") or "").strip():
            missing.append(Path(folder))
    return missing


def write_dicom_seg(
    labels: np.ndarray,
    source_folder: Path,
    path: Path,
    *,
    names: dict[int, str],
    software_version: str,
    label_codes: dict[int, dict[str, Code]] | None = None,
) -> Path:
    """Writes the label map ``labels`` (z, y, x: the grid of the series in ``source_folder`` as read) as a DICOM
    Segmentation object at ``path`` (atomically). ``names``: {label value: segment label} of every value
    that may occur (background excluded); ``label_codes``: {label value: {"category" | "type" | "modifier": code}}
    of the values whose coded concepts are known (DatasetSpec.label_codes)."""
    hd = require_highdicom()
    import pydicom
    from pydicom.sr.codedict import codes

    files = series_files(source_folder)
    sources = [pydicom.dcmread(file) for file in files]
    for source in sources:  # type-2 attributes a SEG copies, left out by some exporters: empty, as the standard allows
        for keyword in (*TYPE_2_ATTRIBUTES, "StudyID"):
            if keyword not in source:
                setattr(source, keyword, "")
    if labels.shape != (len(sources), int(sources[0].Rows), int(sources[0].Columns)):
        raise AutosegError(
            f"the label map of shape {labels.shape} is not on the grid of the series in {source_folder} "
            f"({len(sources)} slices of {sources[0].Rows} x {sources[0].Columns})."
        )
    undeclared = sorted(set(np.unique(labels).tolist()) - set(names) - {0})
    if undeclared:
        raise AutosegError(f"{path.name}: label value(s) {undeclared} have no name in dataset.json; a DICOM segment needs one.")
    values = sorted(names)
    segment_of = np.zeros(max(values) + 1, dtype=np.uint16)
    segment_of[values] = np.arange(1, len(values) + 1)
    algorithm = hd.AlgorithmIdentificationSequence(name="autoseg", version=software_version, family=codes.DCM.ArtificialIntelligence)

    def concept(code: Code):
        scheme, value, meaning = code
        return hd.sr.CodedConcept(value, scheme, meaning)

    tissue = ("SCT", "85756007", "Tissue")
    segments = []
    for number, value in enumerate(values, start=1):
        coded = {"category": tissue, "type": tissue} | (label_codes or {}).get(value, {})
        segment = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=names[value][:64],
            segmented_property_category=concept(coded["category"]),
            segmented_property_type=concept(coded["type"]),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_id=f"label {value}",
            tracking_uid=hd.UID(),
        )
        if "modifier" in coded:  # inside the type's item, where the standard puts it; highdicom has no argument for it
            segment.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [concept(coded["modifier"])]
        segments.append(segment)
    segmentation = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=segment_of[labels.astype(np.int64)],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=segments,
        series_instance_uid=hd.UID(),
        series_number=int(getattr(sources[0], "SeriesNumber", 0) or 0) + 1000,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="autoseg",
        manufacturer_model_name="autoseg",
        software_versions=software_version,
        device_serial_number="none",
        series_description=f"autoseg segmentation of {getattr(sources[0], 'SeriesDescription', '') or 'series'}"[:64],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: segmentation.save_as(tmp), suffix=DICOM_SEG_ENDING)
    return path
