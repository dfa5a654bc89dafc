"""The registries' contract tests (autoseg/contracts/registries.py, shipped for ``autoseg check_plugins``), run here
on every registered entry."""

from autoseg.contracts.registries import *  # noqa: F403  (the tests and their fixtures)
