"""The linear autoencoder and PCA, solved in closed form (scikit-learn estimators)."""

import numbers

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import assert_all_finite, check_random_state, check_scalar
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import distributed, ppca
from ._base import resolve_device, seed_from
from ._validation import (
    FLOAT_DTYPES,
    check_option,
    check_X,
    map_chunks,
    table_numbers,
    to_numpy,
)
from .data import first_item, is_batches, is_memmap
from .linalg import Moments, principal_axes
from .modules import LinearCoder
from .persistence import SaveMixin
from .scores import ReconstructionScoresMixin
from .solvers import (
    SVD_SOLVERS,
    RowPasses,
    Spectrum,
    arpack_spectrum,
    choose_solver,
    full_spectrum,
    gram_spectrum,
    randomized_spectrum,
    streamed_arpack_spectrum,
)
from .tabular import estimators as tables
from .tabular.frames import is_table

#: The solvers that take ``scipy.sparse`` input (centering it implicitly), as in scikit-learn.
SPARSE_SOLVERS = ("auto", "arpack", "covariance_eigh")
#: The widest dense rows ``PCA.score_samples`` scores with the d × d precision (128 MiB).
MAX_PRECISION_FEATURES = 4096


class LinearAutoencoder(SaveMixin, ReconstructionScoresMixin, ClassNamePrefixFeaturesOutMixin,
                        TransformerMixin, BaseEstimator):
    """Linear autoencoder ``h(x) = W Wᵀ x`` with tied weights and no bias, solved exactly.

    The optimum of ``E(W) = 1/N Σ ‖x_n − W Wᵀ x_n‖²`` over ``d × k`` matrices ``W`` has as
    columns the top-``k`` eigenvectors of ``XᵀX``; the code is ``Φ(x) = Wᵀ x``. The fit
    accumulates ``N``, ``Σx`` and ``XᵀX`` over chunks in one pass, so :meth:`partial_fit` on a
    stream of batches gives the model :meth:`fit` gives on all of them.

    Parameters
    ----------
    n_components : int, float, "mle" or None, default=None
        Code size ``k``. An int in ``[0, min(n_samples, n_features)]`` (``[1, min − 1]`` for
        ``"arpack"``); a float in ``(0, 1)`` keeps the fewest components whose
        explained-variance ratio reaches it; ``"mle"`` is Minka's estimate (exact solvers,
        ``n_samples ≥ n_features``); ``None`` keeps ``min(n_samples, n_features)`` (one less
        for ``"arpack"``).
    center : bool, default=False
        Subtract the mean before encoding (then the model is PCA without whitening).
    copy : bool, default=True
        Accepted for scikit-learn compatibility; no effect: no solver writes into ``X``.
    svd_solver : {"auto", "covariance_eigh", "randomized", "arpack", "gram", "full"}, \
default="auto"
        How the top eigenvectors are found (the names of scikit-learn's ``PCA`` where they
        mean the same):

        - ``"covariance_eigh"``: one exact pass accumulating the ``d × d`` second moments in
          float64, then a ``d × d`` eigenproblem; any data source, :meth:`partial_fit`;
        - ``"gram"``: the exact ``n × n`` matrix ``AAᵀ`` and its eigenproblem, for data in
          memory with ``n < d`` (never a ``d × d`` matrix);
        - ``"full"``: LAPACK's SVD of the (centered) data in memory, exact, slow;
        - ``"arpack"``: ARPACK's Lanczos iteration on the Gram operator of the data (what
          scikit-learn's ``svds`` runs), centered implicitly (never copied), to tolerance
          ``tol``; for sparse data memory is the non-zeros plus ARPACK's
          ``min(n, d) × 1.5 k`` basis (:func:`deepae.solvers.arpack_spectrum`); on a file,
          re-iterable batches (:class:`deepae.SparseRows`) or under ``torchrun``, one pass
          over the rows (all-reduced) for each Lanczos product;
        - ``"randomized"``: randomized block Krylov iteration (Musco & Musco 2015, Halko et
          al.'s subspace iteration keeping every block) with ``iterated_power + 1`` passes
          over the data and one more product (Rayleigh–Ritz), memory
          ``O(d (iterated_power + 2) (k + n_oversamples))``; any re-iterable data source,
          under ``torchrun`` and on a GPU; needs an int ``n_components``;
        - ``"auto"``: chosen from ``n``, ``d``, ``n_components`` and the data source by
          :func:`deepae.solvers.choose_solver` (documented there with the measurements
          behind it); for ``scipy.sparse`` input ``"arpack"`` where that rule says
          ``"randomized"`` (``d ≥ 18 (k + 10)``: TF-IDF and one-hot matrices), else
          ``"covariance_eigh"`` (a dense ``d × d`` matrix).

        Sparse input (``scipy.sparse`` CSR/CSC, torch sparse COO/CSR/CSC tensors, batches
        of them, a ``save_npz`` file through :class:`deepae.SparseRows`) is taken by
        ``"covariance_eigh"`` (a sparse ``XᵀX`` and a rank-one mean correction), ``"arpack"``
        and ``"auto"``; the others raise a ``TypeError``, as scikit-learn's ``PCA`` does.
    tol : float, default=0.0
        Tolerance of ``"arpack"`` (0: machine precision).
    iterated_power : int or "auto", default="auto"
        Krylov blocks of ``"randomized"`` after the first, one pass over the data each:
        ``"auto"`` is 4 (5 passes; more accurate than scikit-learn's 7 power iterations on
        the shapes of the ``pca_wide`` benchmark).
    n_oversamples : int, default=10
        Extra random directions of ``"randomized"``.
    power_iteration_normalizer : {"auto", "QR", "LU", "none"}, default="auto"
        Accepted for scikit-learn compatibility; no effect: block Krylov iteration
        orthonormalizes every block.
    random_state : int, RandomState or None, default=None
        Seed of the starting directions of ``"randomized"`` and ``"arpack"``.
    device : str or torch.device, default="auto"
        Where the statistics are accumulated and the eigenproblem solved: ``"auto"`` is a
        CUDA GPU when there is one (chunks are copied there; only the ``d × d`` statistics,
        or the ``d × (k + n_oversamples)`` blocks of ``"randomized"``, come back), else the
        CPU (numpy and its BLAS). ``"gram"`` and ``"full"`` run on the CPU. Results are numpy
        arrays either way.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        ``Wᵀ``: the eigenvectors as rows, largest eigenvalue first; each row's largest entry
        in magnitude is positive.
    mean_ : ndarray of shape (n_features,)
        What is subtracted before encoding: the data mean, or zeros when ``center=False``.
    explained_variance_ : ndarray of shape (n_components,)
        The kept eigenvalues of the scatter divided by ``n_samples - 1`` (centered) or by
        ``n_samples`` (uncentered: the mean squared projection). Uncentered, the mean
        reconstruction error equals the sum of the discarded ones (Eckart–Young). Like the
        other fitted arrays except ``mean_`` (float64), in the data's float dtype.
    explained_variance_ratio_ : ndarray of shape (n_components,)
        Fraction of the total (co)variance along each kept component.
    singular_values_ : ndarray of shape (n_components,)
        Singular values of the (centered) data matrix.
    noise_variance_ : float
        Mean of the ``min(n_samples, n_features) - n_components_`` discarded variances (0
        when none are discarded), from the exact total variance.
    n_components_ : int
    n_features_in_ : int
    n_samples_, n_samples_seen_ : int
        The number of rows fitted (the same; the first is scikit-learn's name).

    Examples
    --------
    >>> import numpy as np
    >>> from deepae import LinearAutoencoder
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> LinearAutoencoder(n_components=2).fit(X).transform(X).shape
    (100, 2)
    """

    #: A table (strings, missing cells) is read through a fitted ``TableEncoder``
    #: (``encoder_``; see :func:`deepae.tabular.estimators.table_numbers`).
    _reads_tables = True

    def __init__(self, n_components=None, center=False, svd_solver="auto",
                 iterated_power="auto", n_oversamples=10, random_state=None, device="auto",
                 copy=True, tol=0.0, power_iteration_normalizer="auto"):
        self.n_components = n_components
        self.center = center
        self.svd_solver = svd_solver
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.random_state = random_state
        self.device = device
        self.copy = copy
        self.tol = tol
        self.power_iteration_normalizer = power_iteration_normalizer

    def _centered(self) -> bool:
        return bool(self.center)

    def fit(self, X, y=None):
        """Fit in one pass over the chunks of ``X``: an array, tensor or memory-mapped
        ``.npy`` file, a sparse matrix or :class:`deepae.SparseRows`, or an iterable of
        batches (arrays or tensors, or tuples whose first item is one, as a ``DataLoader``
        yields). Under a process group, ``X`` is this rank's shard and every rank gets the
        model of all shards. ``"randomized"`` and ``"arpack"`` read ``X`` several times, so
        an iterable must be re-iterable (not a generator)."""
        batches = is_batches(X)
        X = X if batches else to_numpy(X)
        check_option("svd_solver", self.svd_solver, SVD_SOLVERS)
        check_option("power_iteration_normalizer", self.power_iteration_normalizer,
                     ("auto", "QR", "LU", "none"))
        if self._sparse_input(X, batches) and self.svd_solver not in SPARSE_SOLVERS:
            raise TypeError(
                f'{type(self).__name__} only support sparse inputs with the "arpack" and '
                f'"covariance_eigh" solvers, while "{self.svd_solver}" was passed. See '
                "TruncatedSVD for a possible alternative.")
        if not batches:
            X = self._check_fit_data(X, reset=True)
        solver = self._fit_solver(X, batches)
        shape = None if batches or is_memmap(X) else X.shape
        if solver in ("arpack", "randomized"):
            k = self._truncated_components(solver, shape)
        else:
            self._check_exact_components(self._named_solver(solver, shape), shape)
        if solver == "covariance_eigh":
            self._moments = self._accumulate(X, reset=batches, checked=not batches)
            self._check_enough_samples(self._moments.n_samples)
            return self._solve(solver)
        self.__dict__.pop("_moments", None)  # partial_fit after this fit starts afresh
        center, dtype = self._centered(), getattr(X, "dtype", None)
        in_memory = not (batches or is_memmap(X) or distributed.active())
        if solver in ("gram", "full") or (solver == "arpack" and in_memory):  # one check
            assert_all_finite(X.data if scipy.sparse.issparse(X) else X, input_name="X")
        if solver == "gram":
            count = self.n_components if self._int_components() else None
            spectrum = gram_spectrum(X, count, center)
        elif solver == "full":
            spectrum = full_spectrum(X, center)
        elif solver == "arpack" and in_memory:
            start = check_random_state(self.random_state).uniform(-1, 1, min(X.shape))
            spectrum = arpack_spectrum(X, k, center, self.tol, start)
        else:
            spectrum, dtype = self._streamed(X, batches, k, solver)
        self._check_enough_samples(spectrum.n_samples)
        return self._set_spectrum(spectrum, solver, dtype)

    def _fit_solver(self, X, batches: bool) -> str:
        """The solver to run: ``svd_solver``, or the one ``"auto"`` picks for ``X``."""
        k = self._int_components()
        in_memory = not batches and not is_memmap(X) and not distributed.active()
        if self.svd_solver in ("gram", "full") and not in_memory:
            raise ValueError(f"svd_solver={self.svd_solver!r} needs the data in memory in one "
                             "process (not batches, a memory-mapped file or a process group); "
                             "use 'arpack', 'randomized' or 'covariance_eigh'.")
        if self.svd_solver != "auto":
            return self.svd_solver
        if batches and iter(X) is X:  # one pass only
            return "covariance_eigh"
        if self.n_components == "mle":
            return "full" if in_memory else "covariance_eigh"
        n_samples, n_features = X.shape[0] if in_memory else None, self._n_features(X, batches)
        solver = choose_solver(n_samples, n_features, k)
        if self._sparse_input(X, batches):
            limit = min(X.shape) if in_memory else n_features
            return "arpack" if solver == "randomized" and k < limit else "covariance_eigh"
        return solver

    @staticmethod
    def _sparse_input(X, batches: bool) -> bool:
        """Whether ``X`` is a ``scipy.sparse`` matrix, or re-iterable batches whose first
        is one (a one-shot iterator is not looked into)."""
        if batches:
            return iter(X) is not X and scipy.sparse.issparse(
                first_item(next(iter(X), None)))
        return scipy.sparse.issparse(X)

    def _truncated_components(self, solver: str, shape: tuple | None) -> int:
        """The int ``n_components`` that ``"arpack"`` or ``"randomized"`` computes
        (``None``: all, or one less for ``"arpack"``), checked as scikit-learn checks it
        (``shape``: that of the data in memory, else None)."""
        k, limit = self.n_components, None if shape is None else min(shape)
        if k is None and limit is not None:
            return limit - 1 if solver == "arpack" else limit
        if isinstance(k, str):
            raise ValueError(f"n_components={k!r} cannot be a string with svd_solver={solver!r}")
        if self._int_components() is None:
            raise ValueError(f"svd_solver={solver!r} needs an int n_components, got {k!r}; "
                             "use 'auto' or 'covariance_eigh'.")
        if k < 1 or (limit is not None and k > limit):
            raise ValueError(f"n_components={k} must be between 1 and min(n_samples, "
                             f"n_features)={limit} with svd_solver={solver!r}")
        if solver == "arpack" and k == limit:
            raise ValueError(f"n_components={k} must be strictly less than min(n_samples, "
                             f"n_features)={limit} with svd_solver='arpack'")
        return int(k)

    def _named_solver(self, solver: str, shape: tuple | None) -> str:
        """The solver an error names: ``svd_solver``, except that for ``"auto"`` it is the
        exact solver scikit-learn's ``"auto"`` names for that shape (``"covariance_eigh"``
        for ``n ≥ 10 d`` and ``d ≤ 1000``, else ``"full"``), so the messages match."""
        if self.svd_solver != "auto" or shape is None:
            return solver
        return "covariance_eigh" if shape[1] <= 1000 and shape[0] >= 10 * shape[1] else "full"

    def _check_exact_components(self, solver: str, shape: tuple | None) -> None:
        """Raise scikit-learn's errors for an ``n_components`` an exact solver cannot give
        (``shape``: that of the data in memory, else None: checked after the fit)."""
        k = self.n_components
        if k == "mle" and shape is not None and shape[0] < shape[1]:
            raise ValueError("n_components='mle' is only supported if n_samples >= n_features")
        if self._int_components() is not None and shape is not None and k > min(shape):
            raise ValueError(f"n_components={k} must be between 0 and min(n_samples, "
                             f"n_features)={min(shape)} with svd_solver={solver!r}")

    @staticmethod
    def _n_features(X, batches: bool) -> int:
        """The number of columns of ``X`` (of its first batch)."""
        first = first_item(next(iter(X), None)) if batches else X
        if first is None:
            raise ValueError("The iterable X gave no batches.")
        shape = np.shape(to_numpy(first))
        if len(shape) != 2:
            raise ValueError(f"Expected 2-D batches, got a batch of shape {shape}.")
        return shape[1]

    def _int_components(self) -> int | None:
        """``n_components`` when it is an int (checked not to be negative), else None."""
        k = self.n_components
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            if k < 0:
                raise ValueError(f"n_components={k} must be between 0 and "
                                 "min(n_samples, n_features).")
            return int(k)
        return None

    def _streamed(self, X, batches: bool, k: int, solver: str) -> tuple[Spectrum, np.dtype]:
        """Fit by ``"randomized"`` (block Krylov) or ``"arpack"`` (Lanczos) over passes over
        the row chunks of ``X``; also the dtype the fitted arrays take (float64 unless every
        batch is float32)."""
        if solver == "randomized":
            check_scalar(self.n_oversamples, "n_oversamples", numbers.Integral, min_val=1)
            if self.iterated_power != "auto":
                check_scalar(self.iterated_power, "iterated_power", numbers.Integral,
                             min_val=0)
        dtypes = []

        def check(batch):
            batch = self._check_fit_data(first_item(batch), reset=not dtypes)
            dtypes.append(batch.dtype)
            return batch

        passes, d = RowPasses(X, check, batches), self._n_features(X, batches)
        seed = seed_from(self.random_state)
        if solver == "arpack":
            start = np.random.default_rng(seed).uniform(-1, 1, d)
            spectrum = streamed_arpack_spectrum(passes, d, k, self._centered(), self.tol,
                                                start)
        else:
            spectrum = randomized_spectrum(
                passes, n_features=d, n_components=k, center=self._centered(),
                n_oversamples=self.n_oversamples, iterated_power=self.iterated_power,
                seed=seed, device=self._device())
        return spectrum, np.result_type(*dtypes) if dtypes else X.dtype

    def partial_fit(self, X, y=None):
        """Add the batch ``X`` (as for :meth:`fit`) to the statistics and re-solve; the first
        call starts afresh. Under a process group, every rank must call it alike.

        The model is solved once enough rows have been seen (2 for centering, and at least
        ``n_components`` when that is an int); until then it is not fitted.

        Table batches (strings, missing cells) are encoded as the first batch's
        :class:`deepae.TableEncoder` encodes them (levels, scaling, missing slots fitted on
        that batch): a level unseen in it takes the unseen-level slot, a missing cell of a
        column complete in it reads as 0 (the first batch's mean; for a category, no slot).
        A table batch after a first batch of numbers only raises a ValueError.
        """
        check_option("svd_solver", self.svd_solver, SVD_SOLVERS)
        if self.svd_solver not in ("auto", "covariance_eigh"):
            raise ValueError(
                f"partial_fit keeps exact one-pass statistics, so it needs "
                f"svd_solver='covariance_eigh' or 'auto', got svd_solver={self.svd_solver!r}."
            )
        if getattr(self, "_moments", None) is None:
            self._moments = self._accumulate(X, reset=True)
        else:
            self._moments.merge(self._accumulate(X, reset=False))
        if self._moments.n_samples >= self._min_samples(wanted=True):
            self._solve("covariance_eigh")
        return self

    def _accumulate(self, X, reset: bool, checked: bool = False) -> Moments:
        """The statistics of the rows of ``X`` (summed over ranks under a process group);
        ``checked``: ``X`` is an array validated already."""
        moments, device = None, self._device()
        for batch in map(first_item, X) if is_batches(X) else [X]:
            if not checked:
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

    def _check_fit_data(self, X, reset: bool):
        # check_X without its pass over dense X for NaN/inf: Moments.update detects them for
        # free (a sparse X is checked: its non-zeros only).
        X = to_numpy(X)
        if not reset and not tables.has_encoder(self) and is_table(X):
            raise ValueError(
                f"{type(self).__name__}: this batch is a table (strings or missing cells) but "
                "the first batch was numbers only, so no table encoder was fitted; start with "
                "a table batch or fit the whole table.")
        X = table_numbers(self, X, reset)
        return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES,
                             accept_sparse=("csr", "csc"),
                             ensure_all_finite=scipy.sparse.issparse(X))

    def _min_samples(self, wanted: bool = False) -> int:
        """Samples needed to solve: 2 to centre; with ``wanted``, also an int ``n_components``."""
        need = 2 if self._centered() else 1
        k = self.n_components
        if wanted and isinstance(k, numbers.Integral) and not isinstance(k, bool):
            need = max(need, k)
        return need

    def _check_enough_samples(self, n: int) -> None:
        need = self._min_samples()
        if n < need:
            raise ValueError(
                f"{type(self).__name__} with centering needs at least {need} samples, "
                f"got n_samples={n}."
            )

    def _solve(self, solver: str):
        moments = self._moments
        scatter = moments.scatter(self._centered())
        eigenvalues, vectors = principal_axes(scatter, self._device(), self._int_components())
        dtype = np.float32 if moments.float32 else np.float64
        return self._set_spectrum(Spectrum(eigenvalues, vectors, float(np.trace(scatter)),
                                           moments.n_samples, moments.mean), solver, dtype)

    def _set_spectrum(self, spectrum: Spectrum, solver: str, dtype=None):
        """Set the fitted attributes from the top of the scatter's spectrum (``dtype``: that
        of the data, which the fitted arrays but ``mean_`` take; float64 when None)."""
        center, n, d = self._centered(), spectrum.n_samples, len(spectrum.mean)
        limit = min(n, d)
        denominator = n - 1 if center else n
        k = self._resolve_n_components(spectrum.eigenvalues, spectrum.total, limit, solver,
                                       n, d)
        kept, total = spectrum.eigenvalues[:k], spectrum.total
        dtype = np.float64 if dtype is None else dtype
        self.n_samples_seen_ = self.n_samples_ = n
        self.mean_ = spectrum.mean if center else np.zeros(d)
        self.components_ = spectrum.vectors[:k].astype(dtype, copy=False)
        self.explained_variance_ = (kept / denominator).astype(dtype)
        self.explained_variance_ratio_ = (kept / total if total > 0 else np.zeros(k)).astype(
            dtype)
        self.singular_values_ = np.sqrt(kept).astype(dtype)
        rest = max(total - kept.sum(), 0.0) / denominator
        self.noise_variance_ = float(rest / (limit - k)) if k < limit else 0.0
        self.n_components_ = k
        return self

    def _resolve_n_components(self, eigenvalues: np.ndarray, total: float, limit: int,
                              solver: str, n: int, d: int) -> int:
        k = self.n_components
        if solver in ("arpack", "randomized"):
            return self._truncated_components(solver, (n, d))
        if k is None:
            return limit
        if isinstance(k, str) and k == "mle":
            self._check_exact_components(solver, (n, d))
            return ppca.minka_rank(eigenvalues[:d] / (n - 1), n)
        if isinstance(k, numbers.Integral) and not isinstance(k, bool):
            self._check_exact_components(solver, (n, d))
            return int(k)
        if isinstance(k, numbers.Real) and not isinstance(k, bool):
            if not 0 < k < 1:
                raise ValueError(
                    f"n_components={k} must be an int, or a float strictly between 0 and 1 "
                    "(the fraction of variance to keep)."
                )
            ratios = np.cumsum(eigenvalues) / total if total > 0 else np.zeros(len(eigenvalues))
            return min(int(np.searchsorted(ratios, k, side="right")) + 1, limit)
        raise TypeError(
            f"n_components must be None, an int, a float in (0, 1) or 'mle', got {k!r} "
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
        X = to_numpy(X)
        if scipy.sparse.issparse(X):
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES,
                              accept_sparse=("csr", "csc"))
        else:
            X = check_X(self, X, reset=False)
        mean, components = self.mean_.astype(X.dtype), self.components_.T.astype(X.dtype)
        scale = self._scale()
        scale = 1 if scale is None else scale.astype(X.dtype)
        if scipy.sparse.issparse(X):  # centered implicitly: X stays sparse
            return (X @ components - mean @ components) / scale
        return map_chunks(lambda chunk: (chunk - mean) @ components / scale, X)

    def inverse_transform(self, X):
        """Decode codes back to input space: ``W z + mean_`` (fitted on a table: a DataFrame
        of its columns, each category its most likely level)."""
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
        return tables.decoded(
            self, Z @ self.components_.astype(Z.dtype) + self.mean_.astype(Z.dtype))

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample squared reconstruction error ``‖x − h(x)‖²`` (chunk by chunk; for
        ``scipy.sparse`` rows ``‖x − m‖² − ‖Wᵀ(x − m)‖²`` in float64, never densified)."""
        check_is_fitted(self, "components_")
        X = to_numpy(X)
        if scipy.sparse.issparse(X):
            return self._sparse_reconstruction_error(X)
        X = check_X(self, X, reset=False)
        mean, components = self.mean_.astype(X.dtype), self.components_.astype(X.dtype)

        def errors(chunk):
            centered = chunk - mean
            residual = centered - (centered @ components.T) @ components
            return np.einsum("ij,ij->i", residual, residual)

        return map_chunks(errors, X)

    def _sparse_reconstruction_error(self, X) -> np.ndarray:
        """:meth:`reconstruction_error` of ``scipy.sparse`` rows (the components are
        orthonormal, so the error is the squared distance to the mean less the code's)."""
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES,
                          accept_sparse=("csr", "csc"))
        squares, codes = sparse_centered_parts(X, self.mean_, self.components_)
        return np.clip(squares - np.einsum("ij,ij->i", codes, codes), 0, None).astype(X.dtype)

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = self.svd_solver in SPARSE_SOLVERS
        tags.input_tags.string = True  # tables (deepae.tabular)
        return tags


