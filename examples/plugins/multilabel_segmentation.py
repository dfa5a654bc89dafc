"""Multi-label segmentation as a plug-in task kind: structures that may overlap, one sigmoid channel each.

Whole-body CT label sets and nested anatomy (a liver and its vessels, a tumour and the organ it grows in) put one
voxel in several structures, which a label map (one value per voxel) cannot hold. Here each structure is a binary
mask of its own and the network predicts one sigmoid channel per structure, trained with binary cross-entropy
plus soft Dice. Load it with ``AUTOSEG_PLUGINS=multilabel_segmentation`` (this folder on ``PYTHONPATH``); then
``plan_and_preprocess``, ``train``, ``predict``, ``evaluate``, ``ensemble`` and ``report`` work on datasets whose
dataset.json says ``"task": "multilabel"``:

    {"task": "multilabel", "channel_names": {"0": "CT"}, "structures": {"0": "liver", "1": "liver_vessels"},
     "numTraining": 40, "file_ending": ".nii.gz"}

with one mask per structure and case, ``labelsTr/{case}_{XXXX}{ending}`` (``XXXX`` the structure's index;
``{case}{ending}`` with one structure), holding 0 and 1. Predictions are written the same way, on the input's grid.
docs/extending.md walks through it.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import torch

from autoseg.dataset import DatasetSpec
from autoseg.dataset.checks import label_value_problems, names_by_index
from autoseg.dataset.references import ImageReferences, register_reference_format
from autoseg.errors import AutosegError
from autoseg.evaluation import segmentation_metrics, summarise
from autoseg.evaluation.evaluate import read_pair
from autoseg.evaluation.folders import label_map_table
from autoseg.inference.export import revert_channel, save_probabilities
from autoseg.io import ImageData, read_image, write_image
from autoseg.io.dicom_seg import DICOM_SEG
from autoseg.losses import RegionDiceBCELoss, register_loss
from autoseg.parallel import map_cases
from autoseg.selection import Candidate, ensemble_image_candidates
from autoseg.statistics import centroid_in_box
from autoseg.tasks import Task, register_task
from autoseg.tasks.interfaces import CaseResult, ImageScores, channel_cases, channel_files

KIND = "multilabel"
STRUCTURES = "structures"  # the dataset.json key: {index: structure name}
EXAMPLE = '{"0": "liver", "1": "liver_vessels"}'
NSD_TOLERANCE_MM = 1.0


def structures(spec: DatasetSpec) -> dict[int, str]:
    """{structure index: name} of a multilabel dataset.json (validated by its reference format)."""
    return names_by_index(STRUCTURES, spec.extra[STRUCTURES], "structure", EXAMPLE)[0]


def mask_files(spec: DatasetSpec, case_id: str, folder: Path, ending: str | None = None) -> list[Path]:
    """One mask per structure: ``{case}{ending}`` for one structure, else ``{case}_{XXXX}{ending}`` (as labelsTr)."""
    return channel_files(case_id, folder, ending or spec.file_ending, len(structures(spec)))


@register_reference_format
class StructureMasks(ImageReferences):
    """One binary mask per structure and case, on the case's grid."""

    name = KIND
    grid_mismatch = "structure mask does not match the images"

    def files_per_case(self, spec):
        return len(structures(spec))

    def spec_problems(self, data):
        return super().spec_problems(data) + names_by_index(STRUCTURES, data.get(STRUCTURES), "structure", EXAMPLE)[1]

    def file_problems(self, reference, images, spec, where):
        return super().file_problems(reference, images, spec, where) + label_value_problems(reference, {0, 1}, where)


@register_loss("ce_dice", tasks=(KIND,))
def binary_ce_dice(spec, plans=None):
    """binary cross-entropy + soft Dice, one sigmoid channel per structure; the default"""
    return RegionDiceBCELoss()


