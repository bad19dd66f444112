"""The ``deepae`` command line: subcommands parsed with the standard library.

``deepae fit MODEL DATA -o model.deepae [options]`` fits a model on a data file and saves it;
``deepae transform|reconstruct|score|predict MODEL_FILE DATA [-o OUT]`` apply a saved model;
``deepae info MODEL_FILE`` describes one (without importing torch); ``deepae export
MODEL_FILE -o model.onnx`` writes its outputs as an ONNX graph; ``deepae report MODEL_FILE
DATA -o DIR`` writes an HTML page about a model on the data; ``deepae demo`` tells the
lecture's story. Heavy imports (torch, scikit-learn) happen inside the commands that need
them, so ``--help``, ``--version``, ``info`` and argument errors answer at once.

Data files are ``.npy``, ``.npz`` (``--key`` picks the array; a ``scipy.sparse.save_npz`` file is
its sparse matrix, which PCA and the linear autoencoder take) or ``.csv`` (a first row that is
not numeric is a header; ``--target`` names the label column); a CSV file with strings or
missing cells, ``.csv.gz`` and ``.parquet`` files are read as tables (column types inferred,
``--categorical`` names more categorical columns; needs pandas). Outputs are ``.npy`` or
``.csv`` by the extension of ``-o`` (CSV on standard output without ``-o``). Every error is
one line on standard error, ``deepae: error: ...``, with exit status 2 (``--debug`` shows
the traceback instead).
"""

import argparse
import json
import os
import sys
import time
import traceback
import warnings

import numpy as np

from . import __version__
from .datafiles import (
    OUTPUT_SUFFIXES,
    check_output_path,
    read_data,
    read_series,
    scipy_sparse,
    why_not_numbers,
    write_output,
)

#: Command-line model names and the deepae classes they stand for (looked up lazily, so a
#: class appears here as soon as it exists in the package).
MODELS = {
    "pca": "PCA",
    "linear": "LinearAutoencoder",
    "autoencoder": "Autoencoder",
    "denoising": "DenoisingAutoencoder",
    "stacked": "StackedAutoencoder",
    "classifier": "DeepClassifier",
    "regressor": "DeepRegressor",
    "outliers": "ReconstructionOutlierDetector",
    "rbm": "RBM",
    "vae": "VariationalAutoencoder",
    "conv": "ConvolutionalAutoencoder",
    "timeseries": "TimeSeriesOutlierDetector",
}


