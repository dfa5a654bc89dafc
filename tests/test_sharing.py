"""export_model / install_model: a trained model travels as one zip, and a hostile zip installs nothing."""

import json
import pickle
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch

from autoseg.cli import main
from autoseg.dataset import RawDataset
from autoseg.errors import AutosegError
from autoseg.io import read_image
from autoseg.sharing import install_model
from autoseg.training import train_fold, trainer_settings
from autoseg.workflows.prediction import load_trained_model, predict_folder
from tests.conftest import preprocess_with_tiny_network


@pytest.fixture(scope="module")
def exported(stand_in_cache, tmp_path_factory):
    """A one-epoch spine model (fold 0), exported: (raw dataset, results folder, archive)."""
    root = tmp_path_factory.mktemp("sharing")
    dataset = RawDataset(stand_in_cache("spine", 5, 1))
    preprocessed = preprocess_with_tiny_network(dataset, root / "preprocessed" / dataset.name, "2d")
    settings = replace(trainer_settings("short"), epochs=1, iterations_per_epoch=1, validation_iterations=1, num_workers=0)
    train_fold(preprocessed, root / "results", "2d", fold="0", settings=settings)
    archive = root / "model.zip"
    assert main(["export_model", dataset.name, "-o", str(archive), "--results", str(root / "results")]) == 0
    return dataset, root / "results" / dataset.name, archive


def test_an_installed_model_predicts_exactly_as_the_original(exported, tmp_path):
    dataset, results, archive = exported
    with zipfile.ZipFile(archive) as contents:
        names = contents.namelist()
        assert f"{dataset.name}/default__plans__2d/fold_0/checkpoint_final.pt" in names and f"{dataset.name}/autoseg_model.json" in names
        weights = torch.load(contents.open(f"{dataset.name}/default__plans__2d/fold_0/checkpoint_final.pt"), weights_only=True)
    assert set(weights) == {"network"}  # no optimiser state travels
    assert main(["install_model", str(archive), "--results", str(tmp_path / "elsewhere")]) == 0
    installed = tmp_path / "elsewhere" / dataset.name / "default__plans__2d"
    for model, output in ((results / "default__plans__2d", "original"), (installed, "installed")):
        predict_folder(load_trained_model(model), dataset.root / "imagesTs", tmp_path / output, mirroring=False)
    for path in (tmp_path / "original").glob("*.nii.gz"):
        assert np.array_equal(read_image(path).array, read_image(tmp_path / "installed" / path.name).array)
    assert main(["install_model", str(archive), "--results", str(tmp_path / "elsewhere")]) == 2  # already there
    assert main(["install_model", str(archive), "--results", str(tmp_path / "elsewhere"), "--overwrite"]) == 0


def rewritten(archive, path, extra: dict[str, bytes], drop: str | None = None):
    """A copy of ``archive`` with members added or replaced (``drop`` left out)."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename != drop and info.filename not in extra:
                target.writestr(info, source.read(info))
        for name, data in extra.items():
            target.writestr(name, data)
    return path


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize(
    "member, why",
    [
        ("/etc/cron.d/evil", "not part of an autoseg model"),
        ("{d}/../../evil.sh", "not part of an autoseg model"),
        ("{d}/default__plans__2d/fold_0/run.py", "not part of an autoseg model"),
    ],
)
def test_members_outside_the_model_layout_are_refused_and_nothing_is_installed(exported, tmp_path, member, why):
    dataset, _, archive = exported
    hostile = rewritten(archive, tmp_path / "hostile.zip", {member.format(d=dataset.name): b"x"})
    with pytest.raises(AutosegError, match=why):
        install_model(hostile, tmp_path / "results")
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_a_checkpoint_carrying_code_is_refused(exported, tmp_path, capsys):
    dataset, _, archive = exported
    name = f"{dataset.name}/default__plans__2d/fold_0/checkpoint_final.pt"
    hostile = rewritten(archive, tmp_path / "pickled.zip", {name: pickle.dumps({"network": Payload()})})
    with pytest.raises(AutosegError, match="not a readable autoseg checkpoint"):
        install_model(hostile, tmp_path / "results")
    assert "code ran" not in capsys.readouterr().out
    assert not any((tmp_path / "results").iterdir())  # the staging folder is gone too
    with pytest.raises(AutosegError, match="not a zip archive"):
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        install_model(tmp_path / "junk.zip", tmp_path / "results")


def test_predict_refuses_inputs_the_model_was_not_trained_for(exported, tmp_path, capsys):
    dataset, results, _ = exported
    folder = tmp_path / "one_channel"
    folder.mkdir()
    source = next((dataset.root / "imagesTs").glob("*_0000.nii.gz"))
    (folder / source.name).write_bytes(source.read_bytes())  # the spine model needs water and fat
    assert (
        main(["predict", "-i", str(folder), "-o", str(tmp_path / "out"), "-d", str(results), "-c", "2d", "--results", str(results.parent)])
        == 2
    )
    assert "_0001" in capsys.readouterr().err


def deflated(archive, path, name: str, data: bytes):
    """A copy of ``archive`` with member ``name`` replaced by ``data``, compressed."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info, source.read(info))
        target.writestr(name, data)
    return path


