"""Eigen-solvers of the linear autoencoder / PCA whose cost follows ``n``, ``d`` and ``k``.

Every solver returns a :class:`Spectrum`: the top eigenvalues and eigenvectors of the scatter
``AᵀA`` (``A`` the data, centered for PCA) and its exact trace. Besides the one-pass covariance
solver (:class:`deepae.linalg.Moments`) there are

- :func:`gram_spectrum`: the ``n × n`` matrix ``AAᵀ`` for data in memory with ``n < d``;
- :func:`full_spectrum`: LAPACK's SVD of the centered data (in memory; the exact reference);
- :func:`arpack_spectrum`: ARPACK's Lanczos iteration (scipy's ``svds``) on the data, centered
  implicitly, so a ``scipy.sparse`` matrix stays sparse (:func:`streamed_arpack_spectrum`:
  the same over :class:`RowPasses`, one pass a product);
- :func:`randomized_spectrum`: randomized block Krylov iteration (Musco & Musco 2015)
  written against :class:`RowPasses`, a source of row chunks that can be read several times:
  in-memory arrays, memory-mapped files, re-iterable batches, and under ``torchrun`` the
  shards of all ranks (each pass all-reduces one ``d × (k + p)`` block). Its products run in
  torch, on the CPU or on a GPU.
"""

import concurrent.futures
import itertools
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch
from threadpoolctl import threadpool_limits

from . import distributed
from .data import chunk_rows, iter_chunks
from .linalg import float32_rounded, sign_fixed

SVD_SOLVERS = ("auto", "covariance_eigh", "randomized", "arpack", "gram", "full")


def choose_solver(n_samples: int | None, n_features: int, n_components: int | None) -> str:
    """The solver ``svd_solver="auto"`` runs (``n_samples`` is None unless the data are one
    array in memory in one process; ``n_components`` is None unless it is an int).

    The rule, with ``l = n_components + 10``:

    1. ``"gram"`` when the data are in memory, ``n < d`` and either the full spectrum is
       needed (a float or None ``n_components``) or ``n ≤ 20 l``;
    2. ``"randomized"`` when ``n_components`` is an int and ``d ≥ 18 l``;
    3. ``"covariance_eigh"`` otherwise (exact, one pass, any source).

    Evidence (float32, rank-50 signal plus noise, k = 30, seconds, one thread on a shared
    2-core machine): the covariance solver costs ``n d² / 2`` multiply-adds plus a ``d × d``
    eigenproblem, randomized (5 passes of block Krylov and a Rayleigh–Ritz product) about
    ``11 n d l`` plus its
    orthogonalization, so covariance wins for narrow data (50,000 × 640: 0.23 vs 0.28;
    200,000 × 256: 0.23 vs 0.69) and randomized for wider (20,000 × 768: 0.17 vs 0.26;
    5,000 × 1,024: 0.09 vs 0.34). For few rows the ``n × n`` Gram matrix is cheapest
    (600 × 2,048: 0.033 vs 0.047 randomized; 600 × 8,192: 0.046 vs 0.092), but its ``n × n``
    eigenproblem grows fast (1,000 × 2,048: 0.058 vs 0.036 randomized; 1,000 × 8,192: even).
    """
    in_memory_wide = n_samples is not None and n_samples < n_features
    rank = (n_components or 0) + 10
    if in_memory_wide and (n_components is None or n_samples <= 20 * rank):
        return "gram"
    if n_components is not None and n_features >= 18 * rank:
        return "randomized"
    return "covariance_eigh"


@dataclass
class Spectrum:
    """The top of a scatter's spectrum: eigenvalues (descending) and eigenvectors (as rows),
    the scatter's trace, the number of rows and their mean."""

    eigenvalues: np.ndarray
    vectors: np.ndarray
    total: float
    n_samples: int
    mean: np.ndarray


