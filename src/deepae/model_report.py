"""The report on a fitted model and the user's data: ``deepae.report(model, X, ...)`` and
``deepae report MODEL DATA -o DIR``.

One self-contained HTML page (pictures embedded, no network): learning curves from
``history_``; a histogram of the reconstruction errors with a detector's threshold; the most
atypical rows with the features that make them atypical; a 2-D map of the codes (the
model's own when 2-D, else their first two principal components) colored by the target or
by the reconstruction error; learned filters and reconstructions of images when
``image_shape`` is given; for classifiers and regressors, their score on the target. Files
larger than ``max_rows`` are sampled (the page says so). Figures come from
:mod:`deepae.figures`, as the demo's do.
"""

import tempfile
from pathlib import Path

import numpy as np
from sklearn.base import is_classifier, is_outlier_detector, is_regressor
from sklearn.utils.validation import check_is_fitted

from .figures import (
    Section,
    Table,
    check_matplotlib,
    save_code_map,
    save_histogram,
    save_image_grid,
    save_learning_curves,
    write_page,
)
from .linear import PCA
from .outliers import scores_by_likelihood

N_ATYPICAL = 10  # rows in the table of atypical rows
N_FILTERS = 32  # learned filters drawn
N_IMAGES = 8  # images per row of the reconstruction figure


