import pytest

from autoseg.errors import AutosegError
from autoseg.registry import Registry


def test_unknown_names_list_the_known_ones_and_duplicates_are_refused():
    registry: Registry[int] = Registry("widget")
    registry.register("b")(2)
    registry.add("a", 1)
    assert registry.get("a") == 1 and registry.names() == ["a", "b"] and sorted(registry) == [1, 2]
    with pytest.raises(AutosegError, match="unknown widget 'c'; known: a, b"):
        registry.get("c")
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 3)


@pytest.mark.parametrize(
    "getter, name",
    [
        ("planners:get_planner", "default"),
        ("autoseg.tasks:get_task", "regression"),
        ("autoseg.preprocessing.normalisation:get_scheme", "ct"),
        ("dataset_conversion.converters:get_converter", "brats2019"),
        ("dataset_conversion.synthetic:get_stand_in", "spine"),
    ],
)
def test_every_registry_is_filled_on_import(getter, name):
    import importlib

    module, function = getter.split(":")
    assert getattr(importlib.import_module(module), function)(name) is not None
