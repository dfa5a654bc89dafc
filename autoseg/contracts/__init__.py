"""Contract tests of the registries, shipped with the package so that ``autoseg check_plugins`` can run them on a
plug-in's entries (pytest needed: ``pip install 'autoseg[test]'``)."""

try:  # pytest rewrites the tests' asserts to say what failed; without pytest the tests are not run at all
    import pytest

    pytest.register_assert_rewrite("autoseg.contracts.registries", "autoseg.contracts.fixtures")
except ImportError:
    pass