def test_an_archive_that_inflates_far_beyond_its_size_installs_nothing(exported, tmp_path):
    """A valid member name holding 64 MB of zeros (about 64 KB compressed): refused before anything is written."""
    dataset, _, archive = exported
    name = f"{dataset.name}/default__plans__2d/fold_0/checkpoint_final.pt"
    bomb = deflated(archive, tmp_path / "bomb.zip", name, bytes(64 * 2**20))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(AutosegError, match="inflates 1[0-9]{3}-fold"):
        install_model(bomb, tmp_path / "results")
    assert not any((tmp_path / "results").iterdir())


def test_a_member_larger_than_its_kind_allows_or_past_its_declared_size_installs_nothing(exported, tmp_path):
    dataset, _, archive = exported
    name = f"{dataset.name}/default__plans__2d/plans.json"
    large = deflated(archive, tmp_path / "large.zip", name, json.dumps({"padding": "x" * (65 * 2**20)}).encode())
    with pytest.raises(AutosegError, match="more than a .json file of a model holds"):
        install_model(large, tmp_path / "results")
    # a header declaring fewer bytes than the member inflates to
    forged = tmp_path / "forged.zip"
    data = bytearray(rewritten(archive, tmp_path / "plain.zip", {}).read_bytes())
    with zipfile.ZipFile(tmp_path / "plain.zip") as plain:
        info = plain.getinfo(name)
    declared = info.file_size.to_bytes(4, "little")
    entry = data.rfind(b"PK\x01\x02", 0, data.find(name.encode(), data.find(b"PK\x01\x02")) + 1)
    data[entry + 24 : entry + 28] = (info.file_size - 10).to_bytes(4, "little")  # the central directory's size
    assert declared != data[entry + 24 : entry + 28]
    forged.write_bytes(bytes(data))
    with pytest.raises(AutosegError, match="nothing was installed"):
        install_model(forged, tmp_path / "results")
    assert not any((tmp_path / "results").iterdir())


def huge_patch(configuration):
    """A 4096 x 4096 patch with the default planner's features (32, 64, ... 512): about 18 GB per tile."""
    configuration["patch_size"] = [4096, 4096]
    stages = len(configuration["architecture"]["features_per_stage"])
    configuration["architecture"]["features_per_stage"] = [min(32 * 2**stage, 512) for stage in range(stages)]


@pytest.mark.parametrize(
    "edit, message",
    [
        (huge_patch, "needs about"),
        (lambda c: c.update(spacing=[0.0, 1.0]), "spacing [0.0, 1.0] must be positive millimetres"),
        (lambda c: c.update(spacing=[-1.0, 1.0]), "spacing [-1.0, 1.0] must be positive millimetres"),
        (lambda c: c["architecture"]["strides"][1].__setitem__(0, -2), "strides"),
        (lambda c: c.update(batch_size=0), "batch_size must be at least 1"),
    ],
)
def test_plans_that_cannot_work_are_refused_where_they_are_loaded(exported, tmp_path, edit, message, capsys, monkeypatch):
    """Installed, then predicted with: the plans are checked each time before anything is allocated (the memory
    against a machine of 24 GB, this project's)."""
    monkeypatch.setattr("autoseg.device.memory_total_bytes", lambda device: 24 * 2**30)
    dataset, _, archive = exported
    name = f"{dataset.name}/default__plans__2d/plans.json"
    with zipfile.ZipFile(archive) as contents:
        plans = json.loads(contents.read(name))
    edit(plans["configurations"]["2d"])
    edited = rewritten(archive, tmp_path / "edited.zip", {name: json.dumps(plans).encode()})
    results = tmp_path / "results"
    if message == "needs about":  # a valid plan, too large for this machine: installed, refused at prediction
        assert main(["install_model", str(edited), "--results", str(results)]) == 0
        folder = results / dataset.name
        arguments = ["predict", "-i", str(dataset.root / "imagesTs"), "-o", str(tmp_path / "out"), "-d", str(folder), "-c", "2d"]
        assert main([*arguments, "--results", str(results)]) == 2
        error = capsys.readouterr().err
        assert "patch [4096, 4096] needs about 1" in error and "more than the 16.8 GB cpu can give it" in error
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.nii.gz"))
        return
    assert main(["install_model", str(edited), "--results", str(results)]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not results.exists() or not any(results.iterdir())
