"""`python -m mlops check`: the library's command line (plugins/ on PYTHONPATH, as `make` sets it)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="every problem of every source and model file, before a run")
    parser.parse_args(argv)
    from mlops.check import main as check

    return check()


if __name__ == "__main__":
    sys.exit(main())
