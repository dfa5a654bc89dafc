"""autoseg predict and evaluate on the tiny spine stand-in, trained for a few iterations on two folds."""

import json
import os
import shutil

import numpy as np
import pytest

from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.io import read_image, write_image
from autoseg.plan_and_preprocess import plan_and_preprocess
from autoseg.training import train_fold
from autoseg.workflows.evaluation import evaluate_folders
from autoseg.workflows.prediction import load_trained_model, predict_folder
from tests.training.conftest import shrink_plans, small


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model folder, raw dataset folder): spine, 8 + 3 test cases, folds 0 and 1 trained briefly."""
    from dataset_conversion.synthetic import generate_stand_in

    root = tmp_path_factory.mktemp("predict")
    dataset = RawDataset(generate_stand_in("spine", root / "raw", num_cases=8, num_test=3, seed=3))
    preprocessed = root / "preprocessed" / dataset.name
    plan_and_preprocess(dataset, preprocessed, num_processes=1)
    shrink_plans(preprocessed)
    for fold in ("0", "1"):
        output = train_fold(
            preprocessed, root / "results", "2d", fold=fold, settings=small(1, iterations_per_epoch=6, validation_iterations=1)
        )
    return output.parent, dataset.root


def test_predictions_keep_each_inputs_geometry_and_format(trained, tmp_path):
    model_dir, raw = trained
    model = load_trained_model(model_dir)
    assert model.folds == ["0", "1"] and len(model.networks) == 2
    written = predict_folder(model, raw / "imagesTs", tmp_path / "out", save_probabilities=True)
    assert sorted(p.name for p in written) == sorted(p.name for p in (raw / "labelsTs").iterdir())
    for path in written:
        source = read_image(raw / "imagesTs" / path.name.replace(".nii.gz", "_0000.nii.gz"))
        predicted = read_image(path)
        assert predicted.spatial_shape == source.spatial_shape and predicted.geometry == source.geometry
        assert set(np.unique(predicted.array)) <= {0, 1, 2, 3}
        with np.load(path.with_name(path.name.replace(".nii.gz", ".npz"))) as archive:
            assert np.array_equal(archive["probabilities"].argmax(0), predicted.array[0])
    assert json.loads((tmp_path / "out" / "prediction.json").read_text())["folds"] == ["0", "1"]

    # The same case as NRRD comes back as NRRD on the same grid.
    nrrd = tmp_path / "nrrd"
    case = written[0].name[: -len(".nii.gz")]
    for channel in (0, 1):
        write_image(read_image(raw / "imagesTs" / f"{case}_{channel:04d}.nii.gz"), nrrd / f"{case}_{channel:04d}.nrrd")
    (output,) = predict_folder(model, nrrd, tmp_path / "nrrd_out")
    assert output.name == f"{case}.nrrd" and read_image(output).geometry == read_image(written[0]).geometry
    assert np.array_equal(read_image(output).array, read_image(written[0]).array)


def test_parts_cover_every_case_once_and_continue_skips_finished_cases(trained, tmp_path):
    model_dir, raw = trained
    model = load_trained_model(model_dir, folds=["0"])
    parts = [predict_folder(model, raw / "imagesTs", tmp_path / "out", num_parts=2, part_id=k, mirroring=False) for k in (0, 1)]
    names = [p.name for part in parts for p in part]
    assert sorted(names) == sorted(p.name for p in (raw / "labelsTs").iterdir()) and len(set(names)) == len(names)

    kept, removed = parts[0][0], parts[1][0]
    os.utime(kept, (1, 1))  # an old time stamp shows whether the file is rewritten
    removed.unlink()
    again = predict_folder(model, raw / "imagesTs", tmp_path / "out", continue_prediction=True, mirroring=False)
    assert again == [removed] and removed.is_file() and kept.stat().st_mtime == 1


def test_bad_inputs_are_refused_before_anything_is_written(trained, tmp_path):
    model_dir, raw = trained
    model = load_trained_model(model_dir, folds=["0"])
    broken = tmp_path / "broken"
    shutil.copytree(raw / "imagesTs", broken)
    missing = sorted(broken.glob("*_0001.nii.gz"))[0]
    missing.unlink()
    (broken / "notes.txt").write_text("not an image")
    with pytest.raises(AutosegError) as error:
        predict_folder(model, broken, tmp_path / "out")
    assert missing.name.replace("_0001.nii.gz", "") in str(error.value) and "notes.txt" in str(error.value)
    assert not (tmp_path / "out").exists()
    with pytest.raises(AutosegError, match="fold_3"):
        load_trained_model(model_dir, folds=["3"])
    with pytest.raises(AutosegError, match="the output folder is the input folder"):
        predict_folder(model, raw / "imagesTs", raw / "imagesTs")


def test_evaluate_scores_predicted_folders_and_needs_every_reference(trained, tmp_path):
    model_dir, raw = trained
    predict_folder(load_trained_model(model_dir, folds=["0"]), raw / "imagesTs", tmp_path / "out", mirroring=False)
    summary = evaluate_folders(raw / "labelsTs", tmp_path / "out")
    assert len(summary["cases"]) == 3 and set(summary["mean"]) == {"paraspinal_left", "paraspinal_right", "psoas"}
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["foreground_mean"]["dice"] == pytest.approx(
        summary["foreground_mean"]["dice"]
    )
    # A perfect prediction scores Dice 1 and distance 0.
    perfect = evaluate_folders(raw / "labelsTs", raw / "labelsTs", dataset_json=raw / "dataset.json")
    assert perfect["foreground_mean"]["dice"] == 1 and perfect["foreground_mean"]["hd95"] == 0
    next((tmp_path / "out").glob("*.nii.gz")).unlink()
    with pytest.raises(AutosegError, match="lacks predictions for 1 reference case"):
        evaluate_folders(raw / "labelsTs", tmp_path / "out")


def test_predict_and_evaluate_through_the_cli(trained, tmp_path, capsys):
    from autoseg.cli import main

    model_dir, raw = trained
    results, dataset = str(model_dir.parent.parent), model_dir.parent.name
    out = str(tmp_path / "out")
    assert (
        main(
            [
                "predict",
                "-i",
                str(raw / "imagesTs"),
                "-o",
                out,
                "-d",
                dataset,
                "--results",
                results,
                "-f",
                "0",
                "--disable_tta",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert main(["evaluate", str(raw / "labelsTs"), out]) == 0
    printed = capsys.readouterr().out
    assert "wrote 3 predictions" in printed and "foreground mean" in printed and "paraspinal_left" in printed
    assert main(["predict", "-i", str(raw / "imagesTs"), "-o", out, "-d", dataset, "--results", results, "-c", "3d_fullres"]) == 2
    assert "no trained 3d_fullres for trainer default; trained: 2d" in capsys.readouterr().err


def test_ensemble_averages_saved_probabilities(trained, tmp_path):
    from autoseg.workflows.ensemble import ensemble_folders

    model_dir, raw = trained
    for fold in ("0", "1"):
        predict_folder(
            load_trained_model(model_dir, folds=[fold]),
            raw / "imagesTs",
            tmp_path / f"fold{fold}",
            save_probabilities=True,
            mirroring=False,
        )
    written = ensemble_folders([tmp_path / "fold0", tmp_path / "fold1"], tmp_path / "ensemble")
    assert len(written) == 3
    for path in written:
        case_id = path.name[: -len(".nii.gz")]
        mean = sum(np.load(tmp_path / f"fold{fold}" / f"{case_id}.npz")["probabilities"] for fold in ("0", "1")) / 2
        ensembled = read_image(path)
        assert (
            np.array_equal(ensembled.array[0], mean.argmax(0)) and ensembled.geometry == read_image(tmp_path / "fold0" / path.name).geometry
        )
    (tmp_path / "fold1" / f"{written[0].name[: -len('.nii.gz')]}.npz").unlink()
    with pytest.raises(AutosegError, match="hold different cases"):
        ensemble_folders([tmp_path / "fold0", tmp_path / "fold1"], tmp_path / "again")


def test_small_2d_images_go_through_the_network_together_with_the_same_result(trained, tmp_path):
    model_dir, raw = trained
    model = load_trained_model(model_dir)
    batch_sizes = []
    for network in model.networks:
        network.register_forward_pre_hook(lambda module, args: batch_sizes.append(args[0].shape[0]))
    predict_folder(model, raw / "imagesTs", tmp_path / "together", mirroring=False)
    together, batch_sizes[:] = list(batch_sizes), []
    model.configuration.batch_size = 1  # one image per group
    predict_folder(model, raw / "imagesTs", tmp_path / "alone", mirroring=False)
    assert len(together) < len(batch_sizes) and max(together) > 1
    for path in sorted((tmp_path / "alone").glob("*.nii.gz")):
        assert np.array_equal(read_image(path).array, read_image(tmp_path / "together" / path.name).array)
