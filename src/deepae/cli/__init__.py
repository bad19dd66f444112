"""The ``deepae`` command line: subcommands parsed with the standard library.

``deepae fit MODEL DATA -o model.deepae [options]`` fits a model on a data file and saves it;
``deepae transform|reconstruct|score|predict MODEL_FILE DATA [-o OUT]`` apply a saved model;
``deepae info MODEL_FILE`` describes one (without importing torch); ``deepae export
MODEL_FILE -o model.onnx`` writes its outputs as an ONNX graph; ``deepae report MODEL_FILE
DATA -o DIR`` writes an HTML page about a model on the data; ``deepae stream MODEL_FILE``
scores a live series from standard input a row at a time; ``deepae demo`` tells the
lecture's story. Heavy imports (torch, scikit-learn) happen inside the commands that need
them, so ``--help``, ``--version``, ``info`` and argument errors answer at once.

Data files are ``.npy``, ``.npz`` (``--key`` picks the array; a ``scipy.sparse.save_npz`` file
is its sparse matrix, which PCA and the linear autoencoder take; ``fit`` reads a CSR one a
chunk at a time) or ``.csv`` (a first row that is not numeric is a header; ``--target`` names
the label column); a CSV file with strings or missing cells, ``.csv.gz`` and ``.parquet`` files
are read as tables (column types inferred, ``--categorical`` names more categorical columns;
needs pandas). Outputs are ``.npy`` or ``.csv`` by the extension of ``-o`` (CSV on standard
output without ``-o``). Every error is one line on standard error, ``deepae: error: ...``, with
exit status 2 (``--debug`` shows the traceback instead).
"""

import os
import sys
import traceback
import warnings

from .commands import (
    apply_command,
    demo_command,
    export_command,
    fit_command,
    report_command,
    stream_command,
)
from .info import info_command
from .parser import UsageError, build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``deepae`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        with warnings.catch_warnings():  # restores showwarning afterwards
            warnings.showwarning = _show_warning
            args = build_parser().parse_args(argv)
            return run(args)
    except KeyboardInterrupt:
        print("deepae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `deepae transform ... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # noqa: BLE001 - one line, never a traceback
        if debug:
            traceback.print_exc()
        print(f"deepae: error: {describe_error(error)}", file=sys.stderr)
        return 2


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line each: ``deepae: warning: ...``."""
    print(f"deepae: warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def describe_error(error: BaseException) -> str:
    """One line for an exception."""
    if isinstance(error, KeyError) and error.args:
        message = str(error.args[0])
    elif isinstance(error, FileNotFoundError) and error.filename:
        message = f"no such file: {error.filename}"
    elif isinstance(error, OSError) and error.filename and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    if not isinstance(error, (ValueError, TypeError, OSError, KeyError, ImportError,
                              UsageError)):
        message = f"{type(error).__name__}: {message}"
    return " ".join(message.split())


def run(args) -> int:
    if args.command == "demo":
        demo_command(args)
    elif args.command == "fit":
        fit_command(args)
    elif args.command == "info":
        info_command(args.model_file)
    elif args.command == "export":
        export_command(args)
    elif args.command == "report":
        report_command(args)
    elif args.command == "stream":
        stream_command(args)
    else:
        apply_command(args)
    return 0
