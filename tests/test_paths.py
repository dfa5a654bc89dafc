import pytest

from autoseg.errors import AutosegError
from autoseg.paths import data_root, dataset_folder_name, find_dataset


def make(root, name):
    (root / name).mkdir(parents=True)
    (root / name / "dataset.json").write_text("{}")
    return root / name


def test_dataset_found_by_id_name_and_path(tmp_path):
    folder = make(tmp_path, "Dataset004_Hippocampus")
    make(tmp_path, "Dataset040_Other")
    assert find_dataset("4", tmp_path) == folder
    assert find_dataset("004", tmp_path) == folder
    assert find_dataset("Dataset004_Hippocampus", tmp_path) == folder
    assert find_dataset(str(folder), tmp_path / "elsewhere") == folder


def test_unknown_and_ambiguous_ids_explain_themselves(tmp_path):
    make(tmp_path, "Dataset004_A")
    with pytest.raises(AutosegError, match="no dataset with id 5 .*Available: Dataset004_A"):
        find_dataset("5", tmp_path)
    make(tmp_path, "Dataset004_B")
    with pytest.raises(AutosegError, match="ambiguous"):
        find_dataset("4", tmp_path)


def test_flag_beats_environment_beats_default(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTOSEG_RAW", str(tmp_path / "env"))
    assert data_root("raw", tmp_path / "flag") == tmp_path / "flag"
    assert data_root("raw") == tmp_path / "env"
    monkeypatch.delenv("AUTOSEG_RESULTS", raising=False)
    assert data_root("results").parts[-2:] == ("autoseg_data", "results")
    data_root("results")
    assert capsys.readouterr().err.count("AUTOSEG_RESULTS is not set") == 1


def test_dataset_names_are_checked():
    assert dataset_folder_name(7, "Liver") == "Dataset007_Liver"
    with pytest.raises(AutosegError):
        dataset_folder_name(7, "has space")