def report(model, X, out="report", y=None, feature_names=None, image_shape=None,
           max_rows: int = 5000, random_state: int = 0, data_name: str = "the data") -> Path:
    """Write an HTML page about the fitted ``model`` on the data ``X``.

    Parameters
    ----------
    model : fitted deepae estimator
    X : array-like of shape (n_samples, n_features)
        The data (a memory-mapped array is read only for the sampled rows).
    out : str or Path, default="report"
        Folder of the page, created if needed; the page is ``out/index.html``.
    y : array-like of shape (n_samples,), default=None
        Labels or values coloring the map of the codes (and scoring supervised models).
    feature_names : list of str, default=None
        Names of the columns (default: the model's ``feature_names_in_``, else x0, x1, …).
    image_shape : tuple of (int, int), default=None
        Rows are images of this height and width: draw filters and reconstructions.
    max_rows : int, default=5000
        Larger data is sampled at random (rows kept in file order).
    random_state : int, default=0
        Seed of the sample.
    data_name : str, default="the data"
        How the page names the data (e.g. its file name).

    Returns
    -------
    Path of ``index.html``.
    """
    check_matplotlib("the report")
    check_is_fitted(model)
    X = X if hasattr(X, "shape") else np.asarray(X)
    n_total, n_features = np.shape(X)
    rows = np.arange(n_total)
    if n_total > max_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(n_total, max_rows,
                                                                  replace=False))
    X = np.asarray(X[rows], dtype=np.float64)
    y = None if y is None else np.asarray(y)[rows]
    names = list(feature_names if feature_names is not None else
                 getattr(model, "feature_names_in_", [f"x{i}" for i in range(n_features)]))
    if image_shape is not None and int(np.prod(image_shape)) != n_features:
        raise ValueError(f"image_shape={tuple(image_shape)} has {int(np.prod(image_shape))} "
                         f"pixels, but the data has {n_features} features.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sampled = (f"a random sample of {len(rows):,} of its {n_total:,} rows (seed "
               f"{random_state})" if len(rows) < n_total else f"all its {n_total:,} rows")
    intro = (f"A fitted {type(model).__name__} on {data_name}: {sampled}, {n_features} "
             f"features.")
    with tempfile.TemporaryDirectory() as pictures:
        pictures = Path(pictures)
        sections = [section for section in (
            show_learning_curves(model, pictures),
            show_errors(model, X, pictures),
            show_atypical_rows(model, X, rows, names),
            show_codes(model, X, y, pictures),
            show_images(model, X, image_shape, pictures),
            show_predictions(model, X, y),
        ) if section is not None]
        index = out / "index.html"
        write_page(index, f"deepae report: {type(model).__name__}", intro, sections,
                   images=pictures)
    return index


def reconstructor(model):
    """The model whose ``transform`` and ``inverse_transform`` rebuild the rows (an outlier
    detector's ``model_``, which reads scaled rows: see :func:`model_input`), or None."""
    inner = getattr(model, "model_", model)
    return inner if hasattr(inner, "inverse_transform") and hasattr(inner, "transform") else None


def scales(model) -> bool:
    """Whether the model scales the rows before its :func:`reconstructor` reads them (an
    outlier detector: ``(x − mean_) / scale_``, each row then scaled to ``row_norm_`` when
    there is one)."""
    return is_outlier_detector(model) and hasattr(model, "scale_")


def model_input(model, X: np.ndarray) -> np.ndarray:
    """The rows as :func:`reconstructor`'s model reads them."""
    return model._scaled(X) if scales(model) else X


def atypicality(model, X: np.ndarray) -> tuple[np.ndarray, str, float | None] | None:
    """How atypical each row is, what that number is, and the threshold (detectors): an
    outlier detector's score, a density model's negative log-likelihood bound (nats), another
    model's reconstruction error; None for models with none of them."""
    if is_outlier_detector(model):
        return -model.score_samples(X), "outlier score", model.threshold_
    if scores_by_likelihood(model):
        return -model.score_samples(X), "negative log-likelihood bound", None
    if hasattr(model, "reconstruction_error"):
        return model.reconstruction_error(X), "squared reconstruction error", None
    return None


def histories(model) -> dict[str, list[dict]]:
    """The model's training histories (and its pretrained layers'), by name."""
    inner = getattr(model, "model_", model)
    found = {}
    for depth, history in enumerate(getattr(inner, "pretraining_history_", []) or [], 1):
        if history:
            found[f"pretraining layer {depth}"] = history
    if getattr(inner, "history_", None):
        found["training" if not found else "fine-tuning"] = inner.history_
    return found


def show_learning_curves(model, pictures: Path) -> Section | None:
    curves = histories(model)
    if not curves:
        return None
    save_learning_curves(pictures / "learning_curves.png", curves)
    last = next(reversed(curves.values()))[-1]
    return Section(
        "Learning curves",
        f"Loss per epoch while training ({len(next(reversed(curves.values())))} epochs; last "
        f"training loss {last['train_loss']:.4g}).",
        images=[("learning_curves.png", "training and validation loss per epoch")])


def show_errors(model, X: np.ndarray, pictures: Path) -> Section | None:
    found = atypicality(model, X)
    if found is None:
        return None
    values, label, threshold = found
    save_histogram(pictures / "errors.png", values, threshold, label)
    text = (f"The {label} of each row (higher is more atypical): median "
            f"{np.median(values):.4g}, 99th percentile {np.percentile(values, 99):.4g}, "
            f"largest {values.max():.4g}.")
    if threshold is not None:
        text += (f" The detector's threshold ({threshold:.4g}, set on its training data) marks "
                 f"{np.mean(values > threshold):.1%} of these rows as outliers.")
    title = ("Outlier scores" if threshold is not None else "Likelihood bounds"
             if scores_by_likelihood(model) else "Reconstruction errors")
    return Section(title, text, images=[("errors.png", f"histogram of the {label}s")])


def per_feature_errors(model, X: np.ndarray) -> np.ndarray | None:
    """Squared residual of every feature of every row, or None without reconstructions."""
    if is_outlier_detector(model) and hasattr(model, "reconstruction_error"):
        return model.reconstruction_error(X, per_feature=True)
    inner = reconstructor(model)
    if inner is None:
        return None
    return np.square(X - inner.inverse_transform(inner.transform(X)))


def show_atypical_rows(model, X: np.ndarray, rows: np.ndarray, names: list[str]):
    residuals = per_feature_errors(model, X)
    if residuals is None:
        return None
    values, label, _ = atypicality(model, X)
    errors = residuals.sum(axis=1)
    table_rows = []
    for index in np.argsort(values)[::-1][:N_ATYPICAL]:
        shares = residuals[index] / max(errors[index], np.finfo(float).tiny)
        top = np.argsort(shares)[::-1][:3]
        table_rows.append([str(rows[index]), f"{values[index]:.4g}",
                           ", ".join(f"{names[j]} ({shares[j]:.0%})" for j in top)])
    scaled = " (of the scaled columns)" if scales(model) else ""
    return Section(
        "Most atypical rows",
        f"The rows with the largest {label} (row numbers count from 0 in the data), with the "
        f"features whose squared residuals{scaled} make up most of their reconstruction "
        "error.",
        tables=[Table(f"The {len(table_rows)} rows with the largest {label}",
                      ["row", label, "largest contributions (share of the error)"],
                      table_rows)])


def show_codes(model, X: np.ndarray, y, pictures: Path) -> Section | None:
    inner = reconstructor(model)
    if inner is None:
        return None
    codes = inner.transform(model_input(model, X))
    if codes.shape[1] == 2:
        points, how = codes, "the model's own 2-D codes"
    elif codes.shape[1] > 2:
        points, how = PCA(n_components=2).fit_transform(codes), (
            f"the first two principal components of the {codes.shape[1]}-D codes")
    else:
        return None
    if y is not None:
        values, label = y, "target"
    else:
        values, label, _ = atypicality(model, X)
    save_code_map(pictures / "codes.png", points, values, how, label)
    return Section("Map of the codes", f"Each row placed by {how}, colored by its {label}.",
                   images=[("codes.png", f"codes colored by {label}")])


def show_images(model, X: np.ndarray, image_shape, pictures: Path) -> Section | None:
    inner = reconstructor(model)
    if image_shape is None or inner is None:
        return None
    shape = tuple(int(n) for n in image_shape)
    low, high = X.min(), X.max()
    scaled = (lambda a: (a - low) / (high - low)) if high > low else (lambda a: a - low)
    order = np.argsort(atypicality(model, X)[0])
    chosen = np.concatenate([order[::-1][:N_IMAGES], order[:N_IMAGES]])
    rebuilt = inner.inverse_transform(inner.transform(model_input(model, X[chosen])))
    if scales(model):  # back from the detector's scaled units
        rebuilt = model._unscaled(rebuilt, X[chosen])
    originals, copies = scaled(X[chosen]), np.clip(scaled(rebuilt), 0, 1)
    grid = np.stack([originals[:N_IMAGES], copies[:N_IMAGES],
                     originals[N_IMAGES:], copies[N_IMAGES:]])
    save_image_grid(pictures / "reconstructions.png", grid, shape=shape,
                    row_labels=["most atypical", "rebuilt", "most typical", "rebuilt"])
    images = [("reconstructions.png", "the most atypical and most typical rows as images, "
               "each above its reconstruction")]
    filters = getattr(inner, "components_", None)
    if filters is not None:
        save_image_grid(pictures / "filters.png", filters[:N_FILTERS], signed=True,
                        ncols=min(8, len(filters[:N_FILTERS])), shape=shape)
        images.insert(0, ("filters.png", f"the first {len(filters[:N_FILTERS])} learned "
                          "filters (rows of components_; red positive, blue negative)"))
    return Section("Images", f"Rows drawn as {shape[0]}×{shape[1]} images.", images=images)


def show_predictions(model, X: np.ndarray, y) -> Section | None:
    if not (is_classifier(model) or is_regressor(model)):
        return None
    if y is None:
        return Section("Predictions", "Give the target (--target) to score the predictions.")
    score = model.score(X, y)
    what = "accuracy" if is_classifier(model) else "R²"
    return Section("Predictions", f"{what} on these rows: {score:.4f}.")
