"""The ``autoseg`` command: the parser built from the command modules (autoseg/commands), and error handling."""

from __future__ import annotations

import argparse
import sys
import traceback

from autoseg.allocator import keep_freed_memory
from autoseg.commands.common import EXIT_USAGE
from autoseg.errors import AutosegError
from autoseg.plugins import load_plugins
from autoseg.version import __version__


def build_parser() -> argparse.ArgumentParser:
    from autoseg.commands import MODULES
    from autoseg.commands.nnunet_spellings import add_nnunet_spellings

    parser = argparse.ArgumentParser(prog="autoseg", description="Self-configuring deep learning for medical images.")
    parser.add_argument("--version", action="version", version=f"autoseg {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in MODULES:
        module.add_commands(commands)
    for name, subparser in commands.choices.items():
        add_nnunet_spellings(name, subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 1 problems found, 2 bad input)."""
    try:
        load_plugins()  # before the parser lists what the registries hold
    except AutosegError as error:
        print(f"autoseg: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # the CPU's feature maps reused, not page-faulted in anew (autoseg/allocator.py)
    try:
        return args.run(args)
    except AutosegError as error:
        if args.verbose:
            traceback.print_exc()
        print(f"autoseg {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a folder not writable, a disk full, a path through a file
        if args.verbose:
            traceback.print_exc()
        where = f" {error.filename}" if error.filename else ""
        print(
            f"autoseg {args.command}: error: cannot use{where}: {error.strerror or error}. Check that the path exists, "
            "is a folder where one is expected, is writable and that the disk has space.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:  # worker processes ignore Ctrl-C (autoseg.parallel.ignore_interrupt): one line, no tracebacks
        resume = getattr(args, "on_interrupt", None)
        print(f"autoseg {args.command}: interrupted" + (f"; {resume}." if resume else "."), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
