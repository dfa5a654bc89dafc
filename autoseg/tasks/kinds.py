"""The three task kinds."""

from __future__ import annotations

import numpy as np
import torch

from autoseg.dataset import DatasetSpec
from autoseg.plans import ChannelNormalisation, InputSkip
from autoseg.tasks.base import Task, register_task


@register_task
class SegmentationTask(Task):
    """One softmax channel per label, or one sigmoid channel per region when dataset.json declares regions."""

    name = "segmentation"
    uses_label_geometry = True
    default_loss = "ce_dice"

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.labels) - 1 if spec.has_regions else len(spec.labels)

    def fingerprint_target(self, record, target, mask, box, spec, rng):
        """Voxel counts and centroids per label value; intensities are sampled inside the labelled voxels."""
        from autoseg.fingerprint import centroid_in_box

        if target is None:
            return mask, []
        label = target[0]
        for value in sorted(spec.label_values() - {0}):
            present = label == value
            count = int(present.sum())
            record.class_voxels[str(value)] = count
            if count:
                record.class_centroids[str(value)] = centroid_in_box(present, box)
        return (label > 0 if (label > 0).any() else mask), []

    def sampling_locations(self, target, rng):
        """Per label value present, up to 10,000 of its voxels."""
        return {str(int(value)): self._sample(target[0] == value, rng) for value in np.unique(target) if value != 0}

    @staticmethod
    def regions(spec: DatasetSpec) -> list[tuple[int, ...]]:
        """Returns the label values of each region, in dataset.json order (background left out)."""
        return [value for name, value in spec.labels.items() if value != 0]

    def class_names(self, spec: DatasetSpec) -> list[str]:
        """Names of the scored output channels: regions, or the non-background labels."""
        return [name for name, value in spec.labels.items() if value != 0]

    def prepare_targets(self, target, spec, scales):
        """Label map (N, 1, *patch) -> per output level, nearest-downsampled labels or region masks."""
        from autoseg.losses import labels_to_regions

        target = target.long()
        if spec.has_regions:
            target = labels_to_regions(target, self.regions(spec)).to(torch.uint8)
        return [target[(slice(None), slice(None), *(slice(None, None, f) for f in scale))] for scale in scales]

    def validation_counts(self, output, target, spec):
        """True positives, false positives and false negatives per scored channel, summed over the batch."""
        if spec.has_regions:
            predicted = torch.sigmoid(output.float()) > 0.5
            reference = target.bool()
        else:
            classes = torch.arange(1, output.shape[1], device=output.device).view(1, -1, *[1] * (output.ndim - 2))
            predicted = output.argmax(1, keepdim=True) == classes
            reference = target == classes
        axes = [0, *range(2, output.ndim)]
        return {
            "tp": (predicted & reference).sum(axes).double().cpu(),
            "fp": (predicted & ~reference).sum(axes).double().cpu(),
            "fn": (~predicted & reference).sum(axes).double().cpu(),
        }

    selection_metric = "dice"

    def channel_probabilities(self, logits, spec):
        """Yields each output channel's probability (float32, on the logits' grid and device), one at a
        time: sigmoid per region, else softmax over labels (from one log-sum-exp, so no (K, ...) copy)."""
        if spec.has_regions:
            for channel in logits:
                yield torch.sigmoid(channel.float())
            return
        normaliser = torch.logsumexp(logits.float(), 0)
        for channel in logits:
            yield torch.exp(channel.float() - normaliser)

    def background_fill(self, spec) -> list[float]:
        """Probabilities outside the cropped region: background certain."""
        channels = self.out_channels(spec)
        return [0.0] * channels if spec.has_regions else [1.0] + [0.0] * (channels - 1)

    def label_map(self, probabilities: np.ndarray, spec) -> np.ndarray:
        """Probabilities (K, *spatial) -> label values (*spatial): argmax, or regions painted in regions_class_order."""
        channels = (
            torch.from_numpy(channel.copy() if index == 0 else channel) for index, channel in enumerate(probabilities)
        )  # the first is updated in place
        return self.label_map_from_channels(channels, spec).numpy()

    def label_map_from_channels(self, channels, spec) -> torch.Tensor:
        """Label values from probability channels arriving one at a time (torch, any device): a running
        maximum over labels (ties go to the lower label, as argmax), or regions painted in
        regions_class_order. The first channel is used as the running maximum and changed in place."""
        labels = best = None
        for index, probability in enumerate(channels):
            if labels is None:
                labels = torch.zeros(probability.shape, dtype=torch.uint8, device=probability.device)
            if spec.has_regions:
                labels[probability > 0.5] = spec.regions_class_order[index]
            elif best is None:
                best = probability  # label 0 wins until another is more probable
            else:
                labels[probability > best] = index
                torch.maximum(best, probability, out=best)
        return labels

    def export(self, output, properties, configuration, plans, spec, files, probabilities_path=None, device=None):
        from autoseg.inference.export import export_segmentation

        export_segmentation(output, properties, configuration, spec, self, files[0], probabilities_path, device)

    def case_metrics(self, predicted, reference, spec):
        from autoseg.evaluation import evaluate_case

        return evaluate_case(predicted[0], reference[0], self.evaluation_structures(spec))

    def evaluation_structures(self, spec) -> dict[str, tuple[int, ...]]:
        """The structures scored per case, {name: label values}: each region, or each non-background label."""
        return {name: value if isinstance(value, tuple) else (value,) for name, value in spec.labels.items() if value != 0}

    def validation_scores(self, counts, spec):
        """Pseudo-Dice per class over all validation patches (a class absent everywhere scores nan)."""
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        denominator = 2 * tp + fp + fn
        dice = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.full_like(tp, float("nan")))
        return dict(zip(self.class_names(spec), dice.tolist()))