class UsageError(Exception):
    """A bad command line (reported like every other error: one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# --- option values --------------------------------------------------------------------------


def _n_components(text: str):
    if text.lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: give an int, a fraction in (0, 1) or 'none'") from None


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        sizes = ()
    if not sizes:
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}: give layer sizes separated by commas, e.g. 64,32")
    return sizes


def _dimensions(text: str) -> tuple[int, ...]:
    """The numbers of ``AxBxC``; empty when the text is not of that form."""
    parts = [part.strip() for part in text.lower().split("x")]
    return tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else ()


def _image_shape(text: str) -> tuple[int, int]:
    shape = _dimensions(text)
    if len(shape) != 2:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give HEIGHTxWIDTH, e.g. 8x8")
    return shape


def _channels_image_shape(text: str) -> tuple[int, int, int]:
    shape = _dimensions(text)
    if len(shape) not in (2, 3):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give CHANNELSxHEIGHTxWIDTH "
                                         "(e.g. 1x28x28) or HEIGHTxWIDTH")
    return shape if len(shape) == 3 else (1, *shape)


def _optional_name(text: str):
    return None if text.lower() == "none" else text


def _auto_or_bool(text: str):
    value = {"auto": "auto", "true": True, "false": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: use auto, true or false")
    return value


def _auto_or(convert, what: str):
    """An argparse type: ``"auto"``, or the text converted by ``convert`` (``what`` names it)."""
    def parse(text: str):
        if text.lower() == "auto":
            return "auto"
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: use auto or {what}") from None
    return parse


_auto_or_int = _auto_or(int, "an integer")
_auto_or_float = _auto_or(float, "a number")


def _param(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name.replace("__", "_").replace("_", "a").isalnum():
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: use NAME=VALUE")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
    return name, value


#: Parameters that ``deepae fit outliers`` gives to the detector and to its model alike.
SHARED_PARAMS = ("random_state", "device")

#: ``deepae fit`` options that set an estimator parameter: (flag, parameter, argparse kwargs).
PARAM_OPTIONS = [
    ("--n-components", "n_components",
     {"type": _n_components, "help": "code size, or the fraction of variance to keep (pca, "
      "linear)"}),
    ("--center", "center", {"action": argparse.BooleanOptionalAction,
                            "help": "subtract the mean (linear)"}),
    ("--whiten", "whiten", {"action": argparse.BooleanOptionalAction,
                            "help": "unit-variance codes (pca)"}),
    ("--svd-solver", "svd_solver", {"help": "auto, covariance_eigh, randomized, gram or full "
                                    "(pca, linear)"}),
    ("--hidden-size", "hidden_size", {"type": int, "help": "code size (autoencoder, denoising)"}),
    ("--image-shape", "image_shape",
     {"type": _channels_image_shape, "metavar": "CxHxW", "help": "rows are images of C "
      "channels of H×W pixels, e.g. 1x28x28 (conv; vae: for --decoder-blur; classifier "
      "and regressor: a convolutional first stage, set further with --param "
      "encoder__NAME=VALUE)"}),
    ("--hidden-layer-sizes", "hidden_layer_sizes",
     {"type": _sizes, "metavar": "N,N,...", "help": "layer sizes, e.g. 64,32 (stacked, "
      "classifier, regressor)"}),
    ("--activation", "activation", {"help": "tanh, sigmoid, relu or linear"}),
    ("--output-activation", "output_activation", {"help": "linear or sigmoid"}),
    ("--loss", "loss", {"help": "squared_error or binary_cross_entropy"}),
    ("--tied", "tied", {"action": argparse.BooleanOptionalAction,
                        "help": "decoder = encoder transposed"}),
    ("--bias", "bias", {"action": argparse.BooleanOptionalAction, "help": "learn biases"}),
    ("--noise", "noise", {"type": _optional_name,
                          "help": "masking, gaussian, salt_and_pepper or none"}),
    ("--noise-level", "noise_level", {"type": float, "help": "corruption level"}),
    ("--pretraining", "pretraining", {"type": _optional_name,
                                      "help": "denoising, autoencoder, sparse, contractive, "
                                      "rbm or none (stacked, classifier, regressor)"}),
    ("--optimizer", "optimizer", {"help": "adam or sgd"}),
    ("--learning-rate", "learning_rate", {"type": float}),
    ("--weight-decay", "weight_decay", {"type": _auto_or_float}),
    ("--batch-size", "batch_size", {"type": int}),
    ("--max-epochs", "max_epochs", {"type": int}),
    ("--patience", "patience", {"type": int}),
    ("--early-stopping", "early_stopping", {"action": argparse.BooleanOptionalAction}),
    ("--validation-fraction", "validation_fraction", {"type": float}),
    ("--contamination", "contamination", {"type": float,
                                          "help": "expected fraction of outliers (outliers)"}),
    ("--scaling", "scaling", {"type": _optional_name,
                              "help": "scaling: auto, standard (columns), rows (each row "
                              "to the mean norm) or none (outliers)"}),
    ("--code-density", "code_density", {"type": _auto_or_bool, "help": "add the Gaussian "
                                        "density of the codes: auto, true or false (outliers)"}),
    ("--density-trim", "density_trim", {"type": float, "help": "fraction of the training rows "
                                        "left out of the code density's fit (outliers)"}),
    ("--residual-blur", "residual_blur", {"type": _auto_or_float, "help": "blur of the "
                                          "residual images in pixels: auto or a number "
                                          "(outliers with an image model)"}),
    ("--relative-error", "relative_error", {"type": _auto_or_bool, "help": "divide the error "
                                            "by the row's energy: auto, true or false "
                                            "(outliers)"}),
    ("--decoder-blur", "decoder_blur", {"type": float, "help": "Gaussian decoder of residuals "
                                        "blurred by this many pixels (vae; images: "
                                        "--image-shape)"}),
    ("--n-models", "n_models", {"type": _auto_or_int, "help": "autoencoders in the ensemble "
                                "whose scores are combined: auto or a number (outliers)"}),
    ("--combine", "combine", {"help": "how the ensemble's scores are combined: median or mean "
                              "(outliers)"}),
    ("--n-neighbors", "n_neighbors", {"type": _auto_or_int, "help": "the neighbour term's k "
                                      "(distance to the k-th nearest training row; 0: none): "
                                      "auto or a number (outliers)"}),
    ("--channel-error", "channel_error", {"choices": ("max", "mean", "sum"), "help": "how "
                                          "the channels' window errors combine: max or mean "
                                          "of each relative to its training error, or sum "
                                          "(timeseries)"}),
    ("--indicators", "indicators", {"choices": ("range", "standard"), "help": "how channels "
                                    "with two values in training (on/off flags) are scaled: "
                                    "range (by their gap) or standard (timeseries)"}),
    ("--trim-fraction", "trim_fraction", {"type": float, "help": "trimmed loss: fraction of "
                                          "each batch left out (autoencoder, denoising)"}),
    ("--random-state", "random_state", {"type": int, "help": "seed for repeatable runs"}),
    ("--device", "device", {"help": "auto, cpu or cuda"}),
    ("--checkpoint", "checkpoint", {"metavar": "DIR", "help": "directory for checkpoints: the "
                                    "same command run again resumes a killed fit"}),
]


# --- the parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    parser = _Parser(
        prog="deepae", parents=[common],
        description="Deep learning with autoencoders (PyTorch, scikit-learn API).",
    )
    parser.add_argument("--version", action="version", version=f"deepae {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", parents=[common],
                               help="the lecture's story on the bundled digits")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--out", metavar="DIR", default=None,
                      help="directory of the report (default: the demo's own)")
    demo.add_argument("--quick", action="store_true", default=None,
                      help="a smaller, faster run")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--key", help="array name in a .npz file (default: its only array, or X; "
                      "a scipy.sparse.save_npz file is its sparse matrix)")
    data.add_argument("--target", metavar="COLUMN",
                      help="label column (CSV header name or 0-based index; for .npz also an "
                      "array name): used as y by fit, dropped from X by every command")
    data.add_argument("--categorical", metavar="COLUMNS", type=lambda text: text.split(","),
                      help="comma-separated columns read as categories (default: the columns "
                      "that hold other things than numbers)")
    data.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")

    fit = commands.add_parser(
        "fit", parents=[common, data], help="fit a model and save it",
        usage="deepae fit MODEL DATA -o OUT [options]",
        description="Fit MODEL on DATA and save it to OUT. Options left out keep the "
        "estimator's defaults; an option the model does not have is an error.",
    )
    fit.add_argument("model", metavar="MODEL", help=", ".join(MODELS))
    fit.add_argument("data", metavar="DATA", help="training data (.npy, .npz or .csv)")
    fit.add_argument("-o", "--output", required=True, metavar="OUT",
                     help="model file to write (e.g. model.deepae)")
    fit.add_argument("--shard", action="store_true",
                     help="under torchrun: each process fits on its own contiguous slice of "
                     "DATA's rows (the model is that of all of DATA; rank 0 writes it)")
    params = fit.add_argument_group("model parameters")
    for flag, dest, kwargs in PARAM_OPTIONS:
        if "action" not in kwargs:
            kwargs = {"metavar": dest.upper(), **kwargs}
        params.add_argument(flag, dest=f"param_{dest}", default=argparse.SUPPRESS, **kwargs)
    params.add_argument("--base-model", choices=[m for m in MODELS
                                                 if m not in ("outliers", "timeseries")],
                     help="the model whose reconstruction error scores outliers (outliers); "
                     "options it has and the detector lacks go to it")
    params.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                     help="any estimator parameter (VALUE parsed as JSON when it can be; "
                     "model__NAME for the outlier detector's model); repeatable")

    apply = {
        "transform": "encode DATA: the model's codes",
        "reconstruct": "inverse_transform(transform(DATA)): the reconstructions",
        "score": "per-sample reconstruction error (outlier score for outlier detectors, "
                 "minus the log-likelihood estimate for a variational autoencoder); higher is "
                 "more atypical",
        "predict": "predictions (labels, values, or -1/1 for outlier detectors)",
    }
    for name, text in apply.items():
        command = commands.add_parser(name, parents=[common, data], help=text, description=text)
        command.add_argument("model_file", metavar="MODEL_FILE", help="a saved model")
        command.add_argument("data", metavar="DATA", help="data (.npy, .npz or .csv)")
        command.add_argument("-o", "--output", metavar="OUT",
                             help="output .npy or .csv (default: CSV on standard output)")
        if name == "predict":
            command.add_argument("--proba", action="store_true",
                                 help="class probabilities instead of labels (classifier)")

    info = commands.add_parser("info", parents=[common], help="describe a saved model")
    info.add_argument("model_file", metavar="MODEL_FILE")

    report = commands.add_parser(
        "report", parents=[common, data], help="an HTML page about a saved model on DATA",
        description="Write DIR/index.html: one self-contained page about MODEL_FILE on DATA "
        "(learning curves, reconstruction errors and threshold, most atypical rows, a map "
        "of the codes colored by --target or by the error, images with --image-shape).")
    report.add_argument("model_file", metavar="MODEL_FILE", help="a saved model")
    report.add_argument("data", metavar="DATA", help="data (.npy, .npz or .csv)")
    report.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="folder of the page (created if needed)")
    report.add_argument("--image-shape", type=_image_shape, metavar="HxW",
                        help="rows are images of this shape: draw filters and reconstructions")
    report.add_argument("--max-rows", type=int, default=5000, metavar="N",
                        help="sample larger data at random to N rows (default 5000)")

    export = commands.add_parser(
        "export", parents=[common], help="write a saved model's outputs as an ONNX graph",
        description="Write MODEL_FILE's transform and scores (or class probabilities, or "
        "predictions) as one ONNX graph: float32 input X of shape (batch, features), one "
        "output per method. Needs pip install 'deepae[onnx]'.")
    export.add_argument("model_file", metavar="MODEL_FILE", help="a saved model")
    export.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="ONNX file to write (e.g. model.onnx)")
    export.add_argument("-q", "--quiet", action="store_true", help="no summary")
    return parser


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
    else:
        apply_command(args)
    return 0


def demo_command(args) -> None:
    """``run_demo(seed=...)``, plus ``out``/``quick`` when given (and ``run_demo`` has them)."""
    import inspect

    from . import demo

    accepted = inspect.signature(demo.run_demo).parameters
    kwargs = {"seed": args.seed}
    for name in ("out", "quick"):
        value = getattr(args, name)
        if value is None:
            continue
        if name not in accepted:
            raise UsageError(f"deepae demo --{name} is not available in this version")
        kwargs[name] = value
    demo.run_demo(**kwargs)


# --- models ---------------------------------------------------------------------------------


def model_class(name: str) -> type:
    """The estimator class of a command-line model name."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    from .persistence import estimator_class

    cls = estimator_class(MODELS[name])
    if cls is None:
        raise UsageError(f"model {name!r} is not available in this version of deepae "
                         f"({__version__})")
    return cls


