"""BraTS stand-in subjects as a clinic would export them: patient folders of DICOM series, with segmentations.

``write_dicom_folder_layout`` writes, per patient, a T1 and a FLAIR series
(MR Image Storage, one file per slice, descriptions as a scanner writes them)
under ``PATIENT/STUDY/SERIES/``. Labelled patients alternate between a DICOM
Segmentation object (segments "necrosis", "oedema", "enhancing tumour",
referencing the T1 series) and a NIfTI label file with the values the
converter gives those segments (1, 2, 3); test patients have no segmentation.
Needs ``autoseg[dicom]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.io import Geometry, ImageData, write_image
from autoseg.io.dicom import write_dicom_series
from autoseg.io.dicom_seg import write_dicom_seg
from dataset_conversion.synthetic.brats import SHAPE, SPACING, brats_subject
from dataset_conversion.synthetic.registry import case_rng, zoomed_grid

SERIES = {"t1": "T1 MPRAGE sag", "flair": "FLAIR 3D"}
SEGMENTS = {1: "necrosis", 2: "oedema", 4: "enhancing tumour"}
ABNORMAL = ("SCT", "49755003", "Morphologically Abnormal Structure")  # SNOMED CT, as DICOM's CID 7150 codes them
SEGMENT_CODES = {  # what a clinical DICOM-SEG says each segment is
    1: {"category": ABNORMAL, "type": ("SCT", "6574001", "Necrosis")},
    2: {"category": ABNORMAL, "type": ("SCT", "79654002", "Edema")},
    4: {"category": ABNORMAL, "type": ("SCT", "108369006", "Neoplasm")},
}
CONVERTED_VALUES = {0: 0, 1: 1, 2: 2, 4: 3}  # BraTS value -> the converter's value (segments in number order)


def scanner_values(image: np.ndarray) -> np.ndarray:
    """An image as a 12-bit scanner stores it: whole numbers from 0 to 4095."""
    low, high = float(image.min()), float(image.max())
    return np.round((image - low) / ((high - low) or 1.0) * 4095).astype(np.int16)


def write_dicom_folder_layout(destination: Path, num_cases: int, num_test: int, seed: int, zoom: float = 0.5) -> Path:
    """Writes ``PATIENTnnn/`` folders below ``destination`` (see the module's description); returns it."""
    shape, spacing = zoomed_grid(SHAPE, SPACING, zoom)
    geometry = Geometry(spacing, (-90.0, -120.0, -60.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    for index in range(num_cases + num_test):
        images, label = brats_subject(case_rng(seed, index), shape)
        patient = destination / f"PATIENT{index:03d}"
        study = patient / "STUDY1"
        for number, (modality, description) in enumerate(SERIES.items(), start=1):
            scaled = scanner_values(images[modality])
            write_dicom_series(
                ImageData(scaled[None], geometry),
                study / f"SERIES{number}",
                patient_id=patient.name,
                series_description=description,
                series_number=number,
            )
        if index >= num_cases:
            continue
        if index % 2 == 0:
            write_dicom_seg(
                label,
                study / "SERIES1",
                patient / "SEG" / "segmentation.dcm",
                names=SEGMENTS,
                software_version="stand-in",
                label_codes=SEGMENT_CODES,
            )
        else:
            converted = np.vectorize(CONVERTED_VALUES.__getitem__, otypes=[np.uint8])(label)
            write_image(ImageData(converted[None], geometry), patient / "label.nii.gz")
    return destination
