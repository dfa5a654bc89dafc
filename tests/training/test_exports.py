"""autoseg.training imports its names on first use; its stub (__init__.pyi) states them for IDEs and type
checkers. The two must name the same objects."""

import ast
import importlib
from pathlib import Path

import autoseg.training as training

STUB = Path(training.__file__).with_suffix(".pyi")


def test_the_stub_states_every_export_and_each_is_the_object_the_package_gives():
    tree = ast.parse(STUB.read_text())
    stated = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert sorted(stated) == sorted(training.__all__)
    for name, (module, original) in stated.items():
        assert getattr(training, name) is getattr(importlib.import_module(module), original), name