@register_task
class RegressionTask(Task):
    """Image-to-image: one linear output channel per target.

    Targets are normalised reversibly with the fingerprint's target
    statistics: non-negative targets (uptake, dose, counts) are divided by
    their mean, keeping zero at zero (``scale``); signed targets are z-scored
    with the dataset's mean and std (``zscore_dataset``).
    """

    name = "regression"
    target_kind = "image"
    default_loss = "l1"
    selection_metric = "psnr"
    high_value_percentile = 99.0

    def output_files(self, case_id, ending, folder, spec):
        """``{case}{ending}`` for one target, else ``{case}_{XXXX}{ending}`` per target (as labelsTr holds them)."""
        count = len(spec.targets)
        return [folder / f"{case_id}{ending}"] if count == 1 else [folder / f"{case_id}_{index:04d}{ending}" for index in range(count)]

    def cases_in(self, folder, spec):
        """For several targets, the cases with a first target's file (``{case}_0000{ending}``)."""
        names = super().cases_in(folder, spec)
        return names if len(spec.targets) == 1 else [name[: -len("_0000")] for name in names if name.endswith("_0000")]

    def export(self, output, properties, configuration, plans, spec, files, probabilities_path=None, device=None):
        """Float images in the targets' original units and the raw geometry (see ``export_regression``)."""
        from autoseg.inference.export import export_regression

        export_regression(output, properties, configuration, plans.target_normalisation, files, device)

    def case_metrics(self, predicted, reference, spec):
        """MAE, NRMSE, PSNR and SSIM per target inside the reference's body mask."""
        return score_images(dict(zip(spec.targets.values(), zip(predicted, reference))))

    def baseline_metrics(self, baseline, reference, spec):
        """The same metrics of the baseline inputs (``baseline``: one file per target, None where a target has
        no baseline channel) against the references: what the model must beat."""
        return score_images({spec.targets[t]: (baseline[t], reference[t]) for t in sorted(spec.targets) if baseline[t] is not None})

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.targets)

    def fingerprint_target(self, record, target, mask, box, spec, rng):
        """Samples each target's values inside the non-zero region, for reversible target normalisation."""
        from autoseg.fingerprint import sample_values

        return mask, [sample_values(channel[mask], rng) for channel in target]

    def prepare_targets(self, target, spec, scales):
        """Targets (N, T, *patch) -> per output level, block-averaged to that level's grid."""
        pool = torch.nn.functional.avg_pool3d if target.ndim == 5 else torch.nn.functional.avg_pool2d
        target = target.float()
        return [target if all(f == 1 for f in scale) else pool(target, scale, scale) for scale in scales]

    def validation_counts(self, output, target, spec):
        axes = [0, *range(2, output.ndim)]
        return {
            "absolute_error": (output.float() - target).abs().sum(axes).double().cpu(),
            "voxels": torch.tensor(float(target[:, :1].numel()), dtype=torch.float64),
        }

    def validation_scores(self, counts, spec):
        """Negative mean absolute error per target (in normalised units): higher is better, like Dice."""
        mae = counts["absolute_error"] / counts["voxels"]
        return {f"-MAE {name}": -value for name, value in zip(spec.targets.values(), mae.tolist())}

    def sampling_locations(self, target, rng):
        """The brightest 1 % of the first target's non-zero voxels ("high"), so patches find small hot lesions."""
        values = target[0]
        nonzero = values[values > 0]
        if nonzero.size == 0:
            return {}
        return {"high": self._sample(values >= np.percentile(nonzero, self.high_value_percentile), rng)}

    def plan_target_normalisation(self, fingerprint) -> dict:
        plans = {}
        for index, stats in fingerprint.target_statistics.items():
            scheme = "scale" if stats.min >= 0 else "zscore_dataset"
            plans[index] = ChannelNormalisation(scheme, False, {"mean": stats.mean, "std": stats.std})
        return plans

    def plan_input_skips(self, spec, normalisation, target_normalisation):
        """Each target with a baseline input channel (dataset.json ``baseline_channels``) is predicted as a
        correction of that channel, when both normalisations are one affine map for the whole dataset
        (PET, noNorm, regression targets; not per-image z-scores or clipped CT): then
        ``scale * x + shift`` carries the normalised input onto the target's normalised units, and a
        network whose heads start at zero predicts the baseline itself before any training."""
        from autoseg.preprocessing.normalisation import get_scheme

        skips = {}
        for target, channel in spec.baselines().items():
            source, goal = normalisation[str(channel)], target_normalisation[str(target)]
            into_input, into_target = get_scheme(source.scheme).affine(source.parameters), get_scheme(goal.scheme).affine(goal.parameters)
            if into_input is None or into_target is None:
                continue
            # raw = (x - b_in) / a_in, then target = a_t * raw + b_t
            (a_in, b_in), (a_t, b_t) = into_input, into_target
            skips[str(target)] = InputSkip(channel, a_t / a_in, b_t - a_t * b_in / a_in)
        return skips


