"""Whether the detector's ``"auto"`` options take data as a table or as flattened images.

Data with at most :data:`TABULAR_MAX_FEATURES` columns are tabular; wider data are images when
their columns' means and spreads vary smoothly along some pixel grid
(:func:`grid_smoothness_ratio`), as the pixels of images do and a table's columns do not.
"""

import numpy as np

from .scaling import column_moments

#: Data with at most this many features is treated as tabular by the ``"auto"`` options.
TABULAR_MAX_FEATURES = 50
#: Wider data are images for the ``"auto"`` options when the columns' means and spreads are
#: at least this many times smoother along a pixel grid than between random column pairs
#: (see :func:`grid_smoothness_ratio`).
IMAGE_GRID_RATIO = 1.35
#: Random column pairs the grid neighbours are compared with.
RANDOM_PAIRS = 1000


def is_tabular(X: np.ndarray) -> bool:
    """Whether the ``"auto"`` options take the rows ``X`` (all ranks' rows) as tabular: at
    most :data:`TABULAR_MAX_FEATURES` columns, or wider data that do not look like flattened
    images (a :func:`grid_smoothness_ratio` below :data:`IMAGE_GRID_RATIO`)."""
    return X.shape[1] <= TABULAR_MAX_FEATURES or grid_smoothness_ratio(X) < IMAGE_GRID_RATIO


def grid_smoothness_ratio(X: np.ndarray) -> float:
    """How smooth the columns' means and spreads are along a pixel grid, if the columns of
    ``X`` are the pixels of images, relative to random column pairs.

    For each grid ``n_features = height × width`` (both at least 3): the mean distance
    ``|mean_i − mean_j| + |std_i − std_j|`` of :data:`RANDOM_PAIRS` random column pairs (a
    fixed draw), divided by that of the horizontal and vertical neighbours (the mean of the
    two); the largest ratio over the grids, 0 when there is no grid. The mean and the spread
    of flattened images vary smoothly from pixel to pixel (ratios far above 1); a table's
    column order means nothing (about 1). The means and spreads are over all ranks' rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ratio : float
    """
    return max(grid_ratios(X).values(), default=0.0)


def image_grid(X: np.ndarray) -> tuple[int, int] | None:
    """The ``(height, width)`` of the pixel grid along which the columns of ``X`` are
    smoothest (the largest ratio of :func:`grid_smoothness_ratio`), or None without a grid."""
    ratios = grid_ratios(X)
    if not ratios:
        return None
    width = max(ratios, key=ratios.get)
    return X.shape[1] // width, width


def grid_ratios(X: np.ndarray) -> dict[int, float]:
    """Each grid's ratio of :func:`grid_smoothness_ratio`, by the grid's width (grids whose
    neighbours all have equal moments left out)."""
    n_features = X.shape[1]
    widths = [w for w in range(3, n_features // 3 + 1) if n_features % w == 0]
    if not widths:
        return {}
    mean, spread = column_moments(X)

    def distance(first: np.ndarray, second: np.ndarray) -> float:
        return float(np.mean(np.abs(mean[first] - mean[second])
                             + np.abs(spread[first] - spread[second])))

    first, second = np.random.default_rng(0).integers(0, n_features, (2, RANDOM_PAIRS))
    random_level = distance(first[first != second], second[first != second])
    ratios = {}
    for width in widths:
        left = np.flatnonzero(np.arange(n_features - 1) % width != width - 1)
        above = np.arange(n_features - width)
        neighbours = (distance(left, left + 1) + distance(above, above + width)) / 2
        if neighbours > 0:
            ratios[width] = random_level / neighbours
    return ratios
