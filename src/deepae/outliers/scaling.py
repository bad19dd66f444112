"""Statistics over all ranks' rows that the detector scales and normalizes with.

Column means and spreads (``scaling="standard"``), the mean row norm (``scaling="rows"``) and
the mean energy a relative error divides by; each is reduced over a process group when one is
running, so every rank scales its shard as one data set would be.
"""

import numpy as np

from .. import distributed

#: A row's energy ``‖z‖²`` in the relative error is at least this fraction of the mean
#: training row's.
ENERGY_FLOOR = 1e-6
#: With ``scaling="rows"`` a row's norm counts as at least this fraction of ``row_norm_`` (a
#: blank row stays blank).
ROW_NORM_FLOOR = 1e-6


def column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column over all ranks' rows."""
    n = distributed.all_reduce(np.array([len(X)]))[0]
    mean = distributed.all_reduce(X.sum(axis=0, dtype=np.float64)) / n
    variance = distributed.all_reduce(np.square(X - mean).sum(axis=0)) / n
    return mean, np.sqrt(variance)


def column_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column over all ranks' rows (1 for a constant
    column, which is then only centered)."""
    mean, scale = column_moments(X)
    return mean, np.where(scale > 0, scale, 1.0)


def mean_row_norm(X: np.ndarray) -> float:
    """Mean of the rows' Euclidean norms ``‖x‖`` over all ranks' rows."""
    norms = np.linalg.norm(X, axis=1).astype(np.float64)
    totals = distributed.all_reduce(np.array([norms.sum(), len(X)]))
    return float(totals[0] / totals[1])


def row_norm_floor(row_norm: float) -> float:
    """The least norm a row counts as when scaled to ``row_norm``: :data:`ROW_NORM_FLOOR`
    times it, and positive in float32."""
    return max(ROW_NORM_FLOOR * row_norm, float(np.finfo(np.float32).tiny))


def scale_rows(Z: np.ndarray, row_norm: float) -> np.ndarray:
    """Each row of ``Z`` scaled to the norm ``row_norm`` (its norm counted as at least
    :func:`row_norm_floor`), in ``Z``'s dtype."""
    norms = np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), row_norm_floor(row_norm))
    return (Z * (row_norm / norms)).astype(Z.dtype, copy=False)


def mean_energy(X: np.ndarray) -> float:
    """Mean of the rows' ``‖x‖²`` over all ranks' rows."""
    totals = distributed.all_reduce(np.array([np.square(X, dtype=np.float64).sum(), len(X)]))
    return float(totals[0] / totals[1])
