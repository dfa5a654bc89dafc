"""Segmentation, regression and classification differ only inside autoseg/tasks (where each kind also registers its
raw references' format with autoseg/dataset/references.py): this scan fails on any branch on the task's
kind elsewhere in the package (a comparison with a kind's name or with a dataset's or plans'
``task``, an isinstance check against a task class, the kind attributes the task object replaced), and on the
side signals that stood for a kind: the task's ``target_resampling`` (None meant "writes a table", "linear"
meant "float images"), a result's ``label`` tested against None, and a summary's kind-specific keys tested for."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIND_NAMES = {"segmentation", "regression", "classification"}
TASK_CLASSES = {"SegmentationTask", "RegressionTask", "ClassificationTask"}
REPLACED_ATTRIBUTES = {"target_kind", "dense_output", "target_resampling"}
SUMMARY_KEYS = {"classes", "dice", "metrics", "baseline"}  # which kind wrote a summary, read from its keys
SUMMARIES = {"summary", "validation", "test", "present"}


def _is_kind_operand(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and node.value in KIND_NAMES:
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_kind_operand(element) for element in node.elts)
    return isinstance(node, ast.Attribute) and node.attr == "task"


def _is_side_signal(node: ast.Compare) -> bool:
    """``x.label is (not) None``, or ``"classes" in summary`` and the like."""
    operands = [node.left, *node.comparators]
    if any(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
        return any(isinstance(o, ast.Attribute) and o.attr == "label" for o in operands) and any(
            isinstance(o, ast.Constant) and o.value is None for o in operands
        )
    if any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
        container = node.comparators[0]
        name = container.attr if isinstance(container, ast.Attribute) else getattr(container, "id", "")
        return isinstance(node.left, ast.Constant) and node.left.value in SUMMARY_KEYS and name in SUMMARIES
    return False


def kind_branches(path: Path) -> list[str]:
    """Lines of ``path`` that branch on a task kind."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare) and any(_is_kind_operand(operand) for operand in [node.left, *node.comparators]):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        elif isinstance(node, ast.Compare) and _is_side_signal(node):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} (side signal)")
        elif isinstance(node, ast.Attribute) and node.attr in REPLACED_ATTRIBUTES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} ({node.attr})")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
            classes = node.args[1] if len(node.args) == 2 else None
            names = {getattr(element, "id", None) for element in getattr(classes, "elts", [classes])}
            if names & TASK_CLASSES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} (isinstance)")
    return sorted(found, key=lambda line: int(line.split(":")[1].split()[0]))


def test_no_module_outside_autoseg_tasks_branches_on_the_task_kind():
    sources = [p for folder in ("autoseg", "planners", "dataset_conversion") for p in sorted((ROOT / folder).rglob("*.py"))]
    branches = {}
    for path in sources:
        relative = path.relative_to(ROOT).as_posix()
        # autoseg/contracts holds tests (shipped for autoseg check_plugins) that feed each kind its own inputs
        if not relative.startswith(("autoseg/tasks/", "autoseg/contracts/")):
            lines = kind_branches(path)
            if lines:
                branches[relative] = lines
    assert not branches, f"branches on the task kind outside autoseg/tasks (ask the task object or its reference format): {branches}"


def test_the_scan_finds_each_kind_of_branch(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "if spec.task == 'regression':\n    pass\n"
        "x = 1 if kind in ('segmentation', 'other') else 2\n"
        "y = task.target_kind\n"
        "z = isinstance(task, ClassificationTask)\n"
        "w = task.target_resampling == 'label'\n"
        "if result.label is not None:\n    pass\n"
        "v = 'classes' in summary\n"
        "u = 'case' in row\n"  # not a kind's key
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert kind_branches(sample) == [
            "sample.py:1",
            "sample.py:3",
            "sample.py:4 (target_kind)",
            "sample.py:5 (isinstance)",
            "sample.py:6 (target_resampling)",
            "sample.py:7 (side signal)",
            "sample.py:9 (side signal)",
        ]
    finally:
        ROOT = saved
