"""Closed-form linear autoencoder: one-pass second-moment statistics and their eigenvectors.

The linear autoencoder ``h(x) = W Wᵀ x`` minimises ``1/N Σ ‖x − W Wᵀ x‖²`` when the columns of
``W`` are the top eigenvectors of ``XᵀX`` (of the scatter matrix about the mean for PCA). Both
matrices follow from three sufficient statistics — ``N``, ``Σx`` and ``XᵀX`` — which
:class:`Moments` accumulates chunk by chunk, so the fit is exact, one pass, and needs memory
independent of ``N``.
"""

import numpy as np
import scipy.linalg
import scipy.sparse
import torch
from sklearn.utils import assert_all_finite

from . import distributed
from .data import chunk_rows, iter_chunks


class Moments:
    """Running ``N``, ``Σ(x − c)`` and ``Σ(x − c)(x − c)ᵀ`` about a provisional shift ``c``.

    ``c`` is the mean of the first chunk, rounded to float32 (so float32 and float64 batches
    both subtract it exactly). Shifting before the product keeps the scatter exact for data with
    a large offset (no ``XᵀX − N m mᵀ`` cancellation). On the CPU each chunk is shifted into a
    buffer, then costs one BLAS ``syrk`` (numpy's ``Bᵀ @ B`` calls it: half the work of a
    general product) and one ``gemv`` in the chunk's dtype; the chunk results are added in
    float64. With a torch ``device`` (a GPU) the chunks are multiplied and summed there
    instead, and only the ``d × d`` result comes back. A ``scipy.sparse`` chunk is not shifted
    (that would fill it in): its product is sparse, in float64, and the centering is the
    rank-one correction of :meth:`scatter`, so memory follows its non-zeros.
    """

    def __init__(self, n_features: int, device: torch.device | None = None):
        self.n_samples = 0
        self.float32 = None  # whether every row seen was float32 (None: no rows yet)
        self.shift = None
        self.sum = np.zeros(n_features)
        self.gram = np.zeros((n_features, n_features))
        self.device = device

    def update(self, X: np.ndarray, n_rows: int | None = None) -> None:
        """Add the rows of ``X`` (a float32 or float64 matrix), ``n_rows`` rows at a time.

        By default a chunk has about 2²⁰ numbers (4 MiB in float32) and at least 4096 rows, so
        that adding each ``d × d`` product to the float64 total costs little next to the
        product itself, and the chunk and its shifted copy stay in cache (2¹⁹ to 2²² numbers
        compared: ``benchmarks/results.md``, section pca-notes).

        All or nothing: when ``X`` holds NaN or infinity nothing is added and a ``ValueError``
        is raised (the non-finite values show up on the product's diagonal, so ``X`` needs no
        separate checking pass).
        """
        n, d = X.shape
        if n == 0:
            return
        n_rows = n_rows or max(chunk_rows(d, 1 << 20), 4096)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are reported below
            shift = self.shift
            if shift is None:
                shift = (np.zeros(d) if scipy.sparse.issparse(X) else
                         float32_rounded(X[:n_rows].mean(axis=0, dtype=np.float64)))
            if scipy.sparse.issparse(X):
                gram, total = sparse_products(X, shift)
            elif self.device is None:
                gram, total = chunk_products(X, shift, n_rows)
            else:
                gram, total = device_products(X, shift, n_rows, self.device)
        if not np.isfinite(gram.diagonal()).all():
            assert_all_finite(X.data if scipy.sparse.issparse(X) else X, input_name="X")
            raise ValueError(
                f"X has values too large for {X.dtype}: their squares overflow; "
                "rescale X or pass it as float64."
            )
        self.shift = shift
        self.float32 = X.dtype == np.float32 and self.float32 in (None, True)
        self.n_samples += n
        self.sum += total
        self.gram += gram

    def recenter(self, shift: np.ndarray) -> None:
        """Express the statistics about another shift (exact in float64 for a nearby one)."""
        delta = self.shift - shift
        s_delta = np.outer(self.sum, delta)
        self.gram += s_delta + s_delta.T + self.n_samples * np.outer(delta, delta)
        self.sum += self.n_samples * delta
        self.shift = shift

    def merge(self, other: "Moments") -> None:
        """Add the rows counted by ``other`` (which is left recentered on this shift)."""
        if other.n_samples == 0:
            return
        if self.n_samples == 0:
            self.shift = other.shift
        other.recenter(self.shift)
        self.float32 = bool(other.float32) and self.float32 in (None, True)
        self.n_samples += other.n_samples
        self.sum += other.sum
        self.gram += other.gram

    def all_reduce(self) -> None:
        """Sum the statistics of all ranks, about one shift (the mean of the ranks' shifts),
        so that every rank holds those of the whole data set; nothing without a process
        group."""
        if not distributed.active():
            return
        has_rows = self.n_samples > 0
        local_shift = self.shift if has_rows else np.zeros_like(self.sum)
        shifts = distributed.all_reduce(np.append(local_shift, 1.0) * has_rows)
        shift = float32_rounded(shifts[:-1] / max(shifts[-1], 1.0))
        if has_rows:
            self.recenter(shift)
        self.shift = shift
        d = len(self.sum)
        total = distributed.all_reduce(np.concatenate([[self.n_samples], self.sum,
                                                       self.gram.ravel()]))
        self.n_samples, self.sum, self.gram = int(total[0]), total[1 : d + 1], (
            total[d + 1 :].reshape(d, d))

    @property
    def mean(self) -> np.ndarray:
        """The mean of all rows seen."""
        return self.shift + self.sum / self.n_samples

    def scatter(self, center: bool) -> np.ndarray:
        """``Σ(x − x̄)(x − x̄)ᵀ`` when ``center``, else ``XᵀX``; symmetric, float64."""
        s, c, n = self.sum, self.shift, self.n_samples
        if center:
            S = self.gram - np.outer(s, s) / n
        else:
            cs = np.outer(c, s)
            S = self.gram + cs + cs.T + n * np.outer(c, c)
        return (S + S.T) / 2


