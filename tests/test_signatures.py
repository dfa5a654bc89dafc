"""Wide signatures are keyword-only: a function or method taking more than five parameters takes at most the three
a reader expects in order positionally, the rest by name (TorchIO's rule; ``self`` and ``cls`` not counted)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDE = 5
POSITIONAL = 3


def wide_positional(path: Path) -> list[str]:
    """The functions of ``path`` over WIDE parameters that take more than POSITIONAL of them positionally."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            positional = node.args.posonlyargs + node.args.args
            if positional and positional[0].arg in ("self", "cls"):
                positional = positional[1:]
            if len(positional) + len(node.args.kwonlyargs) > WIDE and len(positional) > POSITIONAL:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(positional)} positional)")
    return found


def test_wide_signatures_are_keyword_only_after_three():
    sources = [path for folder in ("autoseg", "planners", "dataset_conversion") for path in sorted((ROOT / folder).rglob("*.py"))]
    assert [line for path in sources for line in wide_positional(path)] == []


def test_the_scan_finds_a_wide_positional_signature(tmp_path):
    global ROOT
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def wide(a, b, c, d, e, f): ...\n"
        "def keyword(a, b, c, *, d, e, f): ...\n"
        "def narrow(a, b, c, d, e): ...\n"
        "class K:\n    def method(self, a, b, c, d, *, e, f): ...\n"
    )
    saved, ROOT = ROOT, tmp_path
    try:
        assert wide_positional(sample) == ["sample.py:1 wide (6 positional)", "sample.py:5 method (4 positional)"]
    finally:
        ROOT = saved
