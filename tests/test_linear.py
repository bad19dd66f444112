"""Tests of the closed-form LinearAutoencoder and PCA against independent references.

The references are numpy's ``eigh``/``svd`` on float64 copies of the data, scikit-learn's
``PCA(svd_solver="full")`` and closed forms: the test data have a prescribed spectrum, so the
variances along the principal axes are known exactly, and the Eckart–Young identity gives the
mean reconstruction error of the optimum.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae.linalg import Moments
from deepae.linear import PCA, LinearAutoencoder


def make_data(n: int, d: int, seed: int = 0, offset: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Data whose sample covariance has the known, well-separated eigenvalues returned.

    The centered data matrix is ``U diag(σ) Vᵀ`` with ``U`` orthonormal and orthogonal to the
    ones vector (so the columns of ``U`` are centered), ``V`` a random orthonormal basis, and
    ``σ_i² / (n - 1) = 9 · 0.64^i``; a random mean is added on top.
    """
    rng = np.random.default_rng(seed)
    rank = min(n - 1, d)
    ones = np.ones((n, 1)) / np.sqrt(n)
    U = np.linalg.qr(np.hstack([ones, rng.normal(size=(n, rank))]))[0][:, 1:]
    V = np.linalg.qr(rng.normal(size=(d, rank)))[0]
    variances = 9.0 * 0.64 ** np.arange(rank)
    X = (U * np.sqrt(variances * (n - 1))) @ V.T + offset * rng.normal(size=d)
    return X, variances


def sign_fixed(vectors: np.ndarray) -> np.ndarray:
    """Rows flipped so that each row's entry of largest magnitude is positive."""
    largest = vectors[np.arange(len(vectors)), np.argmax(np.abs(vectors), axis=1)]
    return vectors * np.sign(largest)[:, None]