class RowPasses:
    """Row chunks of one data set that can be read again and again.

    ``X`` is an array (memory-mapped or not; its chunks' pages are released as they are
    read) or a re-iterable of batches, each given to ``check`` (which validates it and returns
    a float matrix). A one-shot iterator (a generator) cannot be read twice: a ``TypeError``
    says so.
    """

    def __init__(self, X, check: Callable[[object], np.ndarray], batches: bool):
        if batches and iter(X) is X:
            raise TypeError(
                "X is a one-shot iterator (a generator?), but this svd_solver reads the data "
                "several times: pass a re-iterable (a list of arrays, a DataLoader, a "
                "memory-mapped array) or use svd_solver='covariance_eigh' (one pass)."
            )
        self.X, self.check, self.batches = X, check, batches

    def chunks(self, n_features: int) -> Iterator[np.ndarray]:
        """One pass: consecutive row chunks of a few MB each."""
        n_rows = max(chunk_rows(n_features, 1 << 20), 256)
        for batch in map(self.check, self.X) if self.batches else [self.X]:
            if scipy.sparse.issparse(batch):  # in memory already: one chunk
                yield batch
            else:
                yield from iter_chunks(batch, n_rows)


def randomized_spectrum(
    passes: RowPasses, n_features: int, n_components: int, center: bool, n_oversamples: int,
    iterated_power: int | str, seed: int, device: torch.device | None,
) -> Spectrum:
    """Top ``n_components`` eigenpairs of the scatter by randomized block Krylov iteration
    (Musco & Musco 2015).

    Pass ``i`` reads every row chunk ``B`` once and adds ``Bᵀ(B Vᵢ)`` to ``Wᵢ = AᵀA Vᵢ``
    (float64 sums of products in the data's dtype, on ``device`` when one is given), a
    ``d × l`` block with ``l = n_components + n_oversamples``; ``V₀`` is Gaussian and
    ``Vᵢ₊₁`` is the part of ``Wᵢ`` outside ``V₀ … Vᵢ``, orthonormalized (see
    :func:`next_block`). After ``n_iter + 1`` passes (``n_iter`` is ``iterated_power``, or 4
    for ``"auto"``) the basis ``V = [V₀ … V_n_iter+1]`` spans the block Krylov space
    ``[V₀, AᵀA V₀, …, (AᵀA)^(n_iter+1) V₀]``, and ``W`` is kept as its coefficients in that
    basis (:func:`next_block` gives them), so the memory is one ``d × (n_iter + 2) l``
    matrix. One more product, ``A V_n_iter+1`` (half a pass), completes ``VᵀAᵀA V``, and the
    answer is its Rayleigh–Ritz pairs (:func:`ritz_pairs`): eigenvalues that are exactly the
    variances along the returned vectors, as scikit-learn's are of its codes.

    Centering is a rank-one correction: ``AᵀA V = BᵀB V − s (sᵀV) / n`` with ``s`` the column
    sums of the rows ``B`` about a provisional shift (see :func:`provisional_shift`).
    """
    rank = min(n_components + n_oversamples, n_features)
    V = next_block(np.empty((n_features, 0)),
                   np.random.default_rng(seed).normal(size=(n_features, rank)), rank)[0]
    chunks = passes.chunks(n_features)
    first = next(chunks, None)
    shift = provisional_shift(first, n_features) if center else None
    W, n, sums, squares = scatter_times(
        itertools.chain([] if first is None else [first], chunks), V, shift, device, True)
    if n == 0:
        raise ValueError("X has no rows.")
    if not np.isfinite(squares):
        raise ValueError("X contains NaN or infinity, or values whose squares overflow "
                         "its dtype.")

    def centered(W: np.ndarray, V: np.ndarray) -> np.ndarray:
        return W - np.outer(sums, sums @ V) / n if center else W

    n_iter = 4 if iterated_power == "auto" else iterated_power
    capacity = min((n_iter + 2) * rank, n_features)
    basis = np.empty((n_features, capacity), order="F")
    coefficients = np.zeros((capacity, capacity))
    basis[:, :rank] = V
    done, filled = 0, rank  # columns of the basis whose images AᵀA V are known; all columns
    for pass_ in range(n_iter + 1):
        if pass_ > 0:
            W = scatter_times(passes.chunks(n_features), V, shift, device)[0]
        V, C = next_block(basis[:, :filled], centered(W, V), capacity - filled)
        coefficients[: len(C), done:filled] = C
        done, filled = filled, filled + V.shape[1]
        basis[:, done:filled] = V
        if filled == done:  # the Krylov space is invariant: nothing more to find
            break
    projected = np.zeros((filled, filled))  # VᵀAᵀA V for V = basis[:, :filled]
    projected[:, :done] = coefficients[:filled, :done]
    if filled > done:  # the newest block's images are not known: (A V)ᵀ(A V) from one product
        last = basis[:, done:filled]
        moved = sums @ last if center else np.zeros(filled - done)
        projected[done:, done:] = (image_gram(passes.chunks(n_features), last, shift, device)
                                   - np.outer(moved, moved) / n)
        projected[:done, done:] = projected[done:, :done].T
    eigenvalues, vectors = ritz_pairs(projected, basis[:, :filled], rank, seed)
    trace = squares - (sums @ sums / n if center else 0.0)
    offset = np.zeros(n_features) if shift is None else shift
    return Spectrum(eigenvalues, vectors, float(trace), n, offset + sums / n)


