"""Classification: one logit per class from an encoder, global average pooling and a linear head."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.networks import network_for
from autoseg.preprocessing.storage import load_properties
from autoseg.tasks.base import CaseResult, Task, register_task
from autoseg.tasks.classification.cross_validation import average_tables, ensemble_table_candidates, merge_table_folds
from autoseg.tasks.classification.metrics import CLASSIFICATION_METRICS, classification_metrics, classification_summary, classification_text
from autoseg.tasks.classification.predict import class_probabilities
from autoseg.tasks.classification.table import read_predictions, read_references, write_predictions
from autoseg.tasks.writers import refuse_non_finite_output


class ClassPrediction(NamedTuple):
    """A classification: the most probable class's name and every class's probability (class name -> value)."""

    label: str
    probabilities: dict[str, float]


@register_task
class ClassificationTask(Task):
    """One logit per class from the planned network's encoder, global average pooling and a linear head."""

    name = "classification"
    has_decoder = False
    default_loss = "ce"
    target_is_label = False
    selection_metric = "balanced_accuracy"

    @classmethod
    def example_specs(cls):
        return [DatasetSpec({0: "PET", 1: "MR"}, ".nii.gz", 4, task=cls.name, classes={"CN": 0, "AD": 1})]

    def example_target(self, batch_size, spatial, generator):
        """Class indices (N,), every class present."""
        return torch.arange(batch_size) % self.out_channels()

    def confident_output(self, target):
        """Logits of +-10 for the classes."""
        return torch.nn.functional.one_hot(target.long().view(-1), self.out_channels()).float() * 20 - 10

    def out_channels(self) -> int:
        return len(self.spec.classes)

    def configurations(self, ndim):
        """One configuration: whole images at the network's fixed input size."""
        return ["2d"] if ndim == 2 else ["3d_fullres"]

    def batch_classes(self, data_folder, case_ids):
        """Each case's class index, stored with its preprocessed data."""
        return tuple(load_properties(data_folder, case_id).class_index for case_id in case_ids)

    def augment(self, augmenter, data, target, generator):
        """A class per case: only the images change."""
        return augmenter(data, None, generator)[0], target

    def validation_outputs(self, network, data):
        """The logits in evaluation mode (no dropout), as the one output level the loss takes."""
        network.eval()
        try:
            return [network(data)]
        finally:
            network.train()

    def predict_cases(self, networks, images, configuration, *, device, mirror_axes, step_size=0.5):
        """Class probabilities (K,) of whole preprocessed images: the softmax averaged over the networks and
        every mirroring along ``mirror_axes``. A 2D image stored as 3D is its one slice along ``slice_axis``."""
        if configuration.slice_axis is not None:
            images = [image.take(0, axis=1 + configuration.slice_axis) for image in images]
        return [torch.from_numpy(class_probabilities(networks, image, mirror_axes, device)) for image in images]

    def restore(self, output, properties, configuration, *, plans, probabilities=False, device=None):
        """The class probabilities and the most probable class's name (as predictions.csv writes them)."""
        values = output.cpu().numpy()
        return CaseResult(probabilities=values, label=self.spec.class_name(int(np.argmax(values.astype(np.float64)))))

    uncertainty_folds = 2

    def case_writer(
        self, folder, *, plans, configuration, save_probabilities=False, save_uncertainty=False, part="", resume=False, output_format=None
    ):
        """One table of every case's class and probabilities (``predictions.csv``, or ``predictions_PART.csv``
        for a part of the cases), rewritten after each case; with ``resume`` the cases already in it are kept;
        with ``save_uncertainty``, each class's spread across folds beside its probability (``output_format``:
        images only)."""
        table = Path(folder) / (f"predictions_{part}.csv" if part else "predictions.csv")
        return TableWriter(self.spec, table, resume, save_uncertainty)

    def prepare_output_folder(self, folder):
        """Tables of an earlier validation (another process count) would be read beside this one's."""
        for old in Path(folder).glob("predictions*.csv"):
            old.unlink()

    def validation_summary(self, folder, fold):
        """Accuracy, balanced accuracy, AUC and the confusion matrix of the tables in ``folder`` against each
        case's class (stored with its preprocessed data); see evaluation/classification.py."""
        references = {case_id: load_properties(fold.data_folder, case_id).class_index for case_id in fold.validation_ids}
        return classification_summary(read_predictions(folder, self.spec), references, self.spec)

    def describe(self, summary):
        metrics = summary["metrics"]
        return (
            f"{len(summary['cases'])} cases (whole images): balanced accuracy {metrics['balanced_accuracy']:.4f}, "
            f"AUC {metrics['auc']:.4f}, accuracy {metrics['accuracy']:.4f}"
        )

    def report_view(self, source):
        from autoseg.tasks.classification.report import table_report  # matplotlib, imported when a report is drawn

        return table_report(source)

    def summary_text(self, summary):
        return classification_text(summary)

    def selection_score(self, summary):
        return summary["metrics"][self.selection_metric]

    def api_result(self, result, like_input, *, probabilities=False):
        names = sorted(self.spec.classes, key=self.spec.classes.get)
        return ClassPrediction(result.label, {name: float(value) for name, value in zip(names, result.probabilities)})

    def check_output_format(self, output_format, cases):
        if output_format is not None:
            raise AutosegError(f"--output_format {output_format}: a {self.name} model writes predictions.csv, no images; leave it out.")

    def describe_written(self, written, folder):
        return f"wrote {', '.join(str(path) for path in written if path.suffix == '.csv')}"

    def held_out_text(self, validation, test, training_cases):
        """The model's metrics beside those of always answering the training cases' majority class."""
        names = validation["classes"]
        majority = int(np.bincount([case.class_index for case in training_cases], minlength=len(names)).argmax())

        def majority_metrics(summary: dict) -> dict:
            references = np.array([names.index(row["reference"]) for row in summary["cases"].values()])
            return classification_metrics(references, np.tile(np.eye(len(names))[majority], (len(references), 1)))

        baselines = majority_metrics(validation), majority_metrics(test)
        lines = [
            f"{'':<20}{'fold-0 validation':>22}{'held-out test cases':>24}",
            f"{'':<20}{'model':>11}{'majority':>11}{'model':>12}{'majority':>12}",
        ]
        for metric in CLASSIFICATION_METRICS:
            cells = [validation["metrics"][metric], baselines[0][metric], test["metrics"][metric], baselines[1][metric]]
            lines.append(f"  {metric:<18}" + "".join(f"{value:>{width}.3f}" for value, width in zip(cells, (11, 11, 12, 12))))
        lines.append(
            f"({validation['metrics']['cases']} validation and {test['metrics']['cases']} test cases; majority: always "
            f"{names[majority]!r}, the most common training class; sensitivity and AUC are for {names[-1]!r})"
        )
        return "\n".join(lines)

    def score_folder(self, reference_dir, prediction_dir, *, num_processes, check_geometry):
        """Accuracy, balanced accuracy, sensitivity, specificity, AUC and the confusion matrix of the folder's
        predictions table against the labels table (``reference_dir``: labelsTs.csv or its folder)."""
        return classification_summary(read_predictions(prediction_dir, self.spec), read_references(reference_dir, self.spec), self.spec)

    def merge_cross_validation(self, model, folds):
        """The folds' validation tables merged into one, scored over all out-of-fold cases."""
        return merge_table_folds(model, folds, self.spec)

    def ensemble_cross_validation(self, first, second, folder, references, num_processes=None):
        """The class probabilities averaged case by case."""
        return ensemble_table_candidates(first, second, folder, self.spec)

    def ensemble_folders(self, folders, output_dir, save_probabilities=False):
        """The class probabilities of the folders' predictions tables averaged case by case."""
        return [average_tables(folders, output_dir, self.spec)]

    def prepare_input(self, data, configuration):
        """Pads (with zeros) or centre-crops every case to the planned input size (in plane, for 2D images stored
        as 3D: their one slice along ``slice_axis`` stays)."""
        shape = list(configuration.patch_size)
        if configuration.slice_axis is not None:
            shape.insert(configuration.slice_axis, data.shape[1 + configuration.slice_axis])
        return fit_to_shape(data, shape)

    def fixed_input_size(self, configuration):
        return configuration.patch_size

    def plan_class_weights(self, fingerprint):
        """Balanced weights from the fingerprint's class counts: N / (K * n_c), so every class carries the
        same total weight (a class without cases gets weight 1)."""
        counts = fingerprint.class_counts
        total, classes = sum(counts.values()), len(counts)
        return {name: total / (classes * count) if count else 1.0 for name, count in counts.items()}

    def make_network(self, architecture, plans=None, extra_inputs=0):
        """The encoder with a linear head (``extra_inputs``: input channels beyond the images)."""
        return network_for(architecture).build_classifier(self.spec.num_channels + extra_inputs, self.out_channels(), architecture)

    def prepare_targets(self, target, scales):
        """Class indices (N,) as the one output level's target."""
        return [target.long().view(-1)]

    def validation_counts(self, output, target):
        """The confusion matrix (reference x predicted) of the validation batch."""
        classes = self.out_channels()
        pairs = target.view(-1) * classes + output.argmax(1)
        return {"confusion": torch.bincount(pairs, minlength=classes * classes).view(classes, classes).double().cpu()}

    def validation_scores(self, counts):
        """Balanced accuracy over the validation batches (the mean recall of the classes present)."""
        confusion = counts["confusion"]
        present = confusion.sum(1) > 0
        recall = confusion.diagonal()[present] / confusion.sum(1)[present]
        return {"balanced accuracy": float(recall.mean()) if present.any() else float("nan")}


