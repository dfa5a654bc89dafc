import json
import subprocess
import sys

import pytest

from autoseg.cli import main


def test_help_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-m", "autoseg.cli", "--help"], capture_output=True, text=True, check=True)
    commands = (
        "verify",
        "generate",
        "convert",
        "fingerprint",
        "plan",
        "preprocess",
        "plan_and_preprocess",
        "train",
        "predict",
        "ensemble",
        "evaluate",
        "demo",
        "export_model",
        "install_model",
        "export_onnx",
        "report",
    )
    for command in commands:
        assert command in result.stdout
    for command in commands:  # in this process: the entry point itself was run above
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0


def test_generate_then_verify_through_the_cli(tmp_path, capsys):
    raw = str(tmp_path / "raw")
    assert main(["generate", "tumour2d", "--cases", "5", "--test", "0", "--raw", raw]) == 0
    assert main(["verify", "-d", "906", "--raw", raw, "-np", "1"]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_verify_exits_1_and_lists_problems(tmp_path, capsys):
    raw = tmp_path / "raw"
    main(["generate", "tumour2d", "--cases", "5", "--test", "0", "--raw", str(raw)])
    folder = raw / "Dataset906_BrainTumour2D"
    data = json.loads((folder / "dataset.json").read_text())
    data["numTraining"] = 9
    (folder / "dataset.json").write_text(json.dumps(data))
    assert main(["verify", "-d", str(folder), "-np", "1"]) == 1
    out = capsys.readouterr().out
    assert "1 problem(s) found" in out and "numTraining is 9" in out


def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "autoseg.cli", "verify", "-d", "123", "--raw", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "no dataset with id 123" in result.stderr and "Traceback" not in result.stderr


def test_convert_through_the_cli_verifies_the_result(tmp_path, capsys):
    from dataset_conversion.synthetic.isles import write_isles_layout

    source = write_isles_layout(tmp_path / "isles", num_cases=1, num_test=0, seed=0)
    assert main(["convert", "isles2017", str(source), "-d", "17", "--raw", str(tmp_path / "raw"), "-np", "1"]) == 0
    assert "Dataset017_ISLES2017" in capsys.readouterr().out
