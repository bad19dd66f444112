"""Probabilistic PCA (Tipping & Bishop 1999) from a fitted PCA's spectrum.

A PCA model with ``k`` components is also the Gaussian ``N(mean, C)`` with
``C = Wᵀ diag(λ − σ²) W + σ² I`` (``W`` the components, ``λ`` their variances, ``σ²`` the mean
discarded variance). These functions give its covariance, its precision (by the matrix
inversion lemma), the log-likelihood of rows (with the d × d precision, or from the rows'
projections on the k components alone), and Minka's (2000) choice of ``k``: the same
formulas as scikit-learn's ``PCA``.
"""

import math

import numpy as np
import scipy.linalg
from scipy.special import gammaln


def covariance(components: np.ndarray, variances: np.ndarray, noise: float) -> np.ndarray:
    """``Wᵀ diag(λ − σ²)₊ W + σ² I``: the model's covariance."""
    excess = np.where(variances > noise, variances - noise, 0.0)
    C = (components.T * excess) @ components
    C.flat[:: len(C) + 1] += noise
    return C


def precision(components: np.ndarray, variances: np.ndarray, noise: float) -> np.ndarray:
    """The inverse of :func:`covariance`, by the matrix inversion lemma when ``σ² > 0``."""
    d = components.shape[1]
    if len(components) == 0:
        return np.eye(d) / noise
    if noise == 0.0:
        return scipy.linalg.inv(covariance(components, variances, noise))
    excess = np.where(variances > noise, variances - noise, 0.0)
    inner = components @ components.T / noise
    inner.flat[:: len(inner) + 1] += 1.0 / excess
    P = -(components.T @ scipy.linalg.inv(inner) @ components) / noise**2
    P.flat[:: d + 1] += 1.0 / noise
    return P


def log_likelihood(centered: np.ndarray, precision_matrix: np.ndarray) -> np.ndarray:
    """Gaussian log-density of each centered row under the given precision matrix (the
    quadratic form in the rows' dtype, as scikit-learn's: float32 rows, float32 products)."""
    d = centered.shape[1]
    sign, logdet = np.linalg.slogdet(precision_matrix)
    logdet = logdet if sign > 0 else -np.inf
    quadratic = np.einsum("ij,ij->i", centered,
                          centered @ precision_matrix.astype(centered.dtype))
    return -0.5 * quadratic - 0.5 * (d * math.log(2 * math.pi) - logdet)


def low_rank_factor(components: np.ndarray, variances: np.ndarray, noise: float,
                    n_features: int) -> tuple[np.ndarray, float]:
    """``(F, log det C)`` for :func:`covariance`'s ``C`` with ``noise > 0``: the precision is
    ``I / σ² − Wᵀ F Fᵀ W`` (the matrix inversion lemma; ``F`` has a zero row for each
    component whose variance is the noise: it adds nothing to the model), and the log
    determinant comes from the determinant lemma, without a d × d matrix."""
    excess = variances - noise
    keep = excess > 0
    factor = np.zeros((len(components), int(keep.sum())))
    logdet = n_features * math.log(noise)
    if keep.any():
        W, excess = components[keep], excess[keep]
        inner = W @ W.T / noise
        inner.flat[:: len(inner) + 1] += 1.0 / excess
        lower = scipy.linalg.cholesky(inner, lower=True)
        factor[keep] = scipy.linalg.solve_triangular(lower, np.eye(len(inner)), lower=True).T
        logdet += np.sum(np.log(excess)) + 2 * np.sum(np.log(np.diag(lower)))
    return factor / noise, logdet


def low_rank_log_likelihood(squares: np.ndarray, projections: np.ndarray,
                            components: np.ndarray, variances: np.ndarray, noise: float,
                            n_features: int) -> np.ndarray:
    """:func:`log_likelihood` under :func:`covariance`'s model from each centered row's
    squared norm (``squares``) and its products with the components (``projections``), by
    :func:`low_rank_factor`: k × k memory, never d × d (``noise > 0``)."""
    factor, logdet = low_rank_factor(components, variances, noise, n_features)
    reduced = projections @ factor
    quadratic = squares / noise - np.einsum("ij,ij->i", reduced, reduced)
    return -0.5 * quadratic - 0.5 * (n_features * math.log(2 * math.pi) + logdet)


def minka_rank(variances: np.ndarray, n_samples: int) -> int:
    """Minka's MLE of the dimension: the rank in ``[1, d − 1]`` whose Laplace approximation
    of the evidence is largest (``variances``: all ``d`` eigenvalues of the covariance)."""
    scores = [rank_evidence(variances, rank, n_samples) for rank in range(1, len(variances))]
    return int(np.argmax(scores)) + 1 if scores else 1


def rank_evidence(variances: np.ndarray, rank: int, n_samples: int) -> float:
    """Minka's log-evidence of a probabilistic PCA of ``rank`` components (−inf when a kept
    variance is below 1e-15)."""
    d, eps = len(variances), 1e-15
    if not 1 <= rank < d:
        raise ValueError("the tested rank should be in [1, n_features - 1]")
    if variances[rank - 1] < eps:
        return -np.inf
    i = np.arange(1, rank + 1)
    pu = -rank * math.log(2.0) + np.sum(gammaln((d - i + 1) / 2.0)
                                       - math.log(math.pi) * (d - i + 1) / 2.0)
    pl = -np.sum(np.log(variances[:rank])) * n_samples / 2.0
    v = max(eps, np.sum(variances[rank:]) / (d - rank))
    pv = -math.log(v) * n_samples * (d - rank) / 2.0
    m = d * rank - rank * (rank + 1.0) / 2.0
    pp = math.log(2.0 * math.pi) * (m + rank) / 2.0
    filled = np.concatenate([variances[:rank], np.full(d - rank, v)])
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs = [np.log((variances[a] - variances[a + 1:])
                        * (1.0 / filled[a + 1:] - 1.0 / filled[a])) + math.log(n_samples)
                 for a in range(rank)]
    pa = float(np.sum(np.concatenate(pairs)))
    return pu + pl + pv + pp - pa / 2.0 - rank * math.log(n_samples) / 2.0
