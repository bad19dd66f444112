"""The linear autoencoder and PCA, solved in closed form (scikit-learn estimators)."""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._base import resolve_device
from ._validation import FLOAT_DTYPES, check_X, map_chunks, to_numpy
from .data import first_item, is_batches
from .linalg import Moments, principal_axes
from .modules import LinearCoder
from .persistence import SaveMixin
from .scores import ReconstructionScoresMixin


class LinearAutoencoder(SaveMixin, ReconstructionScoresMixin, ClassNamePrefixFeaturesOutMixin,
                        TransformerMixin, BaseEstimator):
    """Linear autoencoder ``h(x) = W Wᵀ x`` with tied weights and no bias, solved exactly.

    The optimum of ``E(W) = 1/N Σ ‖x_n − W Wᵀ x_n‖²`` over ``d × k`` matrices ``W`` has as
    columns the top-``k`` eigenvectors of ``XᵀX``; the code is ``Φ(x) = Wᵀ x``. The fit
    accumulates ``N``, ``Σx`` and ``XᵀX`` over chunks in one pass, so :meth:`partial_fit` on a
    stream of batches gives the model :meth:`fit` gives on all of them.

    Parameters
    ----------
    n_components : int, float or None, default=None
        Code size ``k``. An int in ``[1, min(n_samples, n_features)]``; a float in ``(0, 1)``
        keeps the fewest components whose explained-variance ratio reaches it; ``None`` keeps
        ``min(n_samples, n_features)``.
    center : bool, default=False
        Subtract the mean before encoding (then the model is PCA without whitening).
    device : str or torch.device, default="auto"
        Where the statistics are accumulated and the eigenproblem solved: ``"auto"`` is a
        CUDA GPU when there is one (chunks are copied there; only the ``d × d`` statistics
        come back), else the CPU (numpy and its BLAS). Results are numpy arrays either way.

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        ``Wᵀ``: the eigenvectors as rows, largest eigenvalue first; each row's largest entry
        in magnitude is positive.
    mean_ : ndarray of shape (n_features,)
        What is subtracted before encoding: the data mean, or zeros when ``center=False``.
    explained_variance_ : ndarray of shape (n_components_,)
        The kept eigenvalues of the scatter divided by ``n_samples - 1`` (centered) or by
        ``n_samples`` (uncentered: the mean squared projection). Uncentered, the mean
        reconstruction error equals the sum of the discarded ones (Eckart–Young).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Fraction of the total (co)variance along each kept component.
    singular_values_ : ndarray of shape (n_components_,)
        Singular values of the (centered) data matrix.
    noise_variance_ : float
        Mean of the discarded entries of ``explained_variance_`` (0 when none are discarded).
    n_components_ : int
    n_features_in_ : int
    n_samples_seen_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from deepae import LinearAutoencoder
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> LinearAutoencoder(n_components=2).fit(X).transform(X).shape
    (100, 2)
    """

    def __init__(self, n_components=None, center=False, device="auto"):
        self.n_components = n_components
        self.center = center
        self.device = device

    def _centered(self) -> bool:
        return bool(self.center)

    def fit(self, X, y=None):
        """Fit in one pass over the chunks of ``X``: an array, tensor or memory-mapped
        ``.npy`` file, or an iterable of batches (arrays or tensors, or tuples whose first item
        is one, as a ``DataLoader`` yields). Under a process group, ``X`` is this rank's shard
        and every rank gets the model of all shards."""
        self._moments = self._accumulate(X, reset=True)
        self._check_enough_samples()
        return self._solve()

    def partial_fit(self, X, y=None):
        """Add the batch ``X`` (as for :meth:`fit`) to the statistics and re-solve; the first
        call starts afresh. Under a process group, every rank must call it alike.

        The model is solved once enough rows have been seen (2 for centering, and at least
        ``n_components`` when that is an int); until then it is not fitted.
        """
        if not hasattr(self, "_moments"):
            self._moments = self._accumulate(X, reset=True)
        else:
            self._moments.merge(self._accumulate(X, reset=False))
        if self._moments.n_samples >= self._min_samples(wanted=True):
            self._solve()
        return self

    def _accumulate(self, X, reset: bool) -> Moments:
        """The statistics of the rows of ``X`` (summed over ranks under a process group)."""
        moments, device = None, self._device()
        for batch in map(first_item, X) if is_batches(X) else [X]:
            batch = self._check_fit_data(batch, reset=reset and moments is None)
            moments = moments or Moments(batch.shape[1], device)
            moments.update(batch)
        if moments is None:
            raise ValueError(f"{type(self).__name__}.fit: the iterable X gave no batches.")
        moments.all_reduce()
        return moments

    def _device(self) -> torch.device | None:
        """The torch device to compute on, or None for numpy on the CPU."""
        device = resolve_device(self.device)
        return None if device.type == "cpu" else device

    def _check_fit_data(self, X, reset: bool) -> np.ndarray:
        # check_X without its pass over X for NaN/inf: Moments.update detects them for free.
        return validate_data(self, to_numpy(X), reset=reset, dtype=FLOAT_DTYPES,
                             ensure_all_finite=False)

    def _min_samples(self, wanted: bool = False) -> int:
        """Samples needed to solve: 2 to centre; with ``wanted``, also an int ``n_components``."""
        need = 2 if self._centered() else 1
        k = self.n_components
        if wanted and isinstance(k, numbers.Integral) and not isinstance(k, bool):
            need = max(need, k)
        return need

    def _check_enough_samples(self) -> None:
        n, need = self._moments.n_samples, self._min_samples()
        if n < need:
            raise ValueError(
                f"{type(self).__name__} with centering needs at least {need} samples, "
                f"got n_samples={n}."
            )

    def _solve(self):
        moments, center = self._moments, self._centered()
        n, d = moments.n_samples, len(moments.sum)
        eigenvalues, vectors = principal_axes(moments.scatter(center), self._device())
        k = self._resolve_n_components(eigenvalues, min(n, d))
        denominator = n - 1 if center else n
        total = eigenvalues.sum()
        variances = eigenvalues[: min(n, d)] / denominator
        self.n_samples_seen_ = n
        self.mean_ = moments.mean if center else np.zeros(d)
        self.components_ = vectors[:k]
        self.explained_variance_ = variances[:k]
        self.explained_variance_ratio_ = eigenvalues[:k] / total if total > 0 else np.zeros(k)
        self.singular_values_ = np.sqrt(eigenvalues[:k])
        self.noise_variance_ = float(variances[k:].mean()) if k < len(variances) else 0.0
        self.n_components_ = k
        return self

    def _resolve_n_components(self, eigenvalues: np.ndarray, limit: int) -> int:
        k = self.n_components
        if k is None:
            return limit
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            if not 1 <= k <= limit:
                raise ValueError(
                    f"n_components={k} must be between 1 and "
                    f"min(n_samples, n_features)={limit}."
                )
            return int(k)
        if isinstance(k, numbers.Real) and not isinstance(k, bool):
            if not 0 < k < 1:
                raise ValueError(
                    f"n_components={k} must be an int, or a float strictly between 0 and 1 "
                    "(the fraction of variance to keep)."
                )
            total = eigenvalues.sum()
            ratios = np.cumsum(eigenvalues) / total if total > 0 else np.zeros(len(eigenvalues))
            return min(int(np.searchsorted(ratios, k, side="right")) + 1, limit)
        raise TypeError(
            f"n_components must be None, an int or a float in (0, 1), got {k!r} "
            f"of type {type(k).__name__}."
        )

    def _scale(self) -> np.ndarray | None:
        return None

    def _coder(self) -> LinearCoder:
        """This model as a float32 torch module with ``encode`` and ``decode``."""
        check_is_fitted(self, "components_")
        scale = self._scale()
        return LinearCoder(*(torch.tensor(np.array(a, np.float32)) for a in (
            self.mean_, self.components_, 1.0 if scale is None else scale)))

    def _check_loaded_state(self) -> None:
        """Raise a ValueError unless the fitted arrays have the shapes that ``n_components_``
        and ``n_features_in_`` imply (:func:`deepae.load` calls it)."""
        if not hasattr(self, "components_"):
            return
        k, d = self.n_components_, self.n_features_in_
        shapes = {"components_": (k, d), "mean_": (d,), "explained_variance_": (k,),
                  "explained_variance_ratio_": (k,), "singular_values_": (k,)}
        if hasattr(self, "_moments"):
            shapes.update({"_moments.sum": (d,), "_moments.gram": (d, d)})
        for name, shape in shapes.items():
            value = self
            for part in name.split("."):
                value = getattr(value, part)
            if np.shape(value) != shape:
                raise ValueError(f"{name} has shape {np.shape(value)} where n_components_={k} "
                                 f"and n_features_in_={d} ask for {shape}")

    def transform(self, X):
        """The code ``Φ(x) = Wᵀ(x − mean_)``, in ``X``'s float dtype (chunk by chunk)."""
        check_is_fitted(self, "components_")
        X = check_X(self, X, reset=False)
        mean, components = self.mean_.astype(X.dtype), self.components_.T.astype(X.dtype)
        scale = self._scale()
        scale = 1 if scale is None else scale.astype(X.dtype)
        return map_chunks(lambda chunk: (chunk - mean) @ components / scale, X)

    def inverse_transform(self, X):
        """Decode codes back to input space: ``W z + mean_``."""
        check_is_fitted(self, "components_")
        Z = check_array(to_numpy(X), dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {Z.shape[1]} features (code columns), but {type(self).__name__} "
                f"has n_components_={self.n_components_}."
            )
        scale = self._scale()
        if scale is not None:
            Z = Z * scale.astype(Z.dtype)
        return Z @ self.components_.astype(Z.dtype) + self.mean_.astype(Z.dtype)

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample squared reconstruction error ``‖x − h(x)‖²`` (chunk by chunk)."""
        check_is_fitted(self, "components_")
        X = check_X(self, X, reset=False)
        mean, components = self.mean_.astype(X.dtype), self.components_.astype(X.dtype)

        def errors(chunk):
            centered = chunk - mean
            residual = centered - (centered @ components.T) @ components
            return np.einsum("ij,ij->i", residual, residual)

        return map_chunks(errors, X)

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class PCA(LinearAutoencoder):
    """Principal component analysis: the centered linear autoencoder, solved exactly.

    The same model as :class:`LinearAutoencoder` with ``center=True``; its attributes have
    scikit-learn's ``PCA`` names and meanings. Unlike scikit-learn's covariance solver it
    accumulates the scatter about a provisional mean in float64, so float32 data with a large
    offset keeps its exact variances, and it fits in one pass over chunks (or a stream of
    :meth:`partial_fit` batches) in memory independent of ``n_samples``.

    Parameters
    ----------
    n_components : int, float or None, default=None
        As for :class:`LinearAutoencoder`.
    whiten : bool, default=False
        Divide the codes by the square root of ``explained_variance_`` (unit variance).
    device : str or torch.device, default="auto"
        As for :class:`LinearAutoencoder`.

    Attributes
    ----------
    components_, mean_, explained_variance_, explained_variance_ratio_, singular_values_,
    noise_variance_, n_components_, n_features_in_, n_samples_seen_
        As for :class:`LinearAutoencoder` (``explained_variance_`` uses ``n_samples - 1``).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepae import PCA
    >>> X = load_digits().data
    >>> pca = PCA(n_components=0.9).fit(X)
    >>> pca.n_components_
    21
    """

    def __init__(self, n_components=None, whiten=False, device="auto"):
        self.n_components = n_components
        self.whiten = whiten
        self.device = device

    def _centered(self) -> bool:
        return True

    def _scale(self) -> np.ndarray | None:
        if not self.whiten:
            return None
        return np.sqrt(np.maximum(self.explained_variance_, np.finfo(np.float64).tiny))
