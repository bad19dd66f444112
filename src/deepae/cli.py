"""The ``deepae`` command line: subcommands parsed with the standard library."""

import argparse
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="deepae", description="Deep learning with autoencoders (PyTorch, scikit-learn API)."
    )
    parser.add_argument("--version", action="version", version=f"deepae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the lecture's story on the bundled digits")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepae`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        run_demo(seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