@register_task
class MultilabelTask(ImageScores, Task):
    """One sigmoid channel per structure; a voxel belongs to every structure whose probability passes 0.5."""

    name = KIND
    default_loss = "ce_dice"
    selection_metric = "dice"
    evaluation_options = ("nsd_tolerance",)

    @classmethod
    def example_specs(cls):
        extra = {STRUCTURES: {"0": "organ", "1": "lesion"}}
        return [DatasetSpec({0: "CT", 1: "PET"}, ".nii.gz", 4, task=KIND, extra=extra)]

    @property
    def structures(self) -> dict[int, str]:
        return structures(self.spec)

    # training ------------------------------------------------------------------------------------------
    def out_channels(self):
        return len(self.structures)

    def fingerprint_target(self, record, target, mask, box, rng):
        """Voxel counts and centroids per structure; intensities are sampled inside the union of the structures."""
        if target is None:
            return mask, []
        for index, name in self.structures.items():
            present = target[index] > 0
            record.class_voxels[name] = int(present.sum())
            if present.any():
                record.class_centroids[name] = centroid_in_box(present, box)
        foreground = (target > 0).any(0)
        return (foreground if foreground.any() else mask), []

    def prepare_target(self, target):
        return target.astype(np.uint8)

    def sampling_locations(self, target, rng):
        """Up to 10,000 voxels of each structure present: foreground patches are centred on each structure alike."""
        return {name: self._sample(target[index] > 0, rng) for index, name in self.structures.items() if target[index].any()}

    def prepare_targets(self, target, scales):
        """Masks (N, S, *patch) -> per output level, nearest-downsampled masks."""
        target = target.to(torch.uint8)
        return [target[(slice(None), slice(None), *(slice(None, None, f) for f in scale))] for scale in scales]

    def augment(self, augmenter, data, target, generator):
        """The masks packed into one label map (bit s: structure s) so one spatial transform moves them all."""
        bits = (2 ** torch.arange(target.shape[1], device=target.device)).view(1, -1, *[1] * (target.ndim - 2))
        packed = (target.long() * bits).sum(1, keepdim=True)
        data, packed = augmenter(data, packed, generator)
        return data, ((packed.long() & bits) > 0).to(target.dtype)

    def validation_counts(self, output, target):
        predicted, expected = torch.sigmoid(output.float()) > 0.5, target.bool()
        axes = [0, *range(2, output.ndim)]
        return {
            "tp": (predicted & expected).sum(axes).double().cpu(),
            "fp": (predicted & ~expected).sum(axes).double().cpu(),
            "fn": (~predicted & expected).sum(axes).double().cpu(),
        }

    def validation_scores(self, counts):
        """Dice per structure over the validation batches (NaN where neither predicted nor present)."""
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        return {
            name: float(2 * tp[i] / (2 * tp[i] + fp[i] + fn[i])) if tp[i] + fp[i] + fn[i] else math.nan
            for i, name in enumerate(self.structures.values())
        }

    def example_target(self, batch_size, spatial, generator):
        """Masks (N, S, *spatial) that overlap."""
        return (torch.rand(batch_size, self.out_channels(), *spatial, generator=generator) > 0.5).to(torch.uint8)

    def confident_output(self, target):
        return target.float() * 20 - 10

    # outputs ---------------------------------------------------------------------------------------------
    def output_files(self, case_id, folder, ending=None):
        return mask_files(self.spec, case_id, folder, ending)

    def cases_in(self, folder, ending=None):
        """For several structures, the cases with a first structure's mask (``{case}_0000{ending}``)."""
        return channel_cases(super().cases_in(folder, ending), self.out_channels())

    def restore(self, output, properties, configuration, *, plans, probabilities=False, device=None):
        """Each structure's probability resampled linearly to the raw grid (0 outside the cropped region), then
        thresholded at 0.5: one uint8 mask per structure, and with ``probabilities`` the probabilities (S, *raw)."""
        output = output.to(device) if device is not None else output
        restored = torch.stack(
            [revert_channel(torch.sigmoid(channel.float()), properties, configuration.spacing, 0.0) for channel in output]
        )
        masks = [(channel > 0.5).to(torch.uint8).cpu().numpy() for channel in restored]
        return CaseResult(masks, restored.cpu().numpy() if probabilities else None)

    def check_output_format(self, output_format, cases):
        if output_format == DICOM_SEG:
            raise AutosegError(f"--output_format {DICOM_SEG}: multilabel masks are written as one image per structure; leave it out.")
        super().check_output_format(output_format, cases)

    def describe_written(self, written, folder):
        return f"wrote {len(written)} structure masks ({self.out_channels()} per case) to {folder}"

    # evaluation and selection ------------------------------------------------------------------------------
    def case_metrics(self, predicted, reference, *, check_geometry=True, nsd_tolerance=NSD_TOLERANCE_MM):
        """Dice, IoU, precision, recall, HD95, ASSD and NSD of each structure's mask (each must hold 0 and 1 only)."""
        scores = {}
        for name, prediction_file, reference_file in zip(self.structures.values(), predicted, reference):
            prediction, expected = read_pair(prediction_file, reference_file, check_geometry=check_geometry)
            for path, image in ((prediction_file, prediction), (reference_file, expected)):
                problems = label_value_problems(image, {0, 1}, str(path))
                if problems:
                    raise AutosegError(f"{problems[0]}; a structure mask holds 0 and 1.")
            scores[name] = segmentation_metrics(prediction.array[0], expected.array[0], expected.geometry.spacing, nsd_tolerance)
        return scores

    def score_folder(self, reference_dir, prediction_dir, *, num_processes, check_geometry, nsd_tolerance=None):
        case_ids = self.cases_in(Path(reference_dir))
        if not case_ids:
            raise AutosegError(
                f"{reference_dir} holds no structure masks named like labelsTr ({self.output_files('CASE', Path())[0].name})."
            )
        missing = [case_id for case_id in case_ids if not all(p.is_file() for p in self.output_files(case_id, Path(prediction_dir)))]
        if missing:
            raise AutosegError(f"{prediction_dir} lacks predictions for {len(missing)} reference case(s): {', '.join(missing[:10])}.")
        tolerance = NSD_TOLERANCE_MM if nsd_tolerance is None else float(nsd_tolerance)
        items = [(case_id, Path(prediction_dir), Path(reference_dir)) for case_id in case_ids]
        score = partial(_score_case, task=self, check_geometry=check_geometry, tolerance=tolerance)
        summary = summarise(dict(map_cases(score, items, num_processes, desc="evaluating")))
        summary["nsd_tolerance_mm"] = {name: tolerance for name in self.structures.values()}
        return summary

    def summary_text(self, summary):
        return label_map_table(summary)

    def held_out_text(self, validation, test, training_cases):
        lines = ["Dice per structure   fold-0 validation   held-out test cases"]
        lines += [
            f"  {name:<20} {values['dice']:>12.3f} {test['mean'][name]['dice']:>18.3f}" for name, values in validation["mean"].items()
        ]
        return "\n".join(lines)

    def ensemble_members(self, candidates, say=print):
        """Candidates with saved probabilities (``--npz``): averaging thresholded masks would lose what an ensemble needs."""
        usable = [candidate for candidate in candidates if candidate.probabilities is not None]
        if len(usable) < len(candidates):
            say("ensembles skipped for candidates without saved probabilities (train with --npz)")
        return usable

    def ensemble_cross_validation(self, first, second, folder, references, num_processes=None):
        case_of = partial(_ensemble_case, task=self)
        return ensemble_image_candidates(
            first, second, folder, references=references, num_processes=num_processes, ensemble_case_of=case_of
        )

    def ensemble_folders(self, folders, output_dir, save_probabilities=False):
        """Each case's saved probabilities (``--save_probabilities``) averaged over the folders, thresholded at 0.5."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for case_id in self.cases_in(Path(folders[0])):
            sources = [Path(folder) / f"{case_id}.npz" for folder in folders]
            absent = [str(path) for path in sources if not path.is_file()]
            if absent:
                raise AutosegError(f"{', '.join(absent)} not found; predict each folder with --save_probabilities to ensemble it.")
            geometry = read_image(self.output_files(case_id, Path(folders[0]))[0]).geometry
            written += _write_average(sources, self.output_files(case_id, output_dir), geometry, output_dir if save_probabilities else None)
        return written

    # report --------------------------------------------------------------------------------------------------
    def report_view(self, source):
        """Dice and HD95 per structure and the predicted volumes in the table; per case, a slice viewer of each
        structure's mask (filled) and reference (outlined) over the image, one colour per structure."""
        from autoseg.report.page import Column, Section
        from autoseg.report.slices import case_viewer, case_voxel_budget, structure_colours
        from autoseg.report.views import distributions, finite_mean, rows_worst_first

        summary, origin = source.summary()
        per_case = summary["cases"] if summary else {}
        names, ending, inputs = list(self.structures.values()), source.output_ending, source.input_files()
        colours = structure_colours(names)
        # The viewer draws label maps; overlapping masks become one map of bits (bit k: structure k holds the voxel).
        bits = {name: tuple(v for v in range(1, 2 ** len(names)) if v >> k & 1) for k, name in enumerate(names)}
        columns = [Column("case", "case", numeric=False)]
        if summary:
            columns.append(Column("mean_dice", "mean Dice"))
            columns += [
                Column(f"{metric}:{name}", f"{label} {name}", colour=colours[name])
                for name in names
                for metric, label in (("dice", "Dice"), ("hd95", "HD95 mm"))
            ]
        columns += [Column(f"voxels:{name}", f"predicted {name} (voxels)", colour=colours[name]) for name in names]
        rows, sections, budget = [], [], case_voxel_budget(len(source.cases()))
        for case_id in source.cases():
            row = {"case": case_id, "anchor": f"case-{case_id}"}
            image = read_image(inputs[case_id][0]).array[0].astype(np.float32) if case_id in inputs else None
            references = self.output_files(case_id, source.reference, ending) if source.reference is not None else [None] * len(names)
            predicted_bits, reference_bits = None, None
            for k, (name, path, reference) in enumerate(zip(names, self.output_files(case_id, source.folder, ending), references)):
                predicted = read_image(path)
                mask = predicted.array[0] > 0
                row[f"voxels:{name}"] = int(np.count_nonzero(mask))
                for metric in ("dice", "hd95"):
                    row[f"{metric}:{name}"] = per_case.get(case_id, {}).get(name, {}).get(metric)
                predicted_bits = (predicted_bits if predicted_bits is not None else 0) + (mask.astype(np.uint8) << k)
                if reference is not None and reference.is_file():
                    expected = read_image(reference).array[0] > 0
                    reference_bits = (reference_bits if reference_bits is not None else 0) + (expected.astype(np.uint8) << k)
            spacing = predicted.geometry.spacing
            viewer = case_viewer(
                case_id, image, predicted_bits, reference=reference_bits, spacing=spacing, structures=bits, colours=colours, budget=budget
            )
            row["mean_dice"] = finite_mean(row.get(f"dice:{name}") for name in names) if summary else None
            sections.append(Section(f"case {case_id}", [viewer], row["anchor"], case=True))
            rows.append(row)
        if summary:
            rows = rows_worst_first(rows, "mean_dice")
            sections.insert(0, distributions(per_case, ["dice", "hd95"], "per structure", colours))
        notes = [
            origin + ("; worst first by mean Dice" if summary else ""),
            f"{len(names)} structures, which may overlap: {', '.join(names)}",
        ]
        return notes, columns, rows, sections


