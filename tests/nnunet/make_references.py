"""Writes tests/data/nnunet/: nnU-Net v2's own predictions of the test scenarios (folders.py), which the tests
compare autoseg's predictions of the same models and images with. Run it once, in a venv with nnunetv2:

    /path/to/nnunet_venv/bin/python tests/nnunet/make_references.py

(nnU-Net's predictor, unmodified: it accumulates tiles in float16, so a voxel whose two best classes are within
that rounding may differ from autoseg's float32; the tests allow for it.)
"""

import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from folders import SCENARIOS, write_images, write_model  # noqa: E402
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor  # noqa: E402

REFERENCES = Path(__file__).resolve().parents[1] / "data" / "nnunet"


def predict(model: Path, images: Path, output: Path, previous: Path | None = None) -> None:
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True, device=torch.device("cpu"), allow_tqdm=False)
    predictor.initialize_from_trained_model_folder(str(model), use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    predictor.predict_from_files(
        str(images),
        str(output),
        save_probabilities=False,
        overwrite=True,
        num_processes_preprocessing=1,
        num_processes_segmentation_export=1,
        folder_with_segs_from_prev_stage=str(previous) if previous else None,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for key, scenario in SCENARIOS.items():
            models = write_model(scenario, work / "results")
            write_images(scenario, work / key / "images")
            final = list(models)[-1]
            previous = None
            if len(models) > 1:
                predict(models[list(models)[0]], work / key / "images", work / key / "previous")
                previous = work / key / "previous"
            predict(models[final], work / key / "images", work / key / "nnunet", previous)
            target = REFERENCES / key
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for path in sorted((work / key / "nnunet").glob("*.nii.gz")):
                shutil.copy(path, target / path.name)
            print(key, sorted(p.name for p in target.iterdir()))


if __name__ == "__main__":
    main()