def build_estimator(args):
    """The estimator of ``deepae fit`` with the command line's parameters."""
    estimator = model_class(args.model)()  # first: an unknown name needs no heavy import
    from sklearn.base import clone

    settings = {}  # parameter -> (value, how the user named it)
    for flag, dest, _ in PARAM_OPTIONS:
        if hasattr(args, f"param_{dest}"):  # given, possibly as none
            settings[dest] = (getattr(args, f"param_{dest}"), flag)
    for name, value in args.param:
        settings[name] = (value, f"--param {name}")
    if args.base_model is not None:
        if "model" not in estimator.get_params(deep=False):
            raise UsageError(f"--base-model does not apply to model {args.model!r}")
        estimator.set_params(model=model_class(args.base_model)())
    if "model" in settings and not hasattr(settings["model"][0], "fit"):
        value, how = settings.pop("model")
        estimator.set_params(model=model_class(str(value))())
    nested = estimator.get_params(deep=False).get("model")
    if hasattr(nested, "fit"):
        estimator.set_params(model=clone(nested))
    if "image_shape" in settings and "encoder" in estimator.get_params(deep=False):
        value, _ = settings.pop("image_shape")
        estimator.set_params(encoder=model_class("conv")(image_shape=value))

    params = {}
    for name, (value, how) in settings.items():
        accepted = estimator.get_params(deep=True)
        own = estimator.get_params(deep=False)
        if name in own or ("__" in name and name in accepted):
            params[name] = value
            if name in SHARED_PARAMS and f"model__{name}" in accepted:
                params[f"model__{name}"] = value
        elif f"model__{name}" in accepted:
            params[f"model__{name}"] = value
        else:
            hint = (" (give --base-model to set the detector's model)"
                    if "model" in own and not hasattr(own["model"], "fit") else "")
            raise UsageError(f"option {how} does not apply to model {args.model!r} "
                             f"({type(estimator).__name__}){hint}")
    estimator.set_params(**params)
    return estimator