def _score_case(item, *, task, check_geometry, tolerance):
    case_id, predictions, references = item
    files = task.output_files
    return case_id, task.case_metrics(
        files(case_id, predictions), files(case_id, references), check_geometry=check_geometry, nsd_tolerance=tolerance
    )


def _ensemble_case(case_id: str, first: Candidate, second: Candidate, *, task, references: Path, folder: Path):
    """One case of a pair ensemble on the cross-validation: the saved probabilities averaged, thresholded, scored."""
    files = task.output_files
    geometry = read_image(files(case_id, first.folder)[0]).geometry
    written = _write_average([first.probabilities[case_id], second.probabilities[case_id]], files(case_id, folder), geometry, None)
    return case_id, task.case_metrics(written, files(case_id, references))


def _write_average(sources: list[Path], targets: list[Path], geometry, probabilities_folder: Path | None) -> list[Path]:
    """The mean of the probability files ``sources`` (S, *spatial) thresholded at 0.5, one mask per target file."""
    arrays = []
    for path in sources:
        with np.load(path) as stored:
            arrays.append(stored["probabilities"].astype(np.float32))
    if len({array.shape for array in arrays}) != 1 or arrays[0].shape[0] != len(targets):
        raise AutosegError(
            f"{', '.join(map(str, sources))}: the probabilities differ in shape or structure count; predict them with one model."
        )
    mean = np.mean(arrays, axis=0)
    for channel, target in zip(mean, targets):
        write_image(ImageData((channel > 0.5).astype(np.uint8)[None], geometry), target)
    if probabilities_folder is None:
        return list(targets)
    case_file = probabilities_folder / Path(sources[0]).name
    save_probabilities(mean, case_file)
    return [*targets, case_file]
