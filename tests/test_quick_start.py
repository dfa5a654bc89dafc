"""The README's quick start, run as written from an empty folder, with a small machine's settings:
a quarter of the planned features, one epoch of two iterations, augmentation in the main process.

The block is read from README.md, so the README cannot drift from what
works. Lines are run through ``autoseg.cli.main`` in this process (a shell
would pay torch's import for every command); the block's three shell forms
are interpreted here: plain ``autoseg`` commands, one ``for`` loop, and the
``sed ... | bash`` line that fills in inference_instructions.txt.
"""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.io import read_image

ROOT = Path(__file__).resolve().parents[1]
SHORT_TRAINING = ["--epochs", "1", "--iterations_per_epoch", "2", "--validation_iterations", "1", "--num_workers", "0"]


def quick_start_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no '## Quick start' section with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def shrink_network(preprocessed: Path) -> None:
    """What the README tells users of small machines: a smaller network in plans.json."""
    import json

    path = preprocessed / "plans.json"
    plans = json.loads(path.read_text())
    for config in plans["configurations"].values():
        config["architecture"]["features_per_stage"] = [max(4, f // 4) for f in config["architecture"]["features_per_stage"]]
        config["batch_size"] = 2
    path.write_text(json.dumps(plans, indent=2))


def run_autoseg(tokens: list[str]) -> None:
    assert tokens[0] == "autoseg", tokens
    arguments = tokens[1:] + (SHORT_TRAINING if tokens[1] == "train" else [])
    assert main(arguments) == 0, f"autoseg {shlex.join(arguments)} failed"
    if tokens[1] == "plan_and_preprocess":
        shrink_network(next(Path("autoseg_data/preprocessed").iterdir()))


def run_line(line: str) -> None:
    loop = re.fullmatch(r"for (\w+) in ([^;]+); do (.+); done(\s+#.*)?", line.strip())
    if loop:
        variable, values, body = loop.group(1), loop.group(2).split(), loop.group(3)
        for value in values:
            for command in body.replace(f"${variable}", value).split("&&"):
                run_autoseg(shlex.split(command, comments=True))
        return
    if "| bash" in line:
        tokens = shlex.split(line.split("| bash")[0], comments=True)
        assert tokens[0] == "sed"
        text = Path(tokens[-1]).read_text()
        for expression in tokens[2:-1:2]:
            _, old, new, _ = expression.split("#")
            text = text.replace(old, new)
        for command in text.splitlines():
            if command.strip() and not command.startswith("#"):
                run_autoseg(shlex.split(command))
        return
    run_autoseg(shlex.split(line, comments=True))


def test_readme_quick_start_runs_end_to_end(tmp_path, monkeypatch):
    for name in ("AUTOSEG_RAW", "AUTOSEG_PREPROCESSED", "AUTOSEG_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for line in quick_start_lines():
        run_line(line)

    raw = tmp_path / "autoseg_data" / "raw" / "Dataset902_BraTS2019"
    results = tmp_path / "autoseg_data" / "results" / "Dataset902_BraTS2019"
    assert (results / "inference_instructions.txt").is_file() and (results / "postprocessing.json").is_file()
    for model in ("default__plans__2d", "default__plans__3d_fullres"):
        assert all((results / model / f"fold_{fold}" / "validation" / "summary.json").is_file() for fold in range(5))
    predictions = tmp_path / "predictions"
    references = sorted((raw / "labelsTs").iterdir())
    assert len(references) == 2
    for reference in references:
        predicted, expected = read_image(predictions / reference.name), read_image(reference)
        assert predicted.geometry == expected.geometry and predicted.spatial_shape == expected.spatial_shape
        assert set(np.unique(predicted.array)) <= {0, 1, 2, 3}
    summary = (predictions / "summary.json").read_text()
    assert all(name in summary for name in ("whole_tumour", "tumour_core", "enhancing_tumour"))


@pytest.mark.parametrize("line", ["for f in 0 1; do autoseg verify -d 1 && autoseg verify -d 2; done"])
def test_the_interpreter_expands_loops(line, monkeypatch):
    seen = []
    monkeypatch.setattr(f"{__name__}.run_autoseg", seen.append)
    run_line(line)
    assert seen == [["autoseg", "verify", "-d", "1"], ["autoseg", "verify", "-d", "2"]] * 2
