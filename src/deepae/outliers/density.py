"""The code density of the detector: per-feature residual variances and a Gaussian of the codes.

Both are fitted on the training rows left after trimming the worst-rebuilt fraction
(``density_trim``), so that the outliers hidden in the training data do not inflate them.
"""

import numpy as np
from sklearn.covariance import LedoitWolf

from .. import distributed

#: Fraction of the training rows left out when the code density is fitted.
DEFAULT_DENSITY_TRIM = 0.2


def residual_means(residuals: np.ndarray, floor: float) -> np.ndarray:
    """Mean of each column of ``residuals`` over all ranks' rows, at least ``floor``."""
    totals = distributed.all_reduce(np.append(residuals.sum(axis=0), len(residuals)))
    return np.maximum(totals[:-1] / totals[-1], floor)


def rows_kept(scores: np.ndarray, trim: float) -> np.ndarray:
    """Mask of this rank's rows whose ``scores`` are among the ``1 − trim`` smallest of all
    ranks' rows (at least two rows; ties at the cut are all kept)."""
    all_scores = np.sort(np.concatenate(distributed.gather_objects(scores)))
    n_kept = max(2, int(np.ceil((1 - trim) * len(all_scores))))
    return scores <= all_scores[min(n_kept, len(all_scores)) - 1]


def fit_code_density(residuals: np.ndarray, codes: np.ndarray, floor: float,
                     trim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-feature residual variances and the Gaussian of the codes, over all ranks' rows.

    Both are fitted twice: on all rows, then, when ``trim`` is positive, on the rows whose
    variance-weighted residual sum under the first fit is among the ``1 − trim`` smallest
    (one concentration step, as in the minimum covariance determinant). A variance is at
    least ``floor``, so that a feature the model rebuilds exactly (a constant column) still
    gives finite scores; the Gaussian is a Ledoit–Wolf shrinkage estimate.

    Returns
    -------
    variance : ndarray of shape (n_features,)
    code_mean : ndarray of shape (n_codes,)
    code_precision : ndarray of shape (n_codes, n_codes)
    """
    variance = residual_means(residuals, floor)
    if trim > 0:
        kept = rows_kept(residuals @ (1 / variance), trim)
        residuals, codes = residuals[kept], codes[kept]
        variance = residual_means(residuals, floor)
    codes = np.concatenate(distributed.gather_objects(codes))
    gaussian = LedoitWolf().fit(np.asarray(codes, dtype=np.float64))
    return variance, gaussian.location_, gaussian.precision_
