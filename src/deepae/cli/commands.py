"""The ``deepae`` subcommands that fit, apply, export and report on models: each reads its
arguments from the parser of :mod:`deepae.cli.parser` and imports torch and
scikit-learn only when it runs."""

import os
import sys
import time

import numpy as np

from .. import __version__
from ..datafiles import (
    OUTPUT_SUFFIXES,
    check_output_path,
    read_data,
    read_series,
    scipy_sparse,
    stream_rows,
    why_not_numbers,
    write_output,
)
from .parser import MODELS, PARAM_OPTIONS, SHARED_PARAMS, UsageError


def demo_command(args) -> None:
    """``run_demo(seed=...)``, plus ``out``/``quick`` when given (and ``run_demo`` has them)."""
    import inspect

    from .. import demo

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
    from ..persistence import estimator_class

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

    from .. import distributed, persistence

    X, y = read_fit_data(args, estimator)
    if (is_classifier(estimator) or is_regressor(estimator)) and y is None:
        raise UsageError(f"model {args.model!r} learns from labels: name their column with "
                         "--target COLUMN")
    n_samples, n_features = getattr(X, "shape", None) or (X.n_samples, X.n_features)
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
        print(f"fitted {type(estimator).__name__} on {n_samples} samples × {n_features} "
              f"features in {seconds:.1f} s; saved to {args.output}")


def read_fit_data(args, estimator) -> tuple:
    """``(X, y)`` of ``deepae fit``: a series for a time-series detector; for PCA and the
    linear autoencoder a CSR ``scipy.sparse.save_npz`` file as :class:`deepae.SparseRows`
    (read a chunk at a time, never whole; not with ``--shard``); else :func:`read_data`'s."""
    from ..linear import LinearAutoencoder

    if args.model == "timeseries":
        return read_series(args.data, key=args.key)[0], None
    if (isinstance(estimator, LinearAutoencoder) and args.key is None and not args.shard
            and args.data.endswith(".npz")):
        from ..sparsefile import SparseRows

        try:
            return SparseRows(args.data), None
        except ValueError:  # not a CSR save_npz file: read as any .npz below
            pass
    X, y, _ = read_data(args.data, key=args.key, target=args.target,
                        categorical=args.categorical)
    if not (isinstance(X, np.ndarray) or scipy_sparse(X) or takes_tables(estimator)):
        raise UsageError(f"{why_not_numbers(X, args.data)}; model {args.model!r} takes "
                         "numbers only (autoencoder, denoising and outliers take tables)")
    return X, y


def takes_tables(estimator) -> bool:
    """Whether ``estimator`` fits tables with strings and missing cells (an autoencoder, or
    an outlier detector of one)."""
    from ..autoencoder import Autoencoder

    model = estimator.get_params().get("model", estimator) if hasattr(
        estimator, "contamination") else estimator
    return model is None or isinstance(model, Autoencoder)


def apply_command(args) -> None:
    from .. import persistence

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
    from .. import figures, persistence

    if args.max_rows < 1:
        raise UsageError(f"--max-rows must be positive, got {args.max_rows}")
    figures.check_matplotlib("deepae report")
    model = persistence.load(args.model_file)
    if is_time_series(model):
        from ..timeseries.report import write_report

        X, times, columns = read_series(args.data, key=args.key)
        index = write_report(model, X, args.output, columns, os.path.basename(args.data), times)
        if not args.quiet:
            print(f"report: {index}")
        return
    X, y, columns = read_data(args.data, key=args.key, target=args.target,
                              categorical=args.categorical)
    from ..model_report import report

    index = report(model, X, args.output, y=y, feature_names=columns,
                   image_shape=args.image_shape, max_rows=args.max_rows,
                   data_name=os.path.basename(args.data))
    if not args.quiet:
        print(f"report: {index}")


def stream_command(args) -> None:
    """``deepae stream``: causal scores of standard input's rows, one output line per row,
    written at once (:meth:`deepae.TimeSeriesOutlierDetector.score_stream`); the rows before
    the first full window score ``nan`` (flag 0)."""
    from .. import persistence

    model = persistence.load(args.model_file)
    if not is_time_series(model):
        raise UsageError(f"deepae stream takes a time-series model (deepae fit timeseries), "
                         f"not a {type(model).__name__}")
    for count, (time_cell, values) in enumerate(stream_rows(sys.stdin), start=1):
        if len(values) != model.n_features_in_:
            raise ValueError(f"a row of {len(values)} values; the model has "
                             f"{model.n_features_in_} channels")
        if count == 1:
            print("time,score,flag" if time_cell is not None else "score,flag")
        score = float(model.score_stream(np.array([values]))[0])
        score = score if count >= model.window_ else float("nan")
        when = "" if time_cell is None else f"{time_cell},"
        print(f"{when}{score!r},{int(score > model.threshold_)}", flush=True)


def export_command(args) -> None:
    from .. import export, persistence

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

    from ..outliers import scores_by_likelihood

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