def score_images(pairs: dict[str, tuple]) -> dict[str, dict[str, float]]:
    """{target name: (prediction file, reference file)} -> {target name: MAE, NRMSE, PSNR, SSIM}."""
    from autoseg.evaluation.evaluate import read_pair
    from autoseg.evaluation.image_metrics import image_metrics

    return {name: image_metrics(*read_pair(predicted, reference)[:2]) for name, (predicted, reference) in pairs.items()}


@register_task
class ClassificationTask(Task):
    """One logit per class from the U-Net encoder, global average pooling and a linear head."""

    name = "classification"
    dense_output = False
    default_loss = "ce"
    target_kind = "class"
    selection_metric = "balanced_accuracy"

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.classes)

    def prepare_input(self, data, configuration):
        """Pads (with zeros) or centre-crops every case to the planned input size."""
        return fit_to_shape(data, configuration.patch_size)

    def fixed_input_size(self, configuration):
        return configuration.patch_size

    def plan_class_weights(self, fingerprint):
        """Balanced weights from the fingerprint's class counts: N / (K * n_c), so every class carries the
        same total weight (a class without cases gets weight 1)."""
        counts = fingerprint.class_counts
        total, classes = sum(counts.values()), len(counts)
        return {name: total / (classes * count) if count else 1.0 for name, count in counts.items()}

    def make_network(self, spec, architecture, plans=None):
        from autoseg.networks import network_for

        return network_for(architecture).build_classifier(spec.num_channels, self.out_channels(spec), architecture)

    def prepare_targets(self, target, spec, scales):
        """Class indices (N,) as the one output level's target."""
        return [target.long().view(-1)]

    def validation_counts(self, output, target, spec):
        """The confusion matrix (reference x predicted) of the validation batch."""
        classes = self.out_channels(spec)
        pairs = target.view(-1) * classes + output.argmax(1)
        return {"confusion": torch.bincount(pairs, minlength=classes * classes).view(classes, classes).double().cpu()}

    def validation_scores(self, counts, spec):
        """Balanced accuracy over the validation batches (the mean recall of the classes present)."""
        confusion = counts["confusion"]
        present = confusion.sum(1) > 0
        recall = confusion.diagonal()[present] / confusion.sum(1)[present]
        return {"balanced accuracy": float(recall.mean()) if present.any() else float("nan")}


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