def set_verbose(estimator, level: int) -> dict:
    """Set every ``verbose`` parameter (also of nested models); return the previous values."""
    previous = {k: v for k, v in estimator.get_params(deep=True).items()
                if k == "verbose" or k.endswith("__verbose")}
    estimator.set_params(**dict.fromkeys(previous, level))
    return previous


# --- commands -------------------------------------------------------------------------------


def fit_command(args) -> None:
    check_output_path(args.output, (), what="model file")
    estimator = build_estimator(args)
    from sklearn.base import is_classifier, is_regressor

    from . import distributed, persistence

    if args.model == "timeseries":
        X, y = read_series(args.data, key=args.key)[0], None
    else:
        X, y, _ = read_data(args.data, key=args.key, target=args.target,
                            categorical=args.categorical)
        if not (isinstance(X, np.ndarray) or scipy_sparse(X) or takes_tables(estimator)):
            raise UsageError(f"{why_not_numbers(X, args.data)}; model {args.model!r} takes "
                             "numbers only (autoencoder, denoising and outliers take tables)")
    if (is_classifier(estimator) or is_regressor(estimator)) and y is None:
        raise UsageError(f"model {args.model!r} learns from labels: name their column with "
                         "--target COLUMN")
    n_samples = X.shape[0]
    if args.shard:
        rows = distributed.shard(n_samples)
        X, y = X[rows], None if y is None else y[rows]
    quiet = args.quiet or not distributed.is_main()
    previous = set_verbose(estimator, 0 if quiet else 1)
    start = time.perf_counter()
    if y is None:
        estimator.fit(X)
    else:
        estimator.fit(X, y)
    seconds = time.perf_counter() - start
    estimator.set_params(**previous)
    persistence.save(estimator, args.output)
    if not quiet:
        print(f"fitted {type(estimator).__name__} on {n_samples} samples × {X.shape[1]} "
              f"features in {seconds:.1f} s; saved to {args.output}")


