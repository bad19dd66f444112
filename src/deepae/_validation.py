"""Input and parameter checks shared by the estimators, built on scikit-learn's validators."""

import math
import numbers

import numpy as np
import scipy.sparse
import torch
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import validate_data

from .data import chunk_rows, is_memmap, iter_chunks

FLOAT_DTYPES = (np.float64, np.float32)


def to_numpy(X):
    """Return ``X`` as a numpy array when it is a torch tensor (a sparse COO, CSR or CSC one
    as the ``scipy.sparse`` matrix of its arrays, never densified); anything else as is."""
    if not isinstance(X, torch.Tensor):
        return X
    X = X.detach().cpu()
    if X.layout == torch.sparse_coo:
        X = X.coalesce()
        rows, columns = X.indices().numpy()
        return scipy.sparse.csr_matrix((X.values().numpy(), (rows, columns)), shape=X.shape)
    if X.layout in (torch.sparse_csr, torch.sparse_csc):
        csr = X.layout == torch.sparse_csr
        pointers, indices = ((X.crow_indices(), X.col_indices()) if csr else
                             (X.ccol_indices(), X.row_indices()))
        kind = scipy.sparse.csr_matrix if csr else scipy.sparse.csc_matrix
        return kind((X.values().numpy(), indices.numpy(), pointers.numpy()), shape=X.shape)
    return X.numpy()


def check_X(estimator, X, *, reset: bool) -> np.ndarray:
    """Validate a 2-D finite float matrix (float32 kept, other numbers as float64).

    Sets ``n_features_in_`` when ``reset`` and checks it otherwise. Float numpy arrays and
    memory-mapped ``.npy`` files are not copied; a memory-mapped file is not read here (its
    rows are checked for NaN and infinity chunk by chunk as :func:`map_chunks` reads them).
    An estimator whose class sets ``_reads_tables`` takes tables too (strings, missing cells:
    :func:`deepae.tabular.estimators.table_numbers`).
    """
    X = table_numbers(estimator, to_numpy(X), reset)
    return positive_strides(validate_data(estimator, X, reset=reset, dtype=FLOAT_DTYPES,
                                          ensure_all_finite=not is_memmap(X)))


def table_numbers(estimator, X, reset: bool):
    """``X`` encoded when it is a table and the estimator ``_reads_tables``; else as it is."""
    if not getattr(estimator, "_reads_tables", False):
        return X
    from .tabular.estimators import table_numbers as encoded

    return encoded(estimator, X, reset)


def positive_strides(X: np.ndarray) -> np.ndarray:
    """``X``, copied when a stride is negative (a reversed view, ``X[::-1]``): torch cannot
    take such arrays."""
    return np.ascontiguousarray(X) if any(step < 0 for step in X.strides) else X


def map_chunks(function, X: np.ndarray) -> np.ndarray:
    """``function`` applied to consecutive row chunks of ``X``, the results stacked.

    Chunks hold about 2²⁰ numbers and are checked for NaN and infinity, so a memory-mapped
    file is processed in memory independent of its size.
    """
    outputs = []
    for chunk in iter_chunks(X, chunk_rows(X.shape[1], 1 << 20)):
        assert_all_finite(chunk, input_name="X")
        outputs.append(function(chunk))
    return np.concatenate(outputs)


def check_option(name: str, value, options) -> None:
    """Raise a ValueError naming ``name`` when ``value`` is not one of ``options``."""
    if value not in options:
        choices = ", ".join(repr(o) for o in options)
        raise ValueError(f"Unknown {name}={value!r}; choose one of {choices}.")


def check_X_y(estimator, X, y, *, regression: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate features and targets together (float features; numeric targets for regression,
    one or several columns)."""
    X, y = validate_data(
        estimator, table_numbers(estimator, to_numpy(X), True), to_numpy(y),
        dtype=FLOAT_DTYPES, y_numeric=regression,
        multi_output=regression,
    )
    return positive_strides(X), positive_strides(y)


def resolve_image_shape(image_shape, n_features: int) -> tuple[int, int, int]:
    """``(channels, height, width)`` of rows with ``n_features`` pixels, checked.

    ``None`` (and ``"auto"``, which the outlier detector may resolve to the pixel grid it
    finds) stands for one square channel when ``n_features`` is a square number (784 →
    ``(1, 28, 28)``), else a one-channel strip ``(1, 1, n_features)``. A ``(height,
    width)`` pair is one channel.

    Raises
    ------
    ValueError
        When the shape is malformed or its pixels do not number ``n_features``.
    """
    if image_shape is None or isinstance(image_shape, str) and image_shape == "auto":
        side = math.isqrt(n_features)
        return (1, side, side) if side * side == n_features else (1, 1, n_features)
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
    if shape is not None and len(shape) == 2:
        shape = (1, *shape)
    if (shape is None or len(shape) != 3
            or not all(isinstance(n, numbers.Integral) and n >= 1 for n in shape)):
        raise ValueError(f"image_shape must be (channels, height, width) of positive ints, "
                         f"got {image_shape!r}.")
    shape = tuple(int(n) for n in shape)
    if math.prod(shape) != n_features:
        raise ValueError(f"image_shape={shape} holds {math.prod(shape)} pixels, but X has "
                         f"{n_features} features.")
    return shape