class PCA(LinearAutoencoder):
    """Principal component analysis: the centered linear autoencoder, solved exactly.

    The same model as :class:`LinearAutoencoder` with ``center=True``, and a drop-in for
    scikit-learn's ``PCA``: its parameters, attributes, sparse input, ``get_covariance``,
    ``get_precision`` and probabilistic-PCA ``score``/``score_samples``, checked against
    scikit-learn's own test module (``tests/test_sklearn_pca.py``). Unlike scikit-learn's
    covariance solver it accumulates the scatter about a provisional mean in float64, so
    float32 data with a large offset keeps its exact variances, and it fits in one pass over
    chunks (or a stream of :meth:`partial_fit` batches) in memory independent of
    ``n_samples``.

    Parameters
    ----------
    n_components : int, float, "mle" or None, default=None
        As for :class:`LinearAutoencoder`.
    copy : bool, default=True
        No effect (no solver writes into ``X``); scikit-learn's parameter.
    whiten : bool, default=False
        Divide the codes by the square root of ``explained_variance_`` (unit variance).
    svd_solver, tol, iterated_power, n_oversamples, power_iteration_normalizer, random_state, \
device
        As for :class:`LinearAutoencoder`.

    Attributes
    ----------
    components_, mean_, explained_variance_, explained_variance_ratio_, singular_values_,
    noise_variance_, n_components_, n_features_in_, n_samples_, n_samples_seen_
        As for :class:`LinearAutoencoder` (``explained_variance_`` uses ``n_samples - 1``;
        ``noise_variance_`` is the probabilistic-PCA noise variance).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepae import PCA
    >>> X = load_digits().data
    >>> pca = PCA(n_components=0.9).fit(X)
    >>> pca.n_components_
    21
    """

    def __init__(self, n_components=None, *, copy=True, whiten=False, svd_solver="auto",
                 tol=0.0, iterated_power="auto", n_oversamples=10,
                 power_iteration_normalizer="auto", random_state=None, device="auto"):
        self.n_components = n_components
        self.copy = copy
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.tol = tol
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state
        self.device = device

    def _centered(self) -> bool:
        return True

    def _scale(self) -> np.ndarray | None:
        if not self.whiten:
            return None
        return np.sqrt(np.maximum(self.explained_variance_, np.finfo(np.float64).tiny))

    def _generative_parts(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Components (scaled back when whitened), variances and noise variance, float64."""
        check_is_fitted(self, "components_")
        components = self.components_.astype(np.float64)
        variances = self.explained_variance_.astype(np.float64)
        if self.whiten:
            components = components * np.sqrt(variances[:, None])
        return components, variances, float(self.noise_variance_)

    def get_covariance(self) -> np.ndarray:
        """The covariance of the probabilistic-PCA model,
        ``Wᵀ diag(λ − σ²) W + σ² I`` (``σ²`` is ``noise_variance_``)."""
        return ppca.covariance(*self._generative_parts())

    def get_precision(self) -> np.ndarray:
        """The inverse of :meth:`get_covariance` (by the matrix inversion lemma)."""
        return ppca.precision(*self._generative_parts())

    def score_samples(self, X) -> np.ndarray:
        """The log-likelihood of each row under the probabilistic-PCA model (Tipping &
        Bishop), as scikit-learn's ``PCA.score_samples``; :meth:`reconstruction_error` gives
        the squared reconstruction error instead. With ``d`` features and ``k`` components,
        dense rows with ``d ≤ min(10k, 4096)`` go through the d × d precision (scikit-learn's
        route: one product, n × d²); sparse rows and wider ones through the rows' projections
        on the components (memory k × d, time n × d × k, sparse rows never densified,
        memory-mapped files a chunk at a time; the times of both: ``benchmarks/results.md``,
        sections pca and pca-notes)."""
        components, variances, noise = self._generative_parts()
        X = to_numpy(X)
        sparse = scipy.sparse.issparse(X)
        if sparse and noise <= 0:
            raise ValueError("score_samples of sparse rows needs noise_variance_ > 0 (fewer "
                             "components than the data's rank)")
        if not sparse and self._scores_by_precision():
            X = check_X(self, X, reset=False)
            return ppca.log_likelihood(X - self.mean_.astype(X.dtype),
                                       self.get_precision()).astype(X.dtype)
        if sparse:
            X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES,
                              accept_sparse=("csr", "csc"))
            squares, projections = sparse_centered_parts(X, self.mean_, components)
        else:
            X = check_X(self, X, reset=False)
            squares, projections = dense_centered_parts(X, self.mean_, components)
        return ppca.low_rank_log_likelihood(squares, projections, components, variances,
                                            noise, self.n_features_in_).astype(X.dtype)

    def _scores_by_precision(self) -> bool:
        """Whether dense rows are scored with the d × d precision (see :meth:`score_samples`)."""
        return self.noise_variance_ <= 0 or self.n_features_in_ <= min(
            10 * self.n_components_, MAX_PRECISION_FEATURES)

    def score(self, X, y=None) -> float:
        """The mean log-likelihood of the rows (:meth:`score_samples`)."""
        return float(np.mean(self.score_samples(X)))

    def _export_module(self):
        """The torch module of ONNX export: ``transform``, ``reconstruction_error`` and the
        log-likelihood ``score_samples`` (by the d × d precision or by the components, as
        :meth:`score_samples` computes it)."""
        from .export import GaussianScoreOutputs, LowRankGaussianScoreOutputs

        if self._scores_by_precision():
            precision = self.get_precision()
            constant = ppca.log_likelihood(np.zeros((1, len(precision))), precision)[0]
            return GaussianScoreOutputs(self._coder(), self.mean_, precision, constant)
        components, variances, noise = self._generative_parts()
        factor, logdet = ppca.low_rank_factor(components, variances, noise, len(self.mean_))
        constant = -0.5 * (len(self.mean_) * np.log(2 * np.pi) + logdet)
        return LowRankGaussianScoreOutputs(self._coder(), self.mean_, 1.0 / noise,
                                           components.T @ factor, constant)


def sparse_centered_parts(X, mean: np.ndarray, components: np.ndarray):
    """``(‖x − m‖², W(x − m))`` of each ``scipy.sparse`` row ``x`` in float64, never
    densified (the squared norm expanded: ``‖x‖² − 2 x·m + ‖m‖²``)."""
    rows, mean = X.astype(np.float64), mean.astype(np.float64)
    components = components.astype(np.float64)
    projections = rows @ components.T - mean @ components.T
    squares = (np.asarray(rows.multiply(rows).sum(axis=1)).ravel() - 2 * rows @ mean
               + mean @ mean)
    return squares, projections


def dense_centered_parts(X: np.ndarray, mean: np.ndarray, components: np.ndarray):
    """``(‖x − m‖², W(x − m))`` of each row ``x`` in float64, a chunk of rows at a time."""
    def parts(chunk):
        centered = chunk.astype(np.float64) - mean
        return np.column_stack([np.einsum("ij,ij->i", centered, centered),
                                centered @ components.T])

    stacked = map_chunks(parts, X)
    return stacked[:, 0], stacked[:, 1:]
