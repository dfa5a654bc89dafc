"""The import structure: no module, and no package, imports another that imports it back, directly or through any
chain of imports, at module level or inside a function (a type-only import under TYPE_CHECKING is no dependency);
and the three top-level packages depend one way: planners and dataset_conversion use autoseg's library, and of
autoseg only its entry points (named below) use them."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The autoseg modules that may use the other top-level packages: they run whole stages or the CLI.
USES_PLANNERS = {"autoseg.plan_and_preprocess", "autoseg.commands", "autoseg.contracts"}
USES_DATASET_CONVERSION = {"autoseg.commands", "autoseg.demo", "autoseg.contracts"}


def modules(folders=("autoseg", "planners")) -> dict[str, Path]:
    found = {}
    for folder in folders:
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


def package_graph() -> dict[str, set[str]]:
    """{package: the packages it imports}, over autoseg's packages (autoseg.X) and the other top-level ones."""
    known = modules(("autoseg", "planners", "dataset_conversion"))
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        for target in imports(path, known, top_level_only=False):
            if package(name) != package(target):
                graph.setdefault(package(name), set()).add(package(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node: every import cycle, whatever its length."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_of_any_length_between_packages():
    assert cycles(package_graph()) == []


def test_the_scan_finds_a_cycle_of_three():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_planners_and_dataset_conversion_are_used_only_by_autosegs_entry_points():
    graph = package_graph()
    users = {
        target: sorted(source for source, targets in graph.items() if target in targets and source.startswith("autoseg"))
        for target in ("planners", "dataset_conversion")
    }
    assert set(users["planners"]) <= USES_PLANNERS, users["planners"]
    assert set(users["dataset_conversion"]) <= USES_DATASET_CONVERSION, users["dataset_conversion"]
