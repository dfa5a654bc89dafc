"""Image-to-image regression: one linear output channel per target (low-dose to standard-dose PET)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from autoseg.data.device_augmentation import Probabilities
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import summarise
from autoseg.evaluation.evaluate import read_pair
from autoseg.evaluation.folders import IMAGE_METRICS, IMAGE_NOTE, evaluate_regression_folders, metric_table
from autoseg.evaluation.image_metrics import body_mask, image_metrics
from autoseg.inference.ensemble import average_image_folders
from autoseg.inference.export import restore_regression
from autoseg.losses import RelativeGradient
from autoseg.plans import ChannelNormalisation, InputSkip
from autoseg.preprocessing.normalisation import get_scheme
from autoseg.statistics import sample_values
from autoseg.tasks.base import CaseResult, Task, register_task
from autoseg.tasks.interfaces import ImageScores, UncertaintyMaps, channel_cases, channel_files


@register_task
class RegressionTask(UncertaintyMaps, ImageScores, Task):
    """Image-to-image: one linear output channel per target.

    Targets are normalised reversibly with the fingerprint's target
    statistics: non-negative targets (uptake, dose, counts) are divided by
    their mean, keeping zero at zero (``scale``); signed targets are z-scored
    with the dataset's mean and std (``zscore_dataset``).
    """

    name = "regression"
    target_is_label = False
    default_loss = "l1"
    selection_metric = "psnr"
    evaluation_options = ("baseline_dir", "baseline_channel")
    high_value_percentile = 99.0

    @classmethod
    def example_specs(cls):
        return [DatasetSpec({0: "PET", 1: "CT"}, ".nii.gz", 4, task=cls.name, targets={0: "PET"})]

    def example_target(self, batch_size, spatial, generator):
        """Target images (N, T, *spatial) in normalised units."""
        return torch.rand(batch_size, len(self.spec.targets), *spatial, generator=generator)

    def confident_output(self, target):
        return target.clone()

    def output_files(self, case_id, folder, ending=None):
        """``{case}{ending}`` for one target, else ``{case}_{XXXX}{ending}`` per target (as labelsTr holds them)."""
        return channel_files(case_id, folder, ending or self.spec.file_ending, len(self.spec.targets))

    def cases_in(self, folder, ending=None):
        """For several targets, the cases with a first target's file (``{case}_0000{ending}``)."""
        return channel_cases(super().cases_in(folder, ending), len(self.spec.targets))

    uncertainty_folds = 2

    def uncertainty_maps(self, fold_outputs, properties, configuration, plans, *, device=None):
        """The standard deviation across folds of each target's restored image, per voxel, in the target's units."""
        restored = [restore_regression(output, properties, configuration, plans.target_normalisation, device) for output in fold_outputs]
        return {"std": [np.std(np.stack(images), axis=0) for images in zip(*restored)]}

    def uncertainty_scores(self, maps, result):
        """Per target, the mean standard deviation across folds inside the predicted image's body mask."""
        return {
            name: float(std[body_mask(image)].mean()) for name, image, std in zip(self.spec.targets.values(), result.images, maps["std"])
        }

    def restore(self, output, properties, configuration, *, plans, probabilities=False, device=None):
        """Float images in the targets' original units on the raw grid (see ``restore_regression``)."""
        return CaseResult(restore_regression(output, properties, configuration, plans.target_normalisation, device))

    def report_view(self, source):
        from autoseg.tasks.regression.report import image_report  # matplotlib, imported when a report is drawn

        return image_report(source)

    def augmentation_place(self, choice, device):
        """On the device wherever it runs: batchgenerators resamples any non-nearest target as a label map, one pass
        per distinct value, so float images cannot be augmented on the CPU workers."""
        if choice == "cpu":
            raise AutosegError(
                "--augmentation cpu cannot resample regression targets (batchgenerators treats them as label maps); use "
                "--augmentation device, the default for regression."
            )
        return "device"

    def augmentation_probabilities(self):
        return Probabilities.for_image_targets()

    def summary_text(self, summary):
        return metric_table(summary, IMAGE_METRICS, IMAGE_NOTE)

    def held_out_text(self, validation, test, training_cases):
        """Model vs the low-dose input it improves on, per metric, for the fold-0 validation and the test cases."""
        width = 2 + max(len(target) for target in validation["mean"]) + len(" PSNR (dB)")
        lines = [
            f"{'':<{width}}{'fold-0 validation':>22}{'held-out test cases':>24}",
            f"{'':<{width}}{'model':>11}{'input':>11}{'model':>12}{'input':>12}",
        ]
        for target, values in validation["mean"].items():
            for metric, unit in (("psnr", " (dB)"), ("ssim", ""), ("nrmse", ""), ("mae", "")):
                cells = [
                    values[metric],
                    validation["baseline"]["mean"][target][metric],
                    test["mean"][target][metric],
                    test["baseline"]["mean"][target][metric],
                ]
                label = target + " " + metric.upper() + unit
                lines.append(f"  {label:<{width - 2}}{cells[0]:>11.3f}{cells[1]:>11.3f}{cells[2]:>12.3f}{cells[3]:>12.3f}")
        lines.append("(inside each reference's body mask; MAE in the target's units; higher PSNR and SSIM, lower NRMSE and MAE are better)")
        return "\n".join(lines)

    def score_folder(self, reference_dir, prediction_dir, *, num_processes, check_geometry, baseline_dir=None, baseline_channel=None):
        """MAE, NRMSE, PSNR and SSIM per target, and the baseline inputs' beside them with ``baseline_dir``."""
        baseline = dict(baseline_dir=baseline_dir, baseline_channel=baseline_channel)
        return evaluate_regression_folders(
            reference_dir, prediction_dir, self, num_processes=num_processes, **baseline, check_geometry=check_geometry
        )

    def ensemble_folders(self, folders, output_dir, save_probabilities=False):
        """The predicted images themselves averaged (no probabilities needed)."""
        return average_image_folders(folders, output_dir, self)

    def case_metrics(self, predicted, reference, *, check_geometry=True):
        """MAE, NRMSE, PSNR and SSIM per target inside the reference's body mask."""
        return score_images(dict(zip(self.spec.targets.values(), zip(predicted, reference))), check_geometry)

    def validation_summary(self, folder, fold):
        """The predictions' scores, and beside them (under ``baseline``) those of the baseline inputs the
        targets improve on (copied to the fold's ``baseline_folder`` by preprocessing)."""
        summary = super().validation_summary(folder, fold)
        if summary is None or fold.baseline_folder is None or not fold.baseline_folder.is_dir():
            return summary
        baselines = self.spec.baselines()

        def inputs(case_id: str) -> list[Path | None]:
            files = self.output_files(case_id, fold.baseline_folder)
            return [path if target in baselines else None for target, path in zip(self.spec.targets, files)]

        references = fold.reference_folder
        summary["baseline"] = summarise(
            {case_id: self.baseline_metrics(inputs(case_id), self.output_files(case_id, references)) for case_id in fold.validation_ids}
        )
        return summary

    def baseline_metrics(self, baseline, reference, *, check_geometry=True):
        """The same metrics of the baseline inputs (``baseline``: one file per target, None where a target has
        no baseline channel) against the references: what the model must beat."""
        return score_images(
            {self.spec.targets[t]: (baseline[t], reference[t]) for t in sorted(self.spec.targets) if baseline[t] is not None},
            check_geometry,
        )

    def out_channels(self) -> int:
        return len(self.spec.targets)

    def make_loss(self, num_outputs, name="", plans=None):
        """The loss over the deep-supervision outputs, with its gradient relative to its size
        (``RelativeGradient``): a correction model's small starting error would otherwise hardly move SGD."""
        return RelativeGradient(super().make_loss(num_outputs, name, plans))

    def fingerprint_target(self, record, target, mask, box, rng):
        """Samples each target's values inside the non-zero region, for reversible target normalisation."""
        return mask, [sample_values(channel[mask], rng) for channel in target]

    def prepare_targets(self, target, scales):
        """Targets (N, T, *patch) -> per output level, block-averaged to that level's grid."""
        pool = torch.nn.functional.avg_pool3d if target.ndim == 5 else torch.nn.functional.avg_pool2d
        target = target.float()
        return [target if all(f == 1 for f in scale) else pool(target, scale, scale) for scale in scales]

    def validation_counts(self, output, target):
        axes = [0, *range(2, output.ndim)]
        return {
            "absolute_error": (output.float() - target).abs().sum(axes).double().cpu(),
            "voxels": torch.tensor(float(target[:, :1].numel()), dtype=torch.float64),
        }

    def validation_scores(self, counts):
        """Negative mean absolute error per target (in normalised units): higher is better, like Dice."""
        mae = counts["absolute_error"] / counts["voxels"]
        return {f"-MAE {name}": -value for name, value in zip(self.spec.targets.values(), mae.tolist())}

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

    def plan_input_skips(self, normalisation, target_normalisation):
        """Each target with a baseline input channel (dataset.json ``baseline_channels``) is predicted as a
        correction of that channel, when both normalisations are one affine map for the whole dataset
        (PET, noNorm, regression targets; not per-image z-scores or clipped CT): then
        ``scale * x + shift`` carries the normalised input onto the target's normalised units, and a
        network whose heads start at zero predicts the baseline itself before any training."""
        skips = {}
        for target, channel in self.spec.baselines().items():
            source, goal = normalisation[str(channel)], target_normalisation[str(target)]
            into_input, into_target = get_scheme(source.scheme).affine(source.parameters), get_scheme(goal.scheme).affine(goal.parameters)
            if into_input is None or into_target is None:
                continue
            # raw = (x - b_in) / a_in, then target = a_t * raw + b_t
            (a_in, b_in), (a_t, b_t) = into_input, into_target
            skips[str(target)] = InputSkip(channel, a_t / a_in, b_t - a_t * b_in / a_in)
        return skips


def score_images(pairs: dict[str, tuple], check_geometry: bool = True) -> dict[str, dict[str, float]]:
    """{target name: (prediction file, reference file)} -> {target name: MAE, NRMSE, PSNR, SSIM}."""
    scores = {}
    for name, (predicted, reference) in pairs.items():
        prediction, target = read_pair(predicted, reference, check_geometry=check_geometry)
        scores[name] = image_metrics(prediction.array[0], target.array[0])
    return scores
