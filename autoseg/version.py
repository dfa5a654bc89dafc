"""The package version, in one place (autoseg/__init__.py exports it)."""

__version__ = "0.1.0"
