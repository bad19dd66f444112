"""Tests of the PCA / linear autoencoder solvers (``svd_solver``) against numpy's float64
eigendecomposition, and of the data sources the randomized solver reads several times.

The data have a prescribed, well-separated spectrum (variances ``9 · 0.64^i``), so with the
default 10 oversamples each pass of the randomized solver shrinks the error of the top ``k``
directions by at least ``0.64^10 ≈ 0.01`` (its block Krylov space holds the subspace that
power iterations reach), and on the small shapes below its basis of up to ``(4 + 2) 15``
columns covers the whole row space: it is exact to float64 rounding, and the tolerances below
are those of the exact solvers. For float32 data the reference is the float64
eigendecomposition of the same float32 numbers; the tolerances (1e-4 relative on variances,
1e-3 on the sine of the largest principal angle) are float32 rounding of the products, grown
by the offset and the conditioning of the smaller variances.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import torch
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae import solvers
from deepae.linear import PCA, LinearAutoencoder

SOLVERS = ["covariance_eigh", "randomized", "gram", "full"]


def make_data(n: int, d: int, offset: float = 3.0, seed: int = 0) -> np.ndarray:
    """Rows whose covariance has eigenvalues ``9 · 0.64^i`` (i < min(n - 1, d)), plus a mean."""
    rng = np.random.default_rng(seed)
    rank = min(n - 1, d)
    ones = np.ones((n, 1)) / np.sqrt(n)
    U = np.linalg.qr(np.hstack([ones, rng.normal(size=(n, rank))]))[0][:, 1:]
    V = np.linalg.qr(rng.normal(size=(d, rank)))[0]
    return (U * np.sqrt(9.0 * 0.64 ** np.arange(rank) * (n - 1))) @ V.T + offset * (
        1 + rng.random(d))


def reference(X: np.ndarray, center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """numpy float64 eigenvalues (descending) and eigenvectors (rows) of the scatter."""
    A = X.astype(np.float64)
    if center:
        A = A - A.mean(axis=0)
    values, vectors = np.linalg.eigh(A.T @ A)
    return values[::-1], vectors[:, ::-1].T


class Batches:
    """A re-iterable of arrays (what a DataLoader is, without the torch)."""

    def __init__(self, *arrays):
        self.arrays = arrays

    def __iter__(self):
        return iter(self.arrays)


def largest_angle(rows: np.ndarray, other: np.ndarray) -> float:
    """Sine of the largest principal angle between the row spaces of two matrices."""
    return float(np.sin(scipy.linalg.subspace_angles(rows.T, other.T).max()))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n", "d", "offset"), [(300, 20, 3.0), (60, 60, 0.0), (40, 90, 1e3)])
def test_every_solver_matches_numpy(solver, dtype, n, d, offset):
    X = make_data(n, d, offset).astype(dtype)
    values, vectors = reference(X)
    pca = PCA(5, svd_solver=solver, random_state=0).fit(X)
    f64 = dtype == np.float64
    assert largest_angle(pca.components_, vectors[:5]) < (1e-9 if f64 else 1e-3)
    np.testing.assert_allclose(pca.explained_variance_, values[:5] / (n - 1),
                               rtol=1e-10 if f64 else 1e-4)
    np.testing.assert_allclose(pca.explained_variance_ratio_, values[:5] / values.sum(),
                               rtol=1e-10 if f64 else 1e-4)
    rest = values[5 : min(n, d)].sum() / (n - 1) / (min(n, d) - 5)  # scikit-learn's definition
    np.testing.assert_allclose(pca.noise_variance_, rest, rtol=1e-8 if f64 else 1e-3)
    np.testing.assert_allclose(pca.mean_, X.astype(np.float64).mean(axis=0),
                               rtol=1e-12 if f64 else 1e-7,
                               atol=1e-12 if f64 else 1e-7 * np.abs(X).max())
    np.testing.assert_array_equal(pca.components_, solvers.sign_fixed(pca.components_))
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(5),
                               atol=1e-12 if f64 else 1e-5)


@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_fits_the_uncentered_linear_autoencoder(solver):
    X = make_data(50, 30)
    values, vectors = reference(X, center=False)
    model = LinearAutoencoder(4, svd_solver=solver, random_state=0).fit(X)
    assert largest_angle(model.components_, vectors[:4]) < 1e-9
    np.testing.assert_allclose(model.explained_variance_, values[:4] / len(X), rtol=1e-10)
    np.testing.assert_array_equal(model.mean_, np.zeros(30))


def test_full_spectrum_solvers_honour_a_float_n_components():
    X = make_data(30, 80)
    exact = PCA(0.95, svd_solver="covariance_eigh").fit(X)
    for solver in ("auto", "gram", "full"):
        pca = PCA(0.95, svd_solver=solver).fit(X)
        assert pca.n_components_ == exact.n_components_
        np.testing.assert_allclose(pca.explained_variance_, exact.explained_variance_,
                                   rtol=1e-10)
    assert PCA(None, svd_solver="gram").fit(X).n_components_ == 30


def test_randomized_power_iterations_reach_the_exact_subspace_across_a_gap():
    # Slowly decaying variances with a gap after the 5th: without power iterations the
    # sketch mixes in the next directions; with enough of them it is exact.
    rng = np.random.default_rng(1)
    scales = np.concatenate([10.0 * 0.97 ** np.arange(5), 2.0 * 0.97 ** np.arange(55)])
    X = rng.normal(size=(2000, 60)) * scales @ np.linalg.qr(rng.normal(size=(60, 60)))[0]
    values, vectors = reference(X)
    errors = [largest_angle(PCA(5, svd_solver="randomized", iterated_power=q, n_oversamples=2,
                                random_state=0).fit(X).components_, vectors[:5])
              for q in (0, 2, 10)]
    assert errors[0] > 1e-2 and errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-10


def halko_subspace_iteration(X: np.ndarray, k: int, width: int, q: int) -> np.ndarray:
    """Halko et al.'s top-``k`` directions (rows) after ``q`` power iterations with ``width``
    random directions (numpy)."""
    A = X - X.mean(axis=0)
    Q = np.linalg.qr(A @ np.random.default_rng(0).normal(size=(A.shape[1], width)))[0]
    for _ in range(q):
        Q = np.linalg.qr(A @ np.linalg.qr(A.T @ Q)[0])[0]
    return np.linalg.svd(Q.T @ A, full_matrices=False)[2][:k]


def test_block_krylov_is_more_accurate_than_subspace_iteration_with_as_many_passes():
    # A slowly decaying spectrum (standard deviations 0.95^i) without a gap at k: keeping
    # every block beats keeping the last one, pass for pass (sines of the largest angles
    # 0.35 vs 0.94, 6e-3 vs 0.74, 3e-5 vs 0.40 for 1, 2, 3 power iterations).
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 300)) * 0.95 ** np.arange(300)
    vectors = reference(X)[1]
    for q in (1, 2, 3):
        krylov = PCA(10, svd_solver="randomized", iterated_power=q, n_oversamples=5,
                     random_state=0).fit(X).components_
        halko = halko_subspace_iteration(X, 10, 15, q)
        assert largest_angle(krylov, vectors[:10]) < 0.5 * largest_angle(halko, vectors[:10])


def test_next_block_extends_an_orthonormal_basis():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(50, 8)))[0]
    W = basis @ rng.normal(size=(8, 6)) + 1e-4 * rng.normal(size=(50, 6))  # mostly inside
    V, C = solvers.next_block(basis, W, at_most=6)
    both = np.hstack([basis, V])
    assert V.shape == (50, 6)
    np.testing.assert_allclose(both.T @ both, np.eye(14), atol=1e-14)
    np.testing.assert_allclose(both @ C, W, rtol=0, atol=1e-14)
    assert solvers.next_block(basis, W, at_most=4)[0].shape == (50, 4)
    V, C = solvers.next_block(basis, basis[:, :3] @ rng.normal(size=(3, 4)), at_most=4)
    assert V.shape == (50, 0) and C.shape == (8, 4)  # nothing outside the basis: exhausted


@pytest.mark.parametrize(("n", "d", "k", "expected"), [
    (200_000, 256, 30, "covariance_eigh"),   # tall and narrow
    (20_000, 2048, 30, "randomized"),        # wide enough for the d × d eigenproblem to cost
    (2_000, 8192, 30, "randomized"),
    (400, 784, 30, "gram"),                  # few rows: the n × n problem
    (800, 2048, 30, "gram"),                 # n ≤ 20 (k + 10)
    (801, 2048, 30, "randomized"),
    (2_000, 8192, None, "gram"),             # float / None n_components: the full spectrum
    (None, 8192, 30, "randomized"),          # not in memory (memmap, batches, process group)
    (None, 8192, None, "covariance_eigh"),
    (5_000, 500, 200, "covariance_eigh"),    # many components
])
def test_auto_picks_the_documented_solver(n, d, k, expected):
    assert solvers.choose_solver(n, d, k) == expected


def test_randomized_reads_memmaps_and_reiterable_batches_as_arrays(tmp_path):
    X = make_data(3000, 1100, offset=100.0).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    in_memory = PCA(5, svd_solver="randomized", random_state=0).fit(X)
    loader = DataLoader(TensorDataset(torch.as_tensor(X)), batch_size=700)
    for source in (mapped, Batches(*np.array_split(X, 4)), loader):
        pca = PCA(5, random_state=0).fit(source)  # auto: randomized for d ≥ 18 (k + 10)
        assert not hasattr(pca, "_moments")
        np.testing.assert_allclose(pca.explained_variance_, in_memory.explained_variance_,
                                   rtol=1e-5)
        np.testing.assert_allclose(pca.components_, in_memory.components_, atol=1e-4)
        np.testing.assert_allclose(pca.mean_, in_memory.mean_, rtol=1e-9)
        assert pca.n_features_in_ == 1100 and pca.n_samples_seen_ == 3000


def test_a_one_shot_generator_needs_a_one_pass_solver():
    X = make_data(100, 10)
    with pytest.raises(TypeError, match="one-shot iterator"):
        PCA(3, svd_solver="randomized").fit(batch for batch in np.array_split(X, 3))
    exact = PCA(3).fit(X)
    streamed = PCA(3).fit(batch for batch in np.array_split(X, 3))  # auto: covariance
    np.testing.assert_allclose(streamed.components_, exact.components_, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_torch_device_path_of_randomized_gives_the_numpy_model(monkeypatch, dtype):
    # On a GPU the randomized solver's products run in torch; the same code runs here on the
    # CPU device.
    X = make_data(600, 50, offset=1e3).astype(dtype)
    reference_model = PCA(6, svd_solver="randomized", random_state=0).fit(X)
    monkeypatch.setattr(LinearAutoencoder, "_device", lambda self: torch.device("cpu"))
    on_torch = PCA(6, svd_solver="randomized", random_state=0).fit(X)
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(on_torch.explained_variance_,
                               reference_model.explained_variance_, rtol=rtol)
    np.testing.assert_allclose(on_torch.components_, reference_model.components_,
                               atol=100 * rtol)
    bad = X.copy()
    bad[5, 5] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        PCA(6, svd_solver="randomized").fit(bad)


@pytest.mark.parametrize("solver", SOLVERS)
def test_models_of_every_solver_round_trip_through_files(solver, tmp_path):
    X = make_data(40, 60)
    model = PCA(3, svd_solver=solver, iterated_power=5, random_state=0).fit(X)
    model.save(tmp_path / "pca.deepae")
    loaded = deepae.load(tmp_path / "pca.deepae")
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    np.testing.assert_array_equal(loaded.noise_variance_, model.noise_variance_)


X_SMALL = make_data(30, 8)


@pytest.mark.parametrize(("model", "X", "error", "match"), [
    (PCA(2, svd_solver="svd"), X_SMALL, ValueError, "Unknown svd_solver='svd'"),
    (PCA(0.5, svd_solver="randomized"), X_SMALL, ValueError, "needs an int n_components"),
    (PCA(None, svd_solver="randomized"), Batches(X_SMALL), ValueError,
     "needs an int n_components"),
    (PCA(9, svd_solver="randomized"), X_SMALL, ValueError, "must be between 1 and"),
    (PCA(2, svd_solver="randomized", iterated_power=-1), X_SMALL, ValueError, "iterated_power"),
    (PCA(2, svd_solver="randomized", n_oversamples=0), X_SMALL, ValueError, "n_oversamples"),
    (PCA(2, svd_solver="gram"), Batches(X_SMALL), ValueError, "needs the data in memory"),
    (PCA(2, svd_solver="randomized"), Batches(X_SMALL, X_SMALL[:, :3]), ValueError, "features"),
    (PCA(2, svd_solver="randomized"), Batches(np.ones(8)), ValueError, "2-D"),
    (PCA(2, svd_solver="randomized"), np.full((5, 8), np.nan), ValueError, "NaN"),
    (PCA(2, svd_solver="randomized"), Batches(), ValueError, "no batches"),
])
def test_bad_input(model, X, error, match):
    with pytest.raises(error, match=match):
        model.fit(X)


def test_partial_fit_needs_the_covariance_solver():
    with pytest.raises(ValueError, match="partial_fit .* svd_solver='covariance_eigh'"):
        PCA(2, svd_solver="randomized").partial_fit(X_SMALL)
    streamed = PCA(2).fit(X_SMALL).partial_fit(X_SMALL)  # auto: the exact statistics
    assert streamed.n_samples_seen_ == 2 * len(X_SMALL)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_randomized_on_cuda_gives_the_cpu_model(dtype, tmp_path):
    X = make_data(5000, 300, offset=1e3).astype(dtype)
    np.save(tmp_path / "X.npy", X)
    cpu = PCA(6, svd_solver="randomized", random_state=0, device="cpu").fit(X)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for source in (X, np.load(tmp_path / "X.npy", mmap_mode="r")):
        gpu = PCA(6, svd_solver="randomized", random_state=0, device="cuda").fit(source)
        np.testing.assert_allclose(gpu.explained_variance_, cpu.explained_variance_, rtol=rtol)
        assert largest_angle(gpu.components_, cpu.components_) < 100 * rtol
        np.testing.assert_allclose(gpu.mean_, cpu.mean_, rtol=1e-12)
    auto = PCA(6, random_state=0, device="cuda").fit(make_data(400, 2000).astype(dtype))
    assert auto.n_components_ == 6


@pytest.mark.parametrize("solver", ["covariance_eigh", "arpack", "auto"])
@pytest.mark.parametrize("container", [scipy.sparse.csr_matrix, scipy.sparse.csc_array])
def test_sparse_input_is_centered_implicitly(solver, container):
    rng = np.random.default_rng(0)
    dense = scipy.sparse.random(300, 40, density=0.1, random_state=1).toarray() * (
        1 + 5 * rng.random(40))
    X = container(dense)
    values, vectors = reference(dense)
    pca = PCA(5, svd_solver=solver, random_state=0).fit(X)
    np.testing.assert_allclose(pca.explained_variance_, values[:5] / 299, rtol=1e-9)
    assert largest_angle(pca.components_, vectors[:5]) < 1e-7
    np.testing.assert_allclose(pca.mean_, dense.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(pca.transform(X), (dense - dense.mean(axis=0)) @ pca.components_.T,
                               rtol=1e-10, atol=1e-12)
    streamed = PCA(5).partial_fit(X[:150]).partial_fit(X[150:])  # sparse batches, one pass
    np.testing.assert_allclose(streamed.explained_variance_, values[:5] / 299, rtol=1e-9)


def tfidf_like(n: int, d: int, density: float, seed: int = 0) -> scipy.sparse.csr_matrix:
    """A sparse matrix of positive weights with popular and rare columns, unit rows."""
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(n, d, density=density, random_state=seed, format="csr",
                            data_rvs=rng.random) @ scipy.sparse.diags(1 / np.arange(1, d + 1))
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)))
    return scipy.sparse.csr_matrix(X.multiply(1 / np.maximum(norms, 1e-12)))


@pytest.mark.parametrize(("n", "d"), [(400, 60), (50, 120)])
@pytest.mark.parametrize("container", [scipy.sparse.csr_matrix, scipy.sparse.csc_matrix])
def test_sparse_arpack_matches_sklearn_and_numpy(n, d, container):
    from sklearn.decomposition import PCA as SklearnPCA

    X = container(tfidf_like(n, d, 0.1))
    ours = PCA(10, svd_solver="arpack", random_state=0).fit(X)
    theirs = SklearnPCA(10, svd_solver="arpack", random_state=0).fit(X)
    for name in ("explained_variance_", "explained_variance_ratio_", "singular_values_",
                 "mean_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-10)
    np.testing.assert_allclose(ours.noise_variance_, theirs.noise_variance_, rtol=1e-10)
    np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-8)
    values, vectors = reference(X.toarray())
    np.testing.assert_allclose(ours.explained_variance_, values[:10] / (n - 1), rtol=1e-10)
    assert largest_angle(ours.components_, vectors[:10]) < 1e-8


def test_sparse_fit_neither_copies_nor_densifies_X():
    import tracemalloc

    X = tfidf_like(40_000, 500, 0.04)
    X.indices = X.indices[np.argsort(-np.arange(len(X.indices)) % 7, kind="stable")]
    X.has_sorted_indices = False  # not canonical: squares are summed without copying X
    size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    tracemalloc.start()
    pca = PCA(20, svd_solver="arpack", random_state=0).fit(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.25 * size
    np.testing.assert_allclose(pca.explained_variance_ratio_.sum() * X.shape[0] / (
        X.shape[0] - 1), pca.explained_variance_.sum() / np.var(X.toarray(), axis=0).sum(),
        rtol=1e-10)


def test_row_blocks_share_the_arrays_of_X():
    X = tfidf_like(101, 30, 0.2)
    blocks = solvers.row_blocks(X, 2)
    assert all(np.shares_memory(B.data, X.data) and np.shares_memory(T.data, X.data)
               for B, T in blocks)
    np.testing.assert_array_equal(scipy.sparse.vstack([B for B, _ in blocks]).toarray(),
                                  X.toarray())
    np.testing.assert_array_equal(scipy.sparse.hstack([T for _, T in blocks]).toarray(),
                                  X.toarray().T)


@pytest.mark.parametrize("solver", ["randomized", "full", "gram"])
def test_sparse_input_needs_a_sparse_solver(solver):
    X = scipy.sparse.random(30, 8, density=0.3, random_state=0, format="csr")
    with pytest.raises(TypeError, match="only support sparse inputs"):
        PCA(2, svd_solver=solver).fit(X)


def test_arpack_and_mle_match_sklearn():
    from sklearn.decomposition import PCA as SklearnPCA

    X = make_data(200, 12)
    ours = PCA(4, svd_solver="arpack", random_state=0).fit(X)
    values, vectors = reference(X)
    np.testing.assert_allclose(ours.explained_variance_, values[:4] / 199, rtol=1e-10)
    assert largest_angle(ours.components_, vectors[:4]) < 1e-8
    with pytest.raises(ValueError, match="strictly less than"):
        PCA(12, svd_solver="arpack").fit(X)
    noisy = make_data(500, 10, seed=1)[:, :10] + np.random.default_rng(2).normal(size=(500, 10))
    assert PCA("mle").fit(noisy).n_components_ == SklearnPCA("mle").fit(noisy).n_components_


@pytest.mark.parametrize("compressed", [True, False])
def test_a_sparse_npz_file_fits_a_chunk_at_a_time_as_in_memory(tmp_path, compressed):
    import tracemalloc

    from deepae import SparseRows
    from deepae.data import is_memmap

    X = tfidf_like(20_000, 500, 0.04)
    path = tmp_path / "X.npz"
    scipy.sparse.save_npz(path, X, compressed=compressed)
    rows = SparseRows(path, chunk_size=5000)
    chunks = list(rows)
    assert max(chunk.nnz for chunk in chunks) <= 5000
    assert is_memmap(chunks[0].data) == (not compressed)  # uncompressed: mapped, not read
    assert abs(scipy.sparse.vstack(chunks) - X).max() == 0
    size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    for solver in ("auto", "covariance_eigh"):  # auto: arpack here
        memory = PCA(10, svd_solver=solver, random_state=0).fit(X)
        tracemalloc.start()
        streamed = PCA(10, svd_solver=solver, random_state=0).fit(rows)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < (0.25 if solver == "auto" else 1.0) * size + 8 * 500**2
        for name in ("explained_variance_", "explained_variance_ratio_", "mean_"):
            np.testing.assert_allclose(getattr(streamed, name), getattr(memory, name),
                                       rtol=1e-10)
        assert largest_angle(streamed.components_, memory.components_) < 1e-8
    scipy.sparse.save_npz(tmp_path / "csc.npz", X.tocsc())
    with pytest.raises(ValueError, match="CSR"):
        SparseRows(tmp_path / "csc.npz")


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_torch_sparse_tensors_fit_as_their_scipy_matrices(layout):
    X = tfidf_like(300, 200, 0.05).astype(np.float32)
    C, check = X.tocsc(), {"check_invariants": True}
    tensor = {"coo": lambda: torch.sparse_coo_tensor(np.vstack(X.nonzero()), X.data, X.shape,
                                                     **check),
              "csr": lambda: torch.sparse_csr_tensor(X.indptr, X.indices, X.data, X.shape,
                                                     **check),
              "csc": lambda: torch.sparse_csc_tensor(C.indptr, C.indices, C.data, X.shape,
                                                     **check)}[layout]()
    scipy_fit = PCA(5, random_state=0).fit(X)
    torch_fit = PCA(5, random_state=0).fit(tensor)
    assert torch_fit.components_.dtype == np.float32
    np.testing.assert_allclose(torch_fit.explained_variance_, scipy_fit.explained_variance_,
                               rtol=1e-5)
    np.testing.assert_allclose(torch_fit.transform(tensor), scipy_fit.transform(X), atol=1e-5)


@pytest.mark.parametrize("center", [False, True])
def test_sparse_rows_are_encoded_and_scored_as_their_dense_copies(center):
    X = tfidf_like(300, 60, 0.1)
    model = LinearAutoencoder(8, center=center, svd_solver="covariance_eigh").fit(X)
    dense = X.toarray()
    np.testing.assert_allclose(model.transform(X), model.transform(dense), atol=1e-12)
    np.testing.assert_allclose(model.reconstruction_error(X),
                               model.reconstruction_error(dense), atol=1e-12)
    np.testing.assert_allclose(model.score_samples(X.tocsc()), model.score_samples(dense),
                               atol=1e-12)