def takes_tables(estimator) -> bool:
    """Whether ``estimator`` fits tables with strings and missing cells (an autoencoder, or
    an outlier detector of one)."""
    from .autoencoder import Autoencoder

    model = estimator.get_params().get("model", estimator) if hasattr(
        estimator, "contamination") else estimator
    return model is None or isinstance(model, Autoencoder)


def apply_command(args) -> None:
    from . import persistence

    if args.output is not None:
        check_output_path(args.output, OUTPUT_SUFFIXES, what="output file")
    model = persistence.load(args.model_file)
    X, _, columns = read_model_data(model, args)
    if args.command == "transform":
        require(model, "transform", args.command)
        result = model.transform(X)
        header = feature_names_out(model, result.shape[1])
    elif args.command == "reconstruct":
        require(model, "transform", args.command)
        require(model, "inverse_transform", args.command)
        result = model.inverse_transform(model.transform(X))
        header = columns or [f"x{i}" for i in range(result.shape[1])]
    elif args.command == "score":
        result, header = outlier_scores(model, X)
    elif args.proba:
        require(model, "predict_proba", "predict --proba")
        result = model.predict_proba(X)
        classes = getattr(model, "classes_", range(result.shape[1]))
        header = [f"proba_{c}" for c in classes]
    else:
        require(model, "predict", args.command)
        result = np.asarray(model.predict(X))
        header = ["prediction"] if result.ndim == 1 else [
            f"prediction{i}" for i in range(result.shape[1])]
    write_output(np.asarray(result), args.output, header)