def next_block(basis: np.ndarray, W: np.ndarray, at_most: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal columns ``V`` (at most ``at_most``) spanning the part of ``W`` outside the
    span of the orthonormal ``basis``, and the coefficients ``C`` of ``W = [basis V] C``.

    Gram–Schmidt against the basis, then the eigenvectors of the rest's Gram matrix
    (Stathopoulos & Wu's SVQB), dropping directions shorter than float32 rounding of ``W``
    (all when the Krylov space is exhausted), then a QR of the result (SVQB's columns are
    orthonormal only to rounding times the spread of their lengths). A second round of
    Gram–Schmidt runs only when some direction of the rest is shorter than ``1e-3 ‖W‖``
    (when rounding in the first could leave it more than ``1e-13`` away from orthogonal to
    the basis).
    """
    scale, C, rounds = np.linalg.norm(W), np.zeros((basis.shape[1], W.shape[1])), 0
    while True:
        again = basis.T @ W
        W = W - basis @ again
        C += again
        rounds += 1
        lam, S = np.linalg.eigh(W.T @ W)
        lam, S = lam[::-1][:at_most], S[:, ::-1][:, :at_most]
        root = np.sqrt(np.clip(lam, 0, None))
        keep = root > np.finfo(np.float32).eps * scale
        if rounds == 2 or root[keep].min(initial=scale) >= 1e-3 * scale:
            break
    root, S = root[keep], S[:, keep]
    V, R = np.linalg.qr(W @ (S / root))  # orthonormal again where W's spectrum is wide
    return V, np.vstack([C, R @ (root[:, None] * S.T)])


def provisional_shift(first: np.ndarray | None, n_features: int) -> np.ndarray | None:
    """The shift subtracted from every row before its products, or None for no shift.

    Products of float32 rows far from the origin lose the variance about the mean to rounding,
    so rows are shifted by the (float32-rounded) mean of the first chunk (over all ranks) when
    that mean is larger than the spread of the rows about it; otherwise the shift's pass over
    each chunk is not worth its time and the centering is only the rank-one correction.
    """
    has_rows = first is not None and len(first) > 0
    mean, spread = np.zeros(n_features), 0.0
    if has_rows:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are reported later
            mean = first.mean(axis=0, dtype=np.float64)
            spread = float(np.vdot(first, first)) / len(first) - mean @ mean  # rough is enough
    total = distributed.all_reduce(np.append(mean, [spread, 1.0]) * has_rows)
    mean, spread = total[:-2] / max(total[-1], 1.0), total[-2] / max(total[-1], 1.0)
    return float32_rounded(mean) if mean @ mean > spread else None


def scatter_times(chunks, V: np.ndarray, shift: np.ndarray | None,
                  device: torch.device | None, with_sums: bool = False):
    """``W = Σ Bᵀ(B V)`` over the chunks ``B`` (rows minus ``shift``), summed over ranks,
    with the number of rows ``n``, their column sums and their sum of squares (those three
    only ``with_sums``; else 0). Products on ``device`` when one is given, else with numpy."""
    products = chunk_scatter_times if device is None else device_scatter_times
    W, n, sums, squares = products(chunks, V, shift, with_sums, device)
    if not distributed.active():
        return W, n, sums, squares
    packed = distributed.all_reduce(np.concatenate([W.ravel(), sums, [squares, n]]))
    return packed[: W.size].reshape(W.shape), int(packed[-1]), packed[W.size : -2], packed[-2]


def chunk_scatter_times(chunks, V, shift, with_sums, device=None):
    """:func:`scatter_times`'s sums with numpy on the CPU (one BLAS product pair a chunk;
    ``(B V)ᵀ B`` is summed as an ``l × d`` block, which OpenBLAS multiplies faster than
    ``Bᵀ(B V)``)."""
    W, sums, n, squares = np.zeros(V.shape[::-1]), np.zeros(len(V)), 0, 0.0
    buffer = V_cast = ones = None
    for B in chunks:
        if V_cast is None or V_cast.dtype != B.dtype:
            V_cast, ones = V.astype(B.dtype), np.ones(len(B), B.dtype)
        if shift is not None:
            if buffer is None or buffer.dtype != B.dtype or len(buffer) < len(B):
                buffer = np.empty_like(B)
            B = np.subtract(B, shift.astype(B.dtype), out=buffer[: len(B)])
        W += (B @ V_cast).T @ B
        if with_sums:
            n += len(B)
            if len(ones) < len(B):
                ones = np.ones(len(B), B.dtype)
            sums += ones[: len(B)] @ B
            squares += np.einsum("ij,ij->i", B, B).sum(dtype=np.float64)
    return W.T, n, sums, squares


def device_scatter_times(chunks, V, shift, with_sums, device):
    """The same sums on a torch ``device``: each chunk is copied there and multiplied in its
    dtype; the sums come back once, as numpy."""
    V = torch.as_tensor(V, device=device)
    W = torch.zeros_like(V)
    sums = torch.zeros(len(V), dtype=torch.float64, device=device)
    squares = torch.zeros((), dtype=torch.float64, device=device)
    n, V_cast = 0, None
    shift = None if shift is None else torch.as_tensor(shift, device=device)
    for chunk in chunks:
        B = to_tensor(chunk, device)
        if V_cast is None or V_cast.dtype != B.dtype:
            V_cast = V.to(B.dtype)
        if shift is not None:
            B = B - shift.to(B.dtype)
        W += (B.T @ (B @ V_cast)).double()
        if with_sums:
            n += len(B)
            sums += B.sum(0, dtype=torch.float64)
            squares += torch.sum(B * B, dtype=torch.float64)
    return W.cpu().numpy(), n, sums.cpu().numpy(), float(squares)


def to_tensor(chunk: np.ndarray, device: torch.device) -> torch.Tensor:
    """A chunk as a tensor on ``device`` (read-only arrays too: they are copied there)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(chunk, device=device)


def image_gram(chunks, V: np.ndarray, shift: np.ndarray | None,
               device: torch.device | None) -> np.ndarray:
    """``Σ (B V)ᵀ(B V)`` over the chunks ``B`` (rows minus ``shift``), summed over ranks:
    one product of each chunk, in its dtype, on ``device`` when one is given."""
    G = np.zeros((V.shape[1], V.shape[1]))
    for B in chunks:
        if shift is not None:
            B = B - shift.astype(B.dtype)
        if device is None:
            P = B @ V.astype(B.dtype)
            G += P.T @ P
        else:
            P = to_tensor(B, device) @ torch.as_tensor(V.astype(B.dtype), device=device)
            G += (P.T @ P).double().cpu().numpy()
    return distributed.all_reduce(G) if distributed.active() else G


def ritz_pairs(projected: np.ndarray, basis: np.ndarray, count: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``count`` Rayleigh–Ritz pairs of the scatter on the span of the orthonormal
    ``basis`` (``projected`` is ``basisᵀ AᵀA basis``): its eigenvalues and ``basis`` times
    its eigenvectors (sign-fixed rows)."""
    values, U = np.linalg.eigh((projected + projected.T) / 2)
    values, U = np.clip(values[::-1][:count], 0, None), U[:, ::-1][:, :count]
    return completed(values, (basis @ U).T, count, seed)


def completed(values: np.ndarray, vectors: np.ndarray, count: int,
              seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` eigenpairs: the given ones, then orthonormal directions with eigenvalue 0
    (sign-fixed rows)."""
    missing = count - len(vectors)
    if missing > 0:
        random = np.random.default_rng(seed).normal(size=(vectors.shape[1], missing))
        basis = np.linalg.qr(np.hstack([vectors.T, random]))[0].T
        vectors = np.vstack([vectors, basis[len(vectors) :]])
        values = np.concatenate([values, np.zeros(missing)])
    return values, sign_fixed(vectors)


def gram_spectrum(X: np.ndarray, n_components: int | None, center: bool) -> Spectrum:
    """Top eigenpairs of the scatter from the ``n × n`` matrix ``AAᵀ`` (data in memory).

    ``AAᵀ`` is summed over column blocks of the rows minus a provisional shift (one BLAS
    product each, in ``X``'s dtype, added in float64) and then centered exactly
    (``J AAᵀ J``, ``J = I − 11ᵀ/n``). With ``AAᵀ = U Λ Uᵀ`` the eigenvectors of ``AᵀA`` are
    the rows of ``Λ^(-1/2) Uᵀ A``, computed in a second pass over the column blocks. For
    float32 data and few components (``4 k < n``) the top ``k`` eigenpairs are found by
    Lanczos iteration (ARPACK, to float32 precision; 400 × 784, k = 30: 2 ms against 20–30 ms
    for LAPACK's dense float32 or float64 eigensolvers) and refined by Rayleigh–Ritz with the
    float64 ``AAᵀ`` (eigenvalues then accurate to float64 rounding plus the square of
    float32's error).
    """
    n, d = X.shape
    mean = X.mean(axis=0, dtype=np.float64) if center else np.zeros(d)
    shift = float32_rounded(mean).astype(X.dtype)
    width = chunk_rows(n, 1 << 20)
    blocks = [slice(j, j + width) for j in range(0, d, width)]
    G = np.zeros((n, n))
    for block in blocks:
        B = X[:, block] - shift[block]
        G += B @ B.T
    if center:
        G -= G.mean(axis=0)
        G -= G.mean(axis=1)[:, None]
    count = n if n_components is None else n_components
    top = [n - count, n - 1]
    if X.dtype == np.float32 and 4 * count < n:
        start = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        U = scipy.sparse.linalg.eigsh(G.astype(np.float32), k=count, which="LA",
                                      v0=start)[1].astype(np.float64)
        values, rotation = np.linalg.eigh(U.T @ G @ U)
        U = U @ rotation
    else:
        values, U = scipy.linalg.eigh(G, subset_by_index=top, check_finite=False)
    values, U = np.clip(values[::-1], 0, None), U[:, ::-1]
    good = values > values[0] * n * np.finfo(X.dtype).eps
    weights = (U[:, good] / np.sqrt(values[good])).T.astype(X.dtype)
    vectors = np.hstack([weights @ (X[:, block] - shift[block]) for block in blocks])
    if center:
        vectors -= np.outer(weights.sum(axis=1, dtype=np.float64), mean - shift)
    values, vectors = completed(values[good], vectors.astype(np.float64), count, 0)
    return Spectrum(values, vectors, float(np.trace(G)), n, mean)


def full_spectrum(X: np.ndarray, center: bool) -> Spectrum:
    """All eigenpairs of the scatter from LAPACK's SVD of the (centered) data in memory."""
    mean = X.mean(axis=0, dtype=np.float64) if center else np.zeros(X.shape[1])
    A = X - mean.astype(X.dtype)
    sigma, vectors = scipy.linalg.svd(A, full_matrices=False, check_finite=False)[1:]
    squares = np.einsum("ij,ij->", A, A, dtype=np.float64)
    return Spectrum(sigma.astype(np.float64) ** 2, sign_fixed(vectors.astype(np.float64)),
                    float(squares), len(X), mean)


def arpack_spectrum(X, n_components: int, center: bool, tol: float,
                    start: np.ndarray) -> Spectrum:
    """Top ``n_components`` eigenpairs of the scatter by ARPACK's Lanczos iteration (scipy's
    ``eigsh``) on the Gram operator of the data ``A = X − 1 mᵀ`` on its smaller side, as
    scikit-learn's ``arpack`` (scipy's ``svds``) runs it, to tolerance ``tol²`` from the
    vector ``start``: ``AᵀA`` when ``n ≥ d`` (its eigenvectors are the components; ``svds``'s
    ``n × k`` left singular vectors are never formed), else ``AAᵀ`` (the components are the
    left singular vectors of ``AᵀU``). ``X`` is never centered nor copied: a
    ``scipy.sparse`` one keeps memory to its non-zeros plus ARPACK's ``min(n, d) × ncv``
    Lanczos basis (``ncv = k + max(k // 2, 20)`` against scipy's ``2 k + 1``: the basis
    and its copy at the end are the peak), and a CSR one is multiplied on two threads, a
    block of rows each (scipy's sparse products release the GIL)."""
    n, d = X.shape
    mean = column_means(X) if center else np.zeros(d)
    shift = mean.astype(X.dtype)
    blocks = row_blocks(X, 2)
    pool = concurrent.futures.ThreadPoolExecutor(len(blocks))

    def times(V):  # A V
        return X @ V - shift @ V

    def transposed_times(U):  # Aᵀ U
        return X.T @ U - np.multiply.outer(shift, U.sum(axis=0))

    def scatter_times(V):  # AᵀA V = Σ Bᵀ(B V) − n m (mᵀV), over blocks B of rows of X
        return (sum(pool.map(lambda pair: pair[1] @ (pair[0] @ V), blocks))
                - n * np.multiply.outer(shift, shift @ V))

    def gram_times(U):  # AAᵀ U
        return times(transposed_times(U))

    size, product = (d, scatter_times) if n >= d else (n, gram_times)
    with pool:
        values, vectors = lanczos(product, size, X.dtype, n_components, tol, start,
                                  scipy.sparse.issparse(X))
    if n < d:  # AᵀU = P Σ Qᵀ: orthonormal components P even where Σ is (near) zero
        vectors, sigma = scipy.linalg.svd(transposed_times(vectors.T), full_matrices=False)[:2]
        values, vectors = sigma.astype(np.float64) ** 2, vectors.T
    return Spectrum(values, sign_fixed(vectors.astype(np.float64, copy=False)),
                    centered_squares(X, mean), n, mean)


def streamed_arpack_spectrum(passes: RowPasses, n_features: int, n_components: int,
                             center: bool, tol: float, start: np.ndarray) -> Spectrum:
    """:func:`arpack_spectrum` on the ``d × d`` operator ``AᵀA`` for data read by row chunks
    (a file, batches, or under ``torchrun`` the shards of all ranks): a first pass counts the
    rows and sums them and their squares, then each Lanczos product is one pass,
    ``Σ Bᵀ(B v)`` over the chunks ``B`` (sparse or dense, in their dtype, added in float64;
    all-reduced over ranks) less ``n m (mᵀv)``. Memory: one chunk and ARPACK's basis."""
    n, sums, squares = row_sums(passes.chunks(n_features), n_features)
    if n == 0:
        raise ValueError("X has no rows.")
    if not np.isfinite(squares):
        raise ValueError("X contains NaN or infinity, or values whose squares overflow "
                         "its dtype.")
    mean = sums / n if center else np.zeros(n_features)

    def scatter_times(V):
        W = sum(B.T @ (B @ V) for B in passes.chunks(n_features))
        W = distributed.all_reduce(W) if distributed.active() else W
        return W - n * np.multiply.outer(mean, mean @ V)

    values, vectors = lanczos(scatter_times, n_features, np.float64, n_components, tol, start,
                              sparse=True)
    return Spectrum(values, sign_fixed(vectors), squares - n * float(mean @ mean), n, mean)


def lanczos(product: Callable, size: int, dtype, n_components: int, tol: float,
            start: np.ndarray, sparse: bool) -> tuple[np.ndarray, np.ndarray]:
    """The top ``n_components`` eigenpairs (descending; eigenvectors as rows) of the
    symmetric ``size × size`` operator ``product`` by ARPACK (``ncv = k + max(k // 2,
    20)``), to tolerance ``tol²``, from ``start``."""
    operator = scipy.sparse.linalg.LinearOperator((size, size), matvec=product,
                                                  matmat=product, dtype=dtype)
    # ARPACK's own work is memory-bound BLAS-2 products with its Lanczos basis: one BLAS
    # thread beside the sparse products' threads (on a loaded 2-core machine, 2.8× faster)
    with threadpool_limits(1 if sparse else None):
        values, vectors = scipy.sparse.linalg.eigsh(
            operator, k=n_components, ncv=min(size, n_components + max(n_components // 2, 20)),
            tol=tol**2, v0=start)
    values = np.clip(values[::-1], 0, None).astype(np.float64)
    return values, np.ascontiguousarray(vectors[:, ::-1].T)  # frees ARPACK's wider array


def row_sums(chunks, n_features: int) -> tuple[int, np.ndarray, float]:
    """The number of rows, their float64 column sums and their sum of squares (summed over
    ranks), over row chunks that are arrays or ``scipy.sparse`` matrices."""
    n, sums, squares = 0, np.zeros(n_features), 0.0
    for B in chunks:
        n += B.shape[0]
        sums += np.asarray(B.sum(axis=0, dtype=np.float64)).ravel()
        if scipy.sparse.issparse(B):
            B = B.astype(np.float64)  # a copy: duplicates summed before they are squared
            B.sum_duplicates()
            squares += float(B.data @ B.data)
        else:
            squares += float(np.einsum("ij,ij->", B, B, dtype=np.float64))
    if distributed.active():
        total = distributed.all_reduce(np.concatenate([[n, squares], sums]))
        n, squares, sums = int(total[0]), float(total[1]), total[2:]
    return n, sums, squares


def row_blocks(X, count: int) -> list:
    """``X`` as ``count`` pairs ``(B, Bᵀ)`` of CSR blocks of consecutive rows and their CSC
    transposes, all on ``X``'s arrays (no copy), or ``[(X, Xᵀ)]`` when ``X`` is not CSR."""
    if not (scipy.sparse.issparse(X) and X.format == "csr"):
        return [(X, X.T)]
    blocks = []
    for a, b in itertools.pairwise(np.linspace(0, X.shape[0], count + 1).astype(int)):
        start, stop = X.indptr[a], X.indptr[b]
        arrays = X.data[start:stop], X.indices[start:stop], X.indptr[a : b + 1] - start
        blocks.append((sharing(scipy.sparse.csr_matrix, (b - a, X.shape[1]), *arrays),
                       sharing(scipy.sparse.csc_matrix, (X.shape[1], b - a), *arrays)))
    return blocks


def sharing(kind: type, shape: tuple, data, indices, indptr):
    """A CSR or CSC matrix (``kind``) on the given arrays, not copied (they are set after
    construction: scipy's constructor copies a view of under half an array)."""
    matrix = kind(shape, dtype=data.dtype)
    matrix.data, matrix.indices, matrix.indptr = data, indices, indptr
    return matrix


def column_means(X) -> np.ndarray:
    """The float64 column means of an array or ``scipy.sparse`` matrix."""
    return np.asarray(X.sum(axis=0, dtype=np.float64)).ravel() / X.shape[0]


def centered_squares(X, mean: np.ndarray) -> float:
    """``Σ‖x − mean‖²`` over the rows of an array or a ``scipy.sparse`` matrix, chunk by
    chunk (for a sparse one ``Σ‖x‖² − n ‖mean‖²`` in float64, from copies of a few rows of
    its non-zeros at a time, duplicates summed)."""
    if not scipy.sparse.issparse(X):
        return float(sum(np.einsum("ij,ij->", B, B, dtype=np.float64)
                         for B in (chunk - mean.astype(X.dtype)
                                   for chunk in iter_chunks(X, chunk_rows(X.shape[1])))))
    rows = X.T if X.format == "csc" else X  # CSR either way
    step = max(1, (1 << 14) * rows.shape[0] // max(rows.nnz, 1))
    squares = 0.0
    for start in range(0, rows.shape[0], step):
        chunk = rows[start : start + step].astype(np.float64)
        chunk.sum_duplicates()
        squares += float(chunk.data @ chunk.data)
    return squares - X.shape[0] * float(mean @ mean)