def chunk_products(X: np.ndarray, shift: np.ndarray, n_rows: int):
    """``Σ(x − c)(x − c)ᵀ`` and ``Σ(x − c)`` in float64, on the CPU: each chunk is shifted
    into a buffer, then costs one BLAS product in ``X``'s dtype."""
    n, d = X.shape
    gram, total = np.zeros((d, d)), np.zeros(d)
    buffer = np.empty((min(n, n_rows), d), X.dtype)
    ones = np.ones(min(n, n_rows), X.dtype)
    shift_x = shift.astype(X.dtype)
    for chunk in iter_chunks(X, n_rows):
        block = np.subtract(chunk, shift_x, out=buffer[: len(chunk)])
        gram += block.T @ block
        total += ones[: len(block)] @ block
    return gram, total


def sparse_products(X, shift: np.ndarray):
    """``Σ(x − c)(x − c)ᵀ`` and ``Σ(x − c)`` in float64 for a ``scipy.sparse`` matrix ``X``:
    its sparse product ``XᵀX`` and column sums, moved to the shift ``c`` by a rank-one
    correction (none for the zero shift a sparse first chunk sets)."""
    X = X.astype(np.float64, copy=False)
    gram = (X.T @ X).toarray()
    total = np.asarray(X.sum(axis=0)).ravel()
    if shift.any():
        n, s_c = X.shape[0], np.outer(total, shift)
        gram += n * np.outer(shift, shift) - s_c - s_c.T
        total -= n * shift
    return gram, total


def device_products(X: np.ndarray, shift: np.ndarray, n_rows: int, device: torch.device):
    """The same sums on a torch ``device``: each chunk is copied there and multiplied in
    ``X``'s dtype, the sums are kept there in float64 and come back once, as numpy."""
    dtype = getattr(torch, X.dtype.name)
    shift_x = torch.as_tensor(shift, device=device).to(dtype)
    gram = torch.zeros((X.shape[1], X.shape[1]), dtype=torch.float64, device=device)
    total = torch.zeros(X.shape[1], dtype=torch.float64, device=device)
    for chunk in iter_chunks(X, n_rows):
        block = torch.tensor(chunk, device=device) - shift_x
        gram += (block.T @ block).double()
        total += block.sum(0, dtype=torch.float64)
    return gram.cpu().numpy(), total.cpu().numpy()


#: The narrowest scatter matrix whose top eigenpairs are computed alone (see principal_axes).
SUBSET_FEATURES = 256


def principal_axes(
    scatter: np.ndarray, device: torch.device | None = None, count: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending, clipped at 0) and eigenvectors (as rows) of a symmetric matrix,
    computed on ``device`` when one is given (results as numpy). On the CPU numpy's ``eigh``,
    on the BLAS the data's pass used; for d > 256 only the top ``count`` when it is given
    (scipy's ``syevr`` on that subset: 0.42 s against 1.13 s at d = 2000, k = 30, and k
    vectors in memory, not d). Up to d = 256 the subset gains nothing and wakes scipy's own
    OpenBLAS beside numpy's (``benchmarks/results.md``, section pca-notes).

    Signs are fixed as scikit-learn fixes them: each row's entry of largest magnitude is
    positive, so the result is deterministic.
    """
    d = len(scatter)
    if device is None and count is not None and 0 < count < d and d > SUBSET_FEATURES:
        eigenvalues, vectors = scipy.linalg.eigh(scatter, subset_by_index=[d - count, d - 1],
                                                 check_finite=False)
    elif device is None:
        eigenvalues, vectors = np.linalg.eigh(scatter)
    else:
        eigenvalues, vectors = (t.cpu().numpy() for t in torch.linalg.eigh(
            torch.as_tensor(scatter, device=device)))
    return np.clip(eigenvalues[::-1], 0.0, None), sign_fixed(vectors[:, ::-1].T)


def sign_fixed(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` (rows) with signs fixed as scikit-learn fixes them: each row's entry of
    largest magnitude is positive."""
    largest = np.argmax(np.abs(vectors), axis=1)
    return vectors * np.sign(vectors[np.arange(len(vectors)), largest])[:, None]


def float32_rounded(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to float32 where they fit, as float64: a shift that float32 and
    float64 rows both subtract exactly."""
    with np.errstate(over="ignore"):
        return np.where(np.abs(values) < 1e38, values.astype(np.float32), values).astype(np.float64)