def report_command(args) -> None:
    from . import figures, persistence

    if args.max_rows < 1:
        raise UsageError(f"--max-rows must be positive, got {args.max_rows}")
    figures.check_matplotlib("deepae report")
    model = persistence.load(args.model_file)
    if is_time_series(model):
        from .timeseries.report import write_report

        X, _, columns = read_series(args.data, key=args.key)
        index = write_report(model, X, args.output, columns, os.path.basename(args.data))
        if not args.quiet:
            print(f"report: {index}")
        return
    X, y, columns = read_data(args.data, key=args.key, target=args.target,
                              categorical=args.categorical)
    from .model_report import report

    index = report(model, X, args.output, y=y, feature_names=columns,
                   image_shape=args.image_shape, max_rows=args.max_rows,
                   data_name=os.path.basename(args.data))
    if not args.quiet:
        print(f"report: {index}")


def export_command(args) -> None:
    from . import export, persistence

    check_output_path(args.output, (".onnx",), what="ONNX file")
    export.check_onnx_packages()
    model = persistence.load(args.model_file)
    names = model.export_onnx(args.output)
    if not args.quiet:
        print(f"wrote {args.output}: input {export.INPUT_NAME} (batch × "
              f"{model.n_features_in_} float32), outputs {', '.join(names)}")


def is_time_series(model) -> bool:
    return type(model).__name__ == "TimeSeriesOutlierDetector"


def read_model_data(model, args):
    """``(X, y, column_names)`` for ``model``: a series (time column left out) for a
    time-series detector, else :func:`read_data`'s."""
    if is_time_series(model):
        return read_series(args.data, key=args.key)
    return read_data(args.data, key=args.key, target=args.target,
                     categorical=args.categorical)


def require(model, method: str, command: str) -> None:
    if not hasattr(model, method):
        raise UsageError(f"a {type(model).__name__} model cannot {command} (it has no "
                         f"{method})")


def outlier_scores(model, X) -> tuple[np.ndarray, list[str]]:
    """Per-sample scores where higher means more atypical, and their column name."""
    from sklearn.base import is_outlier_detector

    from .outliers import scores_by_likelihood

    if scores_by_likelihood(model):
        return -np.asarray(model.score_samples(X)), ["negative_log_likelihood_bound"]
    if not is_outlier_detector(model) and hasattr(model, "reconstruction_error"):
        return model.reconstruction_error(X), ["reconstruction_error"]
    if hasattr(model, "score_samples"):
        return -np.asarray(model.score_samples(X)), ["outlier_score"]
    raise UsageError(f"a {type(model).__name__} model has no per-sample score")


def feature_names_out(model, n: int) -> list[str]:
    try:
        return [str(name) for name in model.get_feature_names_out()]
    except (AttributeError, ValueError, TypeError):
        return [f"code{i}" for i in range(n)]


