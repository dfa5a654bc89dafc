"""Segmentation: one softmax channel per label, or one sigmoid channel per region.

Sparse annotations: a label named ``ignore`` (the highest value) marks voxels
nobody labelled. It is never predicted (no output channel), the loss and the
per-epoch pseudo-Dice leave its voxels out, random patches are centred on
annotated voxels, and the whole-case validation scores the annotated voxels
only; predictions stay dense.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from scipy import ndimage

from autoseg.dataset import DatasetSpec
from autoseg.evaluation import evaluate_case
from autoseg.evaluation.folders import evaluate_label_folders, label_map_table
from autoseg.inference.ensemble import average_probability_folders
from autoseg.inference.export import restore_segmentation, revert_channel
from autoseg.losses import labels_to_regions
from autoseg.preprocessing.storage import ANNOTATED_LOCATIONS
from autoseg.selection import ensemble_image_candidates, ensemble_probabilities_case, postprocess_candidate
from autoseg.statistics import centroid_in_box
from autoseg.tasks.base import CaseResult, Task, register_task
from autoseg.tasks.interfaces import Cascade, ImageScores, UncertaintyMaps


@register_task
class SegmentationTask(Cascade, UncertaintyMaps, ImageScores, Task):
    """One softmax channel per label, or one sigmoid channel per region when dataset.json declares regions."""

    name = "segmentation"
    uses_label_geometry = True
    default_loss = "ce_dice"
    selection_metric = "dice"
    evaluation_options = ("nsd_tolerance",)

    @classmethod
    def example_specs(cls):
        labels = DatasetSpec({0: "T1", 1: "T2"}, ".nii.gz", 4, labels={"background": 0, "a": 1, "b": 2})
        regions = {"background": 0, "whole": [1, 2], "core": 2}
        json = {"channel_names": {"0": "T1", "1": "T2"}, "labels": regions, "regions_class_order": [1, 2], "numTraining": 4}
        return [labels, DatasetSpec.from_json({**json, "file_ending": ".nii.gz"})]

    def example_target(self, batch_size, spatial, generator):
        """Label maps (N, 1, *spatial) of every label value."""
        return torch.randint(0, len(self.spec.label_values()), (batch_size, 1, *spatial), generator=generator)

    def confident_output(self, target):
        """Logits of +-10: one-hot labels, or region masks."""
        if self.spec.has_regions:
            return labels_to_regions(target.long(), self.regions()).float() * 20 - 10
        return torch.nn.functional.one_hot(target[:, 0].long(), self.out_channels()).movedim(-1, 1).float() * 20 - 10

    def configurations(self, ndim: int) -> list[str]:
        """As every kind, and for 3D data the cascade: full resolution refining the low-resolution prediction."""
        return super().configurations(ndim) + (["3d_cascade_fullres"] if ndim == 3 else [])

    def out_channels(self) -> int:
        labels = self.spec.predicted_labels
        return len(labels) - 1 if self.spec.has_regions else len(labels)

    def fingerprint_target(self, record, target, mask, box, rng):
        """Voxel counts and centroids per label value; intensities are sampled inside the labelled voxels."""
        if target is None:
            return mask, []
        label = target[0]
        for value in sorted(self.spec.label_values() - {0, self.spec.ignore_label}):
            present = label == value
            count = int(present.sum())
            record.class_voxels[str(value)] = count
            if count:
                record.class_centroids[str(value)] = centroid_in_box(present, box)
        foreground = label > 0 if self.spec.ignore_label is None else (label > 0) & (label != self.spec.ignore_label)
        return (foreground if foreground.any() else mask), []

    def prepare_target(self, target):
        return target.astype(np.uint8 if target.max() < 256 else np.int16)

    def sampling_locations(self, target, rng):
        """Per label value present, up to 10,000 of its voxels; with an ignore label, also of the annotated voxels
        (where random patches are centred)."""
        ignore = self.spec.ignore_label
        locations = {str(int(value)): self._sample(target[0] == value, rng) for value in np.unique(target) if value not in (0, ignore)}
        if ignore is not None:
            locations[ANNOTATED_LOCATIONS] = self._sample(target[0] != ignore, rng)
        return locations

    def regions(self) -> list[tuple[int, ...]]:
        """Returns the label values of each region, in dataset.json order (background left out)."""
        return [value for name, value in self.spec.predicted_labels.items() if value != 0]

    def class_names(self) -> list[str]:
        """Names of the scored output channels: regions, or the non-background labels."""
        return [name for name, value in self.spec.predicted_labels.items() if value != 0]

    def previous_stage_inputs(self, configuration) -> int:
        """The cascade's extra inputs: one channel per foreground label, or per region."""
        return 0 if configuration.previous_stage is None else self.out_channels() - (0 if self.spec.has_regions else 1)

    def encode_previous_stage(self, labels: torch.Tensor) -> torch.Tensor:
        """Label maps (N, 1, *spatial) -> one-hot foreground labels, or region masks (N, K, *spatial), float."""
        labels = labels.long()
        if self.spec.has_regions:
            return labels_to_regions(labels, self.regions()).float()
        values = torch.tensor([v for v in self.regions()], device=labels.device).view(1, -1, *[1] * (labels.ndim - 2))
        return (labels == values).float()

    def prepare_targets(self, target, scales):
        """Label map (N, 1, *patch) -> per output level, nearest-downsampled labels or region masks; with an ignore
        label, region masks get one more channel, the annotated voxels (the labels keep the ignore value)."""
        target = target.long()
        if self.spec.has_regions:
            regions = labels_to_regions(target, self.regions())
            if self.spec.ignore_label is not None:
                regions = torch.cat([regions, target != self.spec.ignore_label], dim=1)
            target = regions.to(torch.uint8)
        return [target[(slice(None), slice(None), *(slice(None, None, f) for f in scale))] for scale in scales]

    def validation_counts(self, output, target):
        """True positives, false positives and false negatives per scored channel, summed over the batch (over the
        annotated voxels only, with an ignore label)."""
        ignore = self.spec.ignore_label
        if self.spec.has_regions:
            if ignore is not None:
                target, annotated = target[:, :-1], target[:, -1:].bool()
            predicted = torch.sigmoid(output.float()) > 0.5
            reference = target.bool()
        else:
            annotated = target != ignore
            classes = torch.arange(1, output.shape[1], device=output.device).view(1, -1, *[1] * (output.ndim - 2))
            predicted = output.argmax(1, keepdim=True) == classes
            reference = target == classes
        if ignore is not None:
            predicted, reference = predicted & annotated, reference & annotated
        axes = [0, *range(2, output.ndim)]
        return {
            "tp": (predicted & reference).sum(axes).double().cpu(),
            "fp": (predicted & ~reference).sum(axes).double().cpu(),
            "fn": (~predicted & reference).sum(axes).double().cpu(),
        }

    def channel_probabilities(self, logits):
        """Yields each output channel's probability (float32, on the logits' grid and device), one at a
        time: sigmoid per region, else softmax over labels (from one log-sum-exp, so no (K, ...) copy)."""
        if self.spec.has_regions:
            for channel in logits:
                yield torch.sigmoid(channel.float())
            return
        normaliser = torch.logsumexp(logits.float(), 0)
        for channel in logits:
            yield torch.exp(channel.float() - normaliser)

    def label_scores(self, logits):
        """Yields, from logit maps arriving one at a time, what ``label_map_from_channels`` compares: each region's
        sigmoid, or the logits themselves (the softmax keeps their order: the same label map without any (K, ...)
        array)."""
        for channel in logits:
            score = torch.sigmoid(channel.float()) if self.spec.has_regions else channel.float()
            del channel  # one raw-grid map alive at a time: none is held while the next is resampled
            yield score
            del score

    def background_fill(self) -> list[float]:
        """Probabilities outside the cropped region: background certain."""
        channels = self.out_channels()
        return [0.0] * channels if self.spec.has_regions else [1.0] + [0.0] * (channels - 1)

    def label_map(self, probabilities: np.ndarray) -> np.ndarray:
        """Probabilities (K, *spatial) -> label values (*spatial): argmax, or regions painted in regions_class_order."""
        channels = (
            torch.from_numpy(channel.copy() if index == 0 else channel) for index, channel in enumerate(probabilities)
        )  # the first is updated in place
        return self.label_map_from_channels(channels).numpy()

    def label_map_from_channels(self, channels) -> torch.Tensor:
        """Label values from probability channels arriving one at a time (torch, any device): a running
        maximum over labels (ties go to the lower label, as argmax), or regions painted in
        regions_class_order. The first channel is used as the running maximum and changed in place."""
        labels = best = None
        for index, probability in enumerate(channels):
            if labels is None:
                labels = torch.zeros(probability.shape, dtype=torch.uint8, device=probability.device)
            if self.spec.has_regions:
                labels[probability > 0.5] = self.spec.regions_class_order[index]
            elif best is None:
                best = probability  # label 0 wins until another is more probable
            else:
                labels[probability > best] = index
                torch.maximum(best, probability, out=best)
            del probability  # not held while the next channel is made
        return labels

    def uncertainty_maps(self, fold_outputs, properties, configuration, plans, *, device=None):
        """Predictive entropy of the folds' mean probabilities (nats), and with two or more folds the mutual
        information between folds (that entropy minus the mean of the folds' own entropies): computed on the
        preprocessed grid, restored linearly to the raw grid (0 outside the cropped region, where the
        background is certain). Regions (sigmoid outputs) sum the binary entropy of each region."""
        probabilities = torch.stack([torch.stack(list(self.channel_probabilities(output.to(device)))) for output in fold_outputs])
        mean = probabilities.mean(0)
        entropy = _entropy(mean, binary=self.spec.has_regions)
        maps = {"entropy": entropy}
        if len(fold_outputs) > 1:
            folds = torch.stack([_entropy(fold, binary=self.spec.has_regions) for fold in probabilities]).mean(0)
            maps["mutual_information"] = (entropy - folds).clamp_min(0)
        spacing = configuration.grid_spacing(properties.spacing)
        return {name: [revert_channel(image, properties, spacing, 0.0).cpu().numpy()] for name, image in maps.items()}

    def uncertainty_scores(self, maps, result):
        """Per structure, the mean predictive entropy inside the predicted structure and its one-voxel border
        (NaN where the structure is not predicted)."""
        labels, entropy = result.images[0], maps["entropy"][0]
        scores = {}
        for name, values in self.evaluation_structures().items():
            mask = np.isin(labels, values)
            region = ndimage.binary_dilation(mask) if mask.any() else mask
            scores[name] = float(entropy[region].mean()) if region.any() else float("nan")
        return scores

    def restore(self, output, properties, configuration, *, plans, probabilities=False, device=None):
        """The label map (and with ``probabilities`` the per-class probabilities) on the raw grid."""
        labels, class_probabilities = restore_segmentation(
            output, properties, configuration, task=self, probabilities=probabilities, device=device
        )
        return CaseResult([labels], class_probabilities)

    def report_view(self, source):
        from autoseg.tasks.segmentation.report import label_map_report  # matplotlib, imported when a report is drawn

        return label_map_report(source)

    def summary_text(self, summary):
        return label_map_table(summary)

    def held_out_text(self, validation, test, training_cases):
        lines = ["Dice per muscle      fold-0 validation   held-out test cases"]
        lines += [
            f"  {name:<20} {values['dice']:>12.3f} {test['mean'][name]['dice']:>18.3f}" for name, values in validation["mean"].items()
        ]
        return "\n".join(lines)

    def score_folder(self, reference_dir, prediction_dir, *, num_processes, check_geometry, nsd_tolerance=None):
        """Dice, IoU, precision, recall, HD95, ASSD and NSD of each label or region (``evaluation_structures``);
        files holding a label value dataset.json does not declare are refused."""
        declared, structures = self.spec.label_values(), self.evaluation_structures()
        checks = dict(declared=declared, check_geometry=check_geometry, nsd_tolerance=nsd_tolerance, ignore_label=self.spec.ignore_label)
        return evaluate_label_folders(reference_dir, prediction_dir, structures, num_processes=num_processes, **checks)

    def ensemble_members(self, candidates, say=print):
        """Candidates with saved validation probabilities: averaging label maps would lose what an ensemble needs."""
        without = [c.name for c in candidates if c.probabilities is None]
        if without:
            say(
                f"ensembles with {', '.join(without)} are not scored: train (or re-validate with --val_only) with --npz to "
                "save validation probabilities"
            )
        return [c for c in candidates if c.probabilities is not None]

    def ensemble_cross_validation(self, first, second, folder, references, num_processes=None):
        """The saved probabilities averaged case by case, labelled and scored."""
        case_of = partial(ensemble_probabilities_case, task=self)
        return ensemble_image_candidates(
            first, second, folder, references=references, num_processes=num_processes, ensemble_case_of=case_of
        )

    def choose_postprocessing(self, best, references, num_processes=None):
        """Largest-component steps kept only where they raise the mean Dice of the out-of-fold predictions."""
        return postprocess_candidate(best, references, self, num_processes)

    def ensemble_folders(self, folders, output_dir, save_probabilities=False):
        """The probabilities each folder saved (``--save_probabilities``, ``--npz``) averaged, then labelled."""
        return average_probability_folders(folders, output_dir, self, save_probabilities)

    def case_metrics(self, predicted, reference, *, check_geometry=True):
        checks = dict(declared=self.spec.label_values(), check_geometry=check_geometry)
        return evaluate_case(predicted[0], reference[0], self.evaluation_structures(), **checks, ignore_label=self.spec.ignore_label)

    def evaluation_structures(self) -> dict[str, tuple[int, ...]]:
        """The structures scored per case, {name: label values}: each region, or each non-background label."""
        return {name: value if isinstance(value, tuple) else (value,) for name, value in self.spec.predicted_labels.items() if value != 0}

    def validation_scores(self, counts):
        """Pseudo-Dice per class over all validation patches (a class absent everywhere scores nan)."""
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        denominator = 2 * tp + fp + fn
        dice = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.full_like(tp, float("nan")))
        return dict(zip(self.class_names(), dice.tolist()))


def _entropy(probabilities: torch.Tensor, binary: bool) -> torch.Tensor:
    """Entropy (nats) over the class axis of (K, *spatial) probabilities; ``binary``: each channel its own
    two-class variable (regions), their entropies summed."""
    p = probabilities.clamp(1e-12, 1.0)
    entropy = -(p * p.log())
    if binary:
        q = (1 - probabilities).clamp(1e-12, 1.0)
        entropy = entropy - q * q.log()
    return entropy.sum(0)
