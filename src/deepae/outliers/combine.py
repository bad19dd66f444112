"""Putting the detector's score terms on one scale, and combining them.

Each term (the reconstruction score, the neighbour distance) is standardized robustly on the
training rows of all ranks — minus its median, divided by its interquartile range — so that
neither term's unit decides, and the outliers in the training data move neither; a row's
score is its largest standardized term: it is as abnormal as the term that finds it most
abnormal (a global outlier by its reconstruction, a local one by its neighbours).
"""

import numpy as np

from .. import distributed


def fit_term_scaling(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and spread of each column of ``terms`` (training rows × terms) over all ranks'
    rows: the interquartile range, or the standard deviation where that is 0, or 1 where
    both are."""
    terms = np.concatenate(distributed.gather_objects(np.asarray(terms, dtype=np.float64)))
    low, center, high = np.percentile(terms, [25, 50, 75], axis=0)
    spread = high - low
    spread = np.where(spread > 0, spread, terms.std(axis=0))
    return center, np.where(spread > 0, spread, 1.0)


def combined_terms(terms: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The largest over the columns of ``terms`` of ``(term − center) / scale``."""
    return ((np.asarray(terms, dtype=np.float64) - center) / scale).max(axis=1)
