"""The ``autoseg`` subcommands, one module per group: each adds its parsers (``add_commands``) and runs a
command in a few lines over a Python API function."""

from autoseg.commands import data, demo, evaluate, plugins, predict, share, train

MODULES = (data, train, predict, share, evaluate, demo, plugins)

__all__ = ["MODULES"]
