"""The ``deepae`` command line's parser: its model names, option value types, the
``deepae fit`` options that set estimator parameters, and every subcommand's arguments
(standard library only, so ``--help`` answers at once)."""

import argparse
import json

from .. import __version__

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

    stream = commands.add_parser(
        "stream", parents=[common], help="score a live series from standard input, a row at "
        "a time (time-series models)",
        description="Read CSV rows from standard input as they arrive (e.g. tail -f "
        "metrics.csv | deepae stream ts.deepae), score each with the steps before it only "
        "(causal), and write 'score,flag' per row at once (with the row's time first when it "
        "has a time column; flag 1 above the model's threshold). The rows before the first full "
        "window score nan.")
    stream.add_argument("model_file", metavar="MODEL_FILE",
                        help="a saved time-series model (deepae fit timeseries)")

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