def info_command(path: str) -> None:
    """Describe a model file from its header alone (checked, checksum included): no torch."""
    from . import modelfile

    try:
        header = modelfile.read_header(path)
        modelfile.verify_checksum(path, header)
        config = modelfile.parse_config(header.metadata["config"])
    except modelfile.FormatError as error:
        raise ValueError(f"{path}: not a valid deepae model file: {error}") from None
    body = config.get("$estimator") if isinstance(config, dict) else None
    if not isinstance(body, dict):
        raise ValueError(f"{path}: not a valid deepae model file: its configuration does not "
                         "describe an estimator")
    metadata, size = header.metadata, os.path.getsize(path)
    print(f"{path}: deepae model file, format {metadata['format_version']}, {size:,} bytes")
    print(f"written by deepae {metadata.get('deepae_version', '?')} "
          f"(torch {metadata.get('torch_version', '?')}, "
          f"numpy {metadata.get('numpy_version', '?')})")
    print(f"class: deepae.{body.get('class')}")
    for line in describe_estimator(body, ModelFileValues(path, header.tensors), indent="  "):
        print(line)


class ModelFileValues:
    """Short descriptions of the values of a model file's configuration (see
    :mod:`deepae.persistence` for their JSON), reading small arrays from the file."""

    def __init__(self, path: str, tensors: dict):
        self.path = path
        self.tensors = tensors

    def array(self, name: str) -> str:
        entry = self.tensors.get(name)
        if entry is None:
            return "(missing tensor)"
        dtype = entry.dtype.removeprefix("torch.")
        if np.prod(entry.shape) > 6 or dtype == "bfloat16":
            return f"{dtype} array of shape {entry.shape}"
        with open(self.path, "rb") as file:
            file.seek(entry.start)
            values = np.frombuffer(file.read(entry.end - entry.start), dtype=dtype)
        return f"{dtype} array {np.array2string(values, precision=4)}"

    def module(self, body: dict) -> str:
        state = body.get("state", {}) if isinstance(body, dict) else {}
        entries = [self.tensors[key] for key in state.values() if key in self.tensors]
        n = sum(int(np.prod(entry.shape)) for entry in entries)
        return f"torch module ({n:,} parameters)"

    def plain(self, obj):
        """The JSON value as the Python value it stands for, arrays and modules as text."""
        if isinstance(obj, list):
            return [self.plain(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) != 1 or not next(iter(obj)).startswith("$"):
            return {k: self.plain(v) for k, v in obj.items()}
        tag, body = next(iter(obj.items()))
        if tag == "$tuple":
            return tuple(self.plain(v) for v in body)
        if tag == "$float":
            return float(body)
        if tag == "$scalar":
            return self.plain(body[1])
        if tag == "$array":
            return Text(self.array(body))
        if tag == "$module":
            return Text(self.module(body))
        if tag == "$ndarray":
            dtype = np.dtype(body.get("dtype")).name if isinstance(body, dict) else "?"
            return Text(f"{dtype} array of shape {tuple(body.get('shape', ()))}")
        if tag == "$estimator":
            return Text(str(body.get("class")))
        return Text(tag[1:].replace("_", " "))


class Text(str):
    """A description standing for a value (shown without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def describe_estimator(body: dict, values: ModelFileValues, indent: str) -> list[str]:
    """Lines describing an estimator's JSON: its parameters and fitted attributes."""
    lines = []
    for title, part in (("params", body.get("params", {})),
                        ("fitted", body.get("attributes", {}))):
        lines.append(f"{indent[:-2]}{title}:{' no' if title == 'fitted' and not part else ''}")
        for name in sorted(part) if title == "fitted" else part:
            value = part[name]
            nested = value.get("$estimator") if isinstance(value, dict) else None
            if isinstance(nested, dict):
                lines.append(f"{indent}{name} = {nested.get('class')}")
                lines.extend(describe_estimator(nested, values, indent + "    "))
            else:
                lines.append(f"{indent}{name} = {summarize(values.plain(value))}")
    return lines


def summarize(value) -> str:
    """A short description of a value."""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) for v in value) and "epoch" in value[-1]:
            last = value[-1]
            loss = ", ".join(f"{k}={v:.4g}" for k, v in last.items()
                             if k.endswith("loss") and isinstance(v, float))
            return f"{len(value)} epochs (last: {loss or last})"
        if value and all(isinstance(v, Text) and "torch module" in v for v in value):
            return f"{len(value)} torch modules"
        if len(value) > 6 or any(isinstance(v, (list, tuple, dict)) for v in value):
            return f"{type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


if __name__ == "__main__":
    sys.exit(main())
