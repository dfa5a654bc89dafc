"""benchmarks/gpu_suite.py in its quick CPU form: every step runs and reports, so the suite a lent GPU runs cannot rot."""

import json
import math

from benchmarks.gpu_suite import STEPS, main


def test_the_quick_gpu_suite_runs_every_step_on_the_cpu(tmp_path, capsys):
    output = tmp_path / "suite.json"
    assert main(["--device", "cpu", "--quick", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    rows = {}
    for row in result["rows"]:
        rows.setdefault(row["step"], []).append(row)
    assert list(rows) == list(STEPS)
    assert [row["case"] for row in rows["speed"]] == [
        "spine 2d default",
        "spine 2d resenc_m",
        "brats 3d_fullres default",
        "brats 3d_fullres resenc_m",
    ]
    assert len(rows["memory"]) == 3 and len(rows["augmentation"]) == 2 and len(rows["oom_fallback"]) == 3
    for row in result["rows"]:
        assert isinstance(row["value"], float) and math.isfinite(row["value"]) and row["value"] >= 0, row
    timed = ("speed", "memory", "augmentation", "prediction", "oom_fallback", "compile")
    assert all(row["value"] > 0 for step in timed for row in rows[step])
    assert [row["note"].split(";")[0] for row in rows["oom_fallback"]] == ["1 accumulation(s)", "1 accumulation(s)", "2 accumulation(s)"]
    # the CPU is deterministic: two runs of one fold with one seed end with identical weights
    assert rows["determinism"][0]["value"] == 0.0
    table = capsys.readouterr().out
    assert "| speed | spine 2d default |" in table and f"wrote {output}" in table