class TableWriter:
    """Collects predicted class probabilities into one predictions table, rewritten (atomically) after
    every case, so a killed run loses at most the case being classified. With ``save_uncertainty``, each
    class's spread across folds (the standard deviation of its probability) is a column beside it."""

    def __init__(self, spec, table: Path, resume: bool = False, save_uncertainty: bool = False):
        self.spec, self.table, self.save_uncertainty = spec, table, save_uncertainty
        resumed = resume and table.is_file()
        self.probabilities = read_predictions(table.parent, spec, [table]) if resumed else {}
        self.spreads = read_predictions(table.parent, spec, [table], prefix="spread") if resumed and save_uncertainty else {}

    def done(self, case_id: str, ending: str | None = None) -> bool:
        return case_id in self.probabilities and (not self.save_uncertainty or case_id in self.spreads)

    def write(
        self, case_id: str, output, properties=None, *, ending: str | None = None, device=None, fold_outputs=None, source=None
    ) -> list[Path]:
        refuse_non_finite_output(output, case_id)
        self.probabilities[case_id] = output.cpu().numpy()  # (K,) class probabilities
        if self.save_uncertainty:
            self.spreads[case_id] = torch.stack([fold.cpu() for fold in fold_outputs]).std(0, unbiased=False).numpy()
        write_predictions(self.table, self.probabilities, self.spec, self.spreads if self.save_uncertainty else None)
        return []

    def close(self) -> list[Path]:
        """Writes the table (also when no case was left to classify); returns it."""
        write_predictions(self.table, self.probabilities, self.spec, self.spreads if self.save_uncertainty else None)
        return [self.table]


def fit_to_shape(data: np.ndarray, shape: list[int]) -> np.ndarray:
    """Returns ``data`` (C, *spatial) centre-cropped or zero-padded to ``shape``."""
    out = np.zeros((data.shape[0], *shape), dtype=data.dtype)
    source, destination = [], []
    for have, want in zip(data.shape[1:], shape):
        if have >= want:
            start = (have - want) // 2
            source.append(slice(start, start + want))
            destination.append(slice(0, want))
        else:
            start = (want - have) // 2
            source.append(slice(0, have))
            destination.append(slice(start, start + have))
    out[(slice(None), *destination)] = data[(slice(None), *source)]
    return out
