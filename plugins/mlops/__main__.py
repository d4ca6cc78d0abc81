"""`python -m mlops <command>`: the library's command line (plugins/ on PYTHONPATH, as `make` sets it).

Commands are modules loaded by name when run, so `--help` imports none of them (`check` imports
scikit-learn and Great Expectations); each has a `main() -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {"check": ("mlops.check", "every problem of every source and model file at once, before a run")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text)
    args = parser.parse_args(argv)
    return importlib.import_module(COMMANDS[args.command][0]).main()


if __name__ == "__main__":
    sys.exit(main())
