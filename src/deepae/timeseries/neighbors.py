"""Distances from windows to their nearest reference windows, in chunks."""

import numpy as np

#: Query rows per chunk of the distance matrix.
CHUNK = 2048


def nearest_distances(Q: np.ndarray, R: np.ndarray, n_neighbors: int,
                      q_positions: np.ndarray | None = None,
                      r_positions: np.ndarray | None = None, exclusion: int = 0) -> np.ndarray:
    """Root of the mean squared distance from each row of ``Q`` to its ``n_neighbors``
    nearest rows of ``R``. With positions, a reference within ``exclusion`` positions of the
    query (the same stretch of the same series: a trivial match) is left out."""
    r_norms = np.square(R).sum(1)
    k = min(n_neighbors, len(R))
    out = np.empty(len(Q))
    for start in range(0, len(Q), CHUNK):
        q = Q[start:start + CHUNK]
        d2 = np.square(q).sum(1)[:, None] - 2 * (q @ R.T) + r_norms
        if q_positions is not None:
            near = np.abs(q_positions[start:start + CHUNK, None] - r_positions) < exclusion
            d2[near] = np.inf
        if k == 1:
            d2 = d2.min(axis=1, keepdims=True)
        elif k < d2.shape[1]:
            d2 = np.partition(d2, k - 1, axis=1)[:, :k]
        d2 = np.where(np.isfinite(d2), d2, np.nan)
        out[start:start + CHUNK] = np.sqrt(np.maximum(np.nanmean(d2, axis=1), 0))
    return out
