"""The import structure: no module, and no package, imports another that imports it back, at module level or
inside a function (a type-only import under TYPE_CHECKING is no dependency)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
def modules() -> dict[str, Path]:
    found = {}
    for folder in ("autoseg", "planners"):
        for path in (ROOT / folder).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, known: dict[str, Path], top_level_only: bool) -> set[str]:
    """The project modules ``path`` imports (``from a.b import c`` counts a.b, and a.b.c where that is a module)."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
        for statement in node.body
        for child in ast.walk(statement)
    }
    names = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if id(node) in type_only:  # a type-only import is no runtime dependency
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name in known and known[name] != path}


def package(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "autoseg" and len(parts) > 1 else parts[0]


def test_no_two_modules_import_each_other():
    known = modules()
    graph = {name: imports(path, known, top_level_only=False) for name, path in known.items()}
    mutual = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets if a in graph[b]})
    assert mutual == []


def test_no_two_packages_import_each_other():
    known = modules()
    edges = set()
    for name, path in known.items():
        for target in imports(path, known, top_level_only=False):
            if package(name) != package(target):
                edges.add((package(name), package(target)))
    cycles = {tuple(sorted(edge)) for edge in edges if (edge[1], edge[0]) in edges}
    assert not cycles, f"packages that import each other: {cycles}"