def top_eigen(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy ``eigh`` reference: eigenvalues descending, eigenvectors as sign-fixed rows."""
    values, vectors = np.linalg.eigh(matrix)
    return values[::-1], sign_fixed(vectors[:, ::-1].T)


# (n_samples, n_features, n_components): n > d, n < d, and k = d via n_components=None.
SHAPES = [(200, 12, 5), (15, 40, 10), (200, 12, None)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n", "d", "k"), SHAPES)
def test_pca_matches_numpy_and_sklearn(n, d, k, dtype):
    X64, variances = make_data(n, d)
    X = X64.astype(dtype)
    Xr = X.astype(np.float64)  # the exact numbers deepae sees, in float64
    f64 = dtype == np.float64
    rtol, atol = (1e-10, 1e-12) if f64 else (2e-4, 2e-4)
    pca = PCA(n_components=k).fit(X)
    ref = SklearnPCA(n_components=k, svd_solver="full").fit(X)
    k_ = min(n, d) if k is None else k
    assert pca.n_components_ == ref.n_components_ == k_

    # numpy references on the float64 copy of the same numbers
    mean = Xr.mean(axis=0)
    centered = Xr - mean
    eigenvalues, eigenvectors = top_eigen(centered.T @ centered)
    singular_values = np.linalg.svd(centered, compute_uv=False)

    assert pca.components_.shape == (k_, d)
    np.testing.assert_allclose(pca.components_, eigenvectors[:k_], atol=1e-9 if f64 else 1e-3)
    np.testing.assert_allclose(pca.components_, ref.components_, atol=1e-9 if f64 else 1e-3)
    np.testing.assert_array_equal(pca.components_, sign_fixed(pca.components_))
    largest = np.abs(pca.components_).argmax(axis=1)
    assert np.all(pca.components_[np.arange(k_), largest] > 0)

    np.testing.assert_allclose(pca.singular_values_, singular_values[:k_], rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.singular_values_, ref.singular_values_, rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.explained_variance_, eigenvalues[:k_] / (n - 1), rtol=rtol,
                               atol=atol)
    np.testing.assert_allclose(pca.explained_variance_, ref.explained_variance_, rtol=rtol,
                               atol=atol)
    if f64:  # the closed form holds for the float64 data exactly
        np.testing.assert_allclose(pca.explained_variance_[: len(variances)],
                                   variances[:k_], rtol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_ratio_,
                               eigenvalues[:k_] / eigenvalues.clip(0).sum(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.explained_variance_ratio_, ref.explained_variance_ratio_,
                               rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.mean_, mean, rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.mean_, ref.mean_, rtol=rtol, atol=atol)
    np.testing.assert_allclose(pca.noise_variance_, ref.noise_variance_, rtol=rtol, atol=atol)

    codes = pca.transform(X)
    assert codes.dtype == dtype
    np.testing.assert_allclose(codes, centered @ eigenvectors[:k_].T, rtol=rtol,
                               atol=1e-9 if f64 else 2e-3)
    np.testing.assert_allclose(codes, ref.transform(X), rtol=rtol, atol=1e-9 if f64 else 2e-3)
    back = pca.inverse_transform(codes)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, ref.inverse_transform(ref.transform(X)), rtol=rtol,
                               atol=1e-9 if f64 else 2e-3)
    if k_ == min(n - 1, d):  # every direction of variance kept: a perfect reconstruction
        np.testing.assert_allclose(back, X, rtol=rtol, atol=1e-9 if f64 else 2e-3)


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8, 0.95, 0.999])
def test_float_n_components_matches_sklearn(fraction):
    X, _ = make_data(300, 20)
    pca = PCA(n_components=fraction).fit(X)
    ref = SklearnPCA(n_components=fraction, svd_solver="full").fit(X)
    assert pca.n_components_ == ref.n_components_
    assert pca.explained_variance_ratio_.sum() >= fraction
    assert pca.explained_variance_ratio_[:-1].sum() < fraction


@pytest.mark.parametrize("k", [1, 3, 7, 12])
def test_linear_autoencoder_is_top_eigenvectors_of_gram(k):
    X, _ = make_data(200, 12, offset=2.0)
    model = LinearAutoencoder(n_components=k).fit(X)
    eigenvalues, eigenvectors = top_eigen(X.T @ X)
    np.testing.assert_allclose(model.components_, eigenvectors[:k], atol=1e-9)
    np.testing.assert_array_equal(model.mean_, np.zeros(12))
    np.testing.assert_allclose(model.explained_variance_, eigenvalues[:k] / len(X), rtol=1e-10)
    np.testing.assert_allclose(model.singular_values_, np.linalg.svd(X, compute_uv=False)[:k],
                               rtol=1e-10)
    # Eckart–Young: the optimum's mean squared error is the sum of the discarded eigenvalues / N
    error = model.reconstruction_error(X).mean()
    np.testing.assert_allclose(error, eigenvalues[k:].sum() / len(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(-model.score(X), error, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_pca_reconstruction_error_is_discarded_variance(k):
    X, _ = make_data(200, 12, offset=2.0)
    pca = PCA(n_components=k).fit(X)
    centered = X - X.mean(axis=0)
    eigenvalues, _ = top_eigen(centered.T @ centered)
    error = pca.reconstruction_error(X).mean()
    np.testing.assert_allclose(error, eigenvalues[k:].sum() / len(X), rtol=1e-10)
    # and the uncentered autoencoder pays for the mean it cannot represent
    assert LinearAutoencoder(n_components=k).fit(X).reconstruction_error(X).mean() > error


def test_centered_linear_autoencoder_equals_pca():
    X, _ = make_data(100, 8)
    model = LinearAutoencoder(n_components=3, center=True).fit(X)
    pca = PCA(n_components=3).fit(X)
    for name in ["components_", "mean_", "explained_variance_", "explained_variance_ratio_",
                 "singular_values_", "noise_variance_"]:
        np.testing.assert_allclose(getattr(model, name), getattr(pca, name), rtol=1e-12)
    np.testing.assert_allclose(model.transform(X), pca.transform(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("model", [PCA(4), PCA(4, whiten=True), LinearAutoencoder(4)],
                         ids=["pca", "pca-whiten", "linear-ae"])
def test_reconstruction_error_and_scores(model):
    X, _ = make_data(120, 9)
    Xnew, _ = make_data(30, 9, seed=1)
    model.fit(X)
    residual = Xnew - model.inverse_transform(model.transform(Xnew))
    error = model.reconstruction_error(Xnew)
    assert error.shape == (30,)
    np.testing.assert_allclose(error, (residual**2).sum(axis=1), rtol=1e-10)
    if isinstance(model, PCA):  # the probabilistic-PCA log-likelihood, as scikit-learn's
        reference = SklearnPCA(4, whiten=model.whiten, svd_solver="full").fit(X)
        np.testing.assert_allclose(model.score_samples(Xnew), reference.score_samples(Xnew),
                                   rtol=1e-10)
        np.testing.assert_allclose(model.get_precision(), reference.get_precision(),
                                   rtol=1e-8, atol=1e-12)
    else:
        np.testing.assert_array_equal(model.score_samples(Xnew), -error)
    assert model.score(Xnew) == pytest.approx(model.score_samples(Xnew).mean(), rel=1e-12)


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_score_samples_never_forms_the_precision(monkeypatch, whiten, dtype):
    import scipy.sparse

    from deepae import ppca

    X = scipy.sparse.random(400, 300, density=0.05, format="csr", random_state=0, dtype=dtype)
    reference = SklearnPCA(12, whiten=whiten, svd_solver="full").fit(X.toarray())
    model = PCA(12, whiten=whiten, svd_solver="arpack", random_state=0).fit(X)
    monkeypatch.setattr(ppca, "precision", None)  # the d × d matrix is never formed
    expected = reference.score_samples(X.toarray())
    for rows in (X, X.tocsc(), X.toarray()):  # d > 4k: dense rows take the same route
        scores = model.score_samples(rows)
        assert scores.dtype == dtype
        np.testing.assert_allclose(scores, expected, rtol=1e-5 if dtype == np.float32 else 1e-9)


def test_score_samples_when_no_variance_is_left():
    import scipy.sparse

    X, _ = make_data(50, 6)  # all components kept: noise_variance_ is 0, as scikit-learn's
    model, reference = PCA().fit(X), SklearnPCA(svd_solver="full").fit(X)
    assert model.noise_variance_ == reference.noise_variance_ == 0
    np.testing.assert_allclose(model.score_samples(X), reference.score_samples(X), rtol=1e-8)
    with pytest.raises(ValueError, match="noise_variance_ > 0"):
        model.score_samples(scipy.sparse.csr_matrix(X))


def test_whiten_gives_unit_variance_and_still_reconstructs():
    X, _ = make_data(150, 10)
    white = PCA(n_components=4, whiten=True).fit(X)
    plain = PCA(n_components=4).fit(X)
    codes = white.transform(X)
    np.testing.assert_allclose(codes.var(axis=0, ddof=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(codes, SklearnPCA(4, whiten=True, svd_solver="full")
                               .fit(X).transform(X), atol=1e-9)
    np.testing.assert_allclose(white.inverse_transform(codes),
                               plain.inverse_transform(plain.transform(X)), atol=1e-10)
    full = PCA(whiten=True).fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-10)


@pytest.mark.parametrize("model", [PCA(5), LinearAutoencoder(5), PCA(0.9, whiten=True)],
                         ids=["pca", "linear-ae", "pca-fraction"])
def test_partial_fit_on_a_stream_equals_fit(model):
    X, _ = make_data(300, 10)
    stream = PCA(**model.get_params()) if isinstance(model, PCA) else LinearAutoencoder(
        **model.get_params())
    start = 0
    for size in [1, 37, 1, 64, 3, 2, 120, 72]:  # uneven, with 1-row batches, 300 rows in all
        stream.partial_fit(X[start : start + size])
        start += size
    assert start == len(X)
    model.fit(X)
    assert stream.n_samples_seen_ == model.n_samples_seen_ == 300
    assert stream.n_components_ == model.n_components_
    for name in ["components_", "mean_", "explained_variance_", "explained_variance_ratio_",
                 "singular_values_"]:
        np.testing.assert_allclose(getattr(stream, name), getattr(model, name), rtol=1e-8,
                                   atol=1e-8)
    np.testing.assert_allclose(stream.transform(X), model.transform(X), rtol=1e-8, atol=1e-8)


def test_partial_fit_waits_for_enough_samples():
    X, _ = make_data(40, 6)
    model = PCA(n_components=4)
    model.partial_fit(X[:2])  # fewer rows than components: remembered, not yet solved
    with pytest.raises(NotFittedError):
        model.transform(X)
    model.partial_fit(X[2:])
    np.testing.assert_allclose(model.components_, PCA(4).fit(X).components_, atol=1e-10)


def test_fit_on_memory_mapped_npy_equals_in_memory(tmp_path):
    X, _ = make_data(500, 16)
    X = X.astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    a, b = PCA(6).fit(mapped), PCA(6).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.explained_variance_, b.explained_variance_)
    np.testing.assert_array_equal(a.transform(mapped), b.transform(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_tensors_and_dtypes(dtype):
    X, _ = make_data(80, 7)
    X = X.astype(dtype)
    tensor = torch.from_numpy(X)
    model = PCA(3).fit(tensor)
    reference = PCA(3).fit(X)
    np.testing.assert_array_equal(model.components_, reference.components_)
    for data in [X, tensor]:
        codes = model.transform(data)
        assert isinstance(codes, np.ndarray) and codes.dtype == dtype
        assert model.inverse_transform(codes).dtype == dtype
    np.testing.assert_array_equal(model.transform(tensor), reference.transform(X))
    back = model.inverse_transform(torch.from_numpy(model.transform(X)))
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, reference.inverse_transform(reference.transform(X)))


def test_large_offset_float32_keeps_exact_variances():
    rng = np.random.default_rng(0)
    scales = np.ones(50)
    scales[:5], scales[-5:] = 30.0, 0.05
    X = (1000.0 + rng.normal(size=(20_000, 50)) * scales).astype(np.float32)
    reference = np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False))[::-1]
    pca = PCA().fit(X)
    np.testing.assert_allclose(pca.explained_variance_, reference, rtol=1e-3)
    np.testing.assert_allclose(pca.mean_, X.astype(np.float64).mean(axis=0), rtol=1e-7)
    # scikit-learn's "covariance_eigh" solver forms XᵀX − N·x̄x̄ᵀ in float32 here and loses the
    # small variances to cancellation; deepae shifts each chunk by a provisional mean first.


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_torch_device_path_gives_the_numpy_model(monkeypatch, dtype):
    # On a GPU the statistics are accumulated and the eigenproblem solved with torch; the same
    # code runs here on the CPU device.
    X = make_data(3000, 40, offset=1000.0)[0].astype(dtype)
    reference = PCA(8).fit(X)
    monkeypatch.setattr(LinearAutoencoder, "_device", lambda self: torch.device("cpu"))
    on_torch = PCA(8).partial_fit(X[:1000]).partial_fit(X[1000:])
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(on_torch.explained_variance_, reference.explained_variance_,
                               rtol=rtol)
    np.testing.assert_allclose(on_torch.components_, reference.components_,
                               atol=100 * rtol)
    np.testing.assert_allclose(on_torch.mean_, reference.mean_, rtol=1e-12)
    bad = X.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PCA(8).fit(bad)


def test_signs_are_deterministic():
    X, _ = make_data(200, 12)
    first, second = PCA(6).fit(X), PCA(6).fit(X)
    np.testing.assert_array_equal(first.components_, second.components_)
    permuted = PCA(6).fit(X[np.random.default_rng(1).permutation(len(X))])
    np.testing.assert_allclose(permuted.components_, first.components_, atol=1e-10)
    np.testing.assert_array_equal(first.components_, sign_fixed(first.components_))


@parametrize_with_checks([PCA(), LinearAutoencoder(), PCA(n_components=2, whiten=True)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


X_GOOD = make_data(20, 5)[0]
BAD_FITS = [
    (PCA(), np.where(X_GOOD > X_GOOD.mean(), np.nan, X_GOOD), ValueError, "NaN"),
    (PCA(), np.where(X_GOOD > X_GOOD.mean(), np.inf, X_GOOD), ValueError, "infinity"),
    (LinearAutoencoder(), np.full((3, 2), -np.inf), ValueError, "infinity"),
    (PCA(), np.empty((0, 5)), ValueError, "0 sample"),
    (PCA(), X_GOOD[:, 0], ValueError, "Expected 2D array"),
    (PCA(), X_GOOD[:, :, None], ValueError, "dim 3"),
    (PCA(), np.array([["a", "b"], ["c", "d"]]), ValueError, "could not convert string"),
    (PCA(-1), X_GOOD, ValueError, "n_components=-1 must be between 0 and"),
    (PCA(6), X_GOOD, ValueError, r"n_components=6 .*min\(n_samples, n_features\)=5"),
    (PCA(1.5), X_GOOD, ValueError, "n_components=1.5"),
    (PCA("two"), X_GOOD, TypeError, "n_components must be None, an int, a float"),
    (PCA(True), X_GOOD, TypeError, "n_components must be"),
    (PCA(), X_GOOD[:1], ValueError, "at least 2 samples"),
]


@pytest.mark.parametrize(("model", "X", "error", "match"), BAD_FITS)
def test_bad_input_at_fit(model, X, error, match):
    with pytest.raises(error, match=match):
        model.fit(X)


def test_bad_input_after_fit():
    model = PCA(2)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.transform(X_GOOD)
    model.fit(X_GOOD)
    with pytest.raises(ValueError, match="X has 4 features, but PCA is expecting 5"):
        model.transform(X_GOOD[:, :4])
    with pytest.raises(ValueError, match="X has 4 features"):
        model.reconstruction_error(X_GOOD[:, :4])
    with pytest.raises(ValueError, match="n_components_=2"):
        model.inverse_transform(X_GOOD)
    with pytest.raises(ValueError, match="NaN"):
        model.transform(np.where(X_GOOD > 0, np.nan, X_GOOD))
    with pytest.raises(ValueError, match="X has 4 features"):
        model.partial_fit(X_GOOD[:, :4])


def test_partial_fit_rejects_a_bad_batch_and_keeps_the_good_ones():
    model = PCA(2).partial_fit(X_GOOD)
    with pytest.raises(ValueError, match="NaN"):
        model.partial_fit(np.full((3, 5), np.nan))
    assert model.n_samples_seen_ == 20
    model.partial_fit(X_GOOD)
    np.testing.assert_allclose(model.components_, PCA(2).fit(np.vstack([X_GOOD, X_GOOD]))
                               .components_, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 8), st.integers(1, 5)),
              elements=st.floats(-100, 100, allow_subnormal=False)))
def test_reconstruction_error_is_nonnegative_and_falls_with_k(X):
    limit = min(X.shape)
    scale = 1e-9 * (1.0 + (X**2).sum())
    for model in [LinearAutoencoder, PCA]:
        errors = [model(n_components=k).fit(X).reconstruction_error(X).mean()
                  for k in range(1, limit + 1)]
        assert min(errors) >= -scale
        assert all(b <= a + scale for a, b in zip(errors, errors[1:], strict=False))
        assert errors[-1] <= scale  # k = min(n, d) spans the data


def test_partial_fit_with_mixed_dtypes_is_exact():
    X = 1e4 + make_data(400, 6)[0]
    X32 = X[200:].astype(np.float32)  # a float32 batch after a float64 one
    model = PCA(3).partial_fit(X[:200]).partial_fit(X32)
    reference = PCA(3).fit(np.vstack([X[:200], X32.astype(np.float64)]))
    np.testing.assert_allclose(model.mean_, reference.mean_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(model.explained_variance_, reference.explained_variance_,
                               rtol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 0.1, 3.0, 1000.0])
def test_float32_variances_at_any_offset(offset):
    # float32 products about a provisional mean: accurate whatever the offset.
    rng = np.random.default_rng(3)
    scales = np.geomspace(0.1, 10.0, 20)
    X = (rng.normal(size=(50_000, 20)) * scales + offset * scales).astype(np.float32)
    X64 = X.astype(np.float64)
    reference = np.linalg.eigvalsh(np.cov(X64, rowvar=False))[::-1]
    pca = PCA().fit(X)
    np.testing.assert_allclose(pca.explained_variance_, reference, rtol=1e-5)
    np.testing.assert_allclose(pca.mean_, X64.mean(axis=0), rtol=0, atol=1e-6 * scales.max())


@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_chunked_syrk_scatter_matches_float64_eigh(offset):
    # the CPU covariance path: float32 chunks about a provisional mean, one syrk each, summed in
    # float64; against numpy's float64 eigh of the same numbers' covariance.
    rng = np.random.default_rng(4)
    scales = np.geomspace(0.05, 20.0, 30)
    X = (offset + rng.normal(size=(20_000, 30)) * scales).astype(np.float32)
    moments = Moments(30)
    moments.update(X, n_rows=1_000)  # 20 chunks
    X64 = X.astype(np.float64)
    reference = np.linalg.eigvalsh(np.cov(X64, rowvar=False))
    got = np.linalg.eigvalsh(moments.scatter(center=True) / (len(X) - 1))
    np.testing.assert_allclose(got, reference, rtol=1e-5)
    np.testing.assert_allclose(moments.mean, X64.mean(axis=0), rtol=0, atol=1e-7 * offset + 1e-6)
