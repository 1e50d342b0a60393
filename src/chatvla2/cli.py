"""The `chatvla2` command. Each subpackage may offer subcommands in `commands.py` or `*_commands.py`.

Such a module defines COMMANDS: {name: (help, add_arguments(parser), run(args) -> int)}
and imports its heavy dependencies (torch, rclpy, mujoco) inside `run`, so `chatvla2 --help`
stays fast and a missing optional dependency only affects its own command.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

SUBPACKAGES_WITH_COMMANDS = ("ros", "model", "policy", "sim", "data", "train", "control")


def discover_commands() -> dict:
    commands = {}
    for subpackage in SUBPACKAGES_WITH_COMMANDS:
        package = importlib.import_module(f"chatvla2.{subpackage}")
        for info in pkgutil.iter_modules(package.__path__):
            if info.name == "commands" or info.name.endswith("_commands"):
                module = importlib.import_module(f"chatvla2.{subpackage}.{info.name}")
                commands.update(module.COMMANDS)
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatvla2", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in sorted(discover_commands().items()):
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (OSError, ValueError, RuntimeError) as error:
        # Bad input (a missing file, a corrupt checkpoint, a wrong parameter) is the user's to
        # fix: say what and where in one line. CHATVLA2_TRACEBACK=1 shows the full traceback.
        if os.environ.get("CHATVLA2_TRACEBACK"):
            raise
        print(f"chatvla2 {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
