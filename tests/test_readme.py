from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith("# README test command"))
    command = lines[marker + 1]
    assert "pytest" in command
    assert command in (ROOT / "README.md").read_text()
