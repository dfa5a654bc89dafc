"""The contract tests' fixtures when they run from the package (autoseg check_plugins)."""

from autoseg.contracts.fixtures import pet_tiny, stand_in_cache  # noqa: F401  (fixtures)
