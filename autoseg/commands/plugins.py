"""``autoseg check_plugins``: the registries' contract tests, run on what the loaded plug-ins registered."""

from __future__ import annotations

import argparse
import os

from autoseg.commands.common import EXIT_USAGE
from autoseg.errors import AutosegError


def cmd_check_plugins(args: argparse.Namespace) -> int:
    from autoseg.plugins import load_plugins

    loaded = load_plugins()
    if not loaded:
        raise AutosegError(
            "no plug-in is loaded: name yours in AUTOSEG_PLUGINS (a module in the current folder or on PYTHONPATH) or install "
            "the package whose entry point (group autoseg.plugins) names it, then run autoseg check_plugins again."
        )
    try:
        import pytest
    except ImportError:
        raise AutosegError("autoseg check_plugins runs the contract tests with pytest: pip install 'autoseg[test]'.") from None
    print(f"contract tests of what {', '.join(loaded)} registered:", flush=True)
    os.environ["AUTOSEG_CONTRACTS"] = "plugins"
    options = ["-q", "-p", "no:cacheprovider", "-rN", *(["-x"] if args.exitfirst else [])]
    status = pytest.main([*options, "--pyargs", "autoseg.contracts.registries"])
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        covered = "trainers, losses, optimisers, schedules, networks, planners, normalisation schemes, task kinds"
        print(f"the plug-ins registered nothing the contract tests cover ({covered})")
        return EXIT_USAGE
    return int(status)


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    check = commands.add_parser(
        "check_plugins",
        help="run the registries' contract tests on the loaded plug-ins' entries",
        description="Runs the contract tests every built-in trainer, loss, optimiser, schedule, network, planner, normalisation "
        "scheme and task kind passes on what the loaded plug-ins (AUTOSEG_PLUGINS, entry points) registered; exits 1 if any "
        "fails. Needs pytest (pip install 'autoseg[test]').",
    )
    check.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    check.set_defaults(run=cmd_check_plugins)
