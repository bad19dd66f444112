"""Tests of the reconstruction-error outlier detector."""

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae import (
    PCA,
    Autoencoder,
    ConvolutionalAutoencoder,
    DenoisingAutoencoder,
    LinearAutoencoder,
    StackedAutoencoder,
)
from deepae.outliers import (
    ReconstructionOutlierDetector,
    default_model,
    grid_smoothness_ratio,
    is_tabular,
)

DATA = Path(__file__).parent / "data"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted():
    """Bundled 8×8 zeros in [0, 1] with 10 uniform-noise images and 10 sevens planted."""
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    zeros, sevens = X[y == 0], X[y == 7][:10]
    noise = np.random.default_rng(0).uniform(size=(10, 64))
    data = np.vstack([zeros, noise, sevens])
    is_outlier = np.r_[np.zeros(len(zeros)), np.ones(20)].astype(int)
    return data, is_outlier


@pytest.fixture(scope="module")
def default_detector(planted):
    """The default detector (a gradient-trained autoencoder), fitted once."""
    return ReconstructionOutlierDetector().fit(planted[0])


def fast_autoencoder(**params):
    return Autoencoder(hidden_size=4, max_epochs=3, random_state=0, device="cpu", **params)


@parametrize_with_checks([
    ReconstructionOutlierDetector(),
    ReconstructionOutlierDetector(PCA(n_components=1)),
    ReconstructionOutlierDetector(LinearAutoencoder(n_components=1), contamination=0.2),
    ReconstructionOutlierDetector(scaling=None, code_density=False),
    ReconstructionOutlierDetector(PCA(n_components=1), scaling="standard", code_density=True),
    ReconstructionOutlierDetector(PCA(n_components=1), code_density=True, density_trim=0.0),
    ReconstructionOutlierDetector(PCA(n_components=1), scaling="rows"),
    ReconstructionOutlierDetector(code_density=True, density_trim=0.4),
    ReconstructionOutlierDetector(n_models=2, combine="mean"),
    ReconstructionOutlierDetector(PCA(n_components=1), n_models=3),
    ReconstructionOutlierDetector(PCA(n_components=1), n_neighbors=3),
    ReconstructionOutlierDetector(n_neighbors=0),
    ReconstructionOutlierDetector(ConvolutionalAutoencoder(code_size=2, channels=(2,),
                                                           max_epochs=2, random_state=0)),
    ReconstructionOutlierDetector(ConvolutionalAutoencoder(code_size=2, channels=(2,),
                                                           max_epochs=2, random_state=0),
                                  residual_blur=0.5, code_density=True),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("model", [
    PCA(n_components=10),
    LinearAutoencoder(n_components=10),
    DenoisingAutoencoder(hidden_size=8, max_epochs=20, early_stopping=False, random_state=0,
                         device="cpu"),
    None,
], ids=["pca", "linear", "denoising", "default"])
def test_planted_outliers_rank_above_inliers(planted, default_detector, model):
    X, is_outlier = planted
    if model is None:
        detector = default_detector
    else:
        detector = ReconstructionOutlierDetector(model, contamination=0.1).fit(X)
    outlier_scores = -detector.score_samples(X)
    assert roc_auc_score(is_outlier, outlier_scores) >= 0.95
    noise_rows = np.flatnonzero(is_outlier)[:10]
    assert set(noise_rows) <= set(np.argsort(outlier_scores)[-20:])
    np.testing.assert_array_equal(detector.decision_scores_, outlier_scores)


@pytest.mark.parametrize("contamination", [0.01, 0.05, 0.1, 0.25, 0.5])
@pytest.mark.parametrize("n_samples", [97, 100, 301])
def test_predict_flags_contamination_of_training_set(contamination, n_samples):
    X = np.random.default_rng(n_samples).normal(size=(n_samples, 6))
    detector = ReconstructionOutlierDetector(PCA(2), contamination=contamination).fit(X)
    flagged = int(np.sum(detector.predict(X) == -1))
    expected = contamination * n_samples
    assert np.floor(expected) - 1 <= flagged <= np.ceil(expected) + 1
    assert abs(flagged - expected) <= 1
    np.testing.assert_array_equal(detector.labels_, (detector.predict(X) == -1).astype(int))
    np.testing.assert_array_equal(detector.fit_predict(X), detector.predict(X))


def test_pca_scores_equal_minus_pca_reconstruction_error(planted):
    X, _ = planted
    detector = ReconstructionOutlierDetector(PCA(n_components=7)).fit(X)
    expected = -PCA(n_components=7).fit(X).reconstruction_error(X)
    np.testing.assert_array_equal(detector.score_samples(X), expected)
    np.testing.assert_array_equal(detector.reconstruction_error(X), -expected)


def test_offset_threshold_and_decision_function(planted):
    X, _ = planted
    detector = ReconstructionOutlierDetector(PCA(n_components=5), contamination=0.2).fit(X)
    scores = detector.score_samples(X)
    assert detector.offset_ == np.percentile(scores, 20)
    assert detector.threshold_ == -detector.offset_
    decision = detector.decision_function(X)
    np.testing.assert_array_equal(decision, scores - detector.offset_)
    np.testing.assert_array_equal(np.where(decision < 0, -1, 1), detector.predict(X))
    assert detector.model_ is not detector.model  # cloned
    assert not hasattr(detector.model, "components_")


@pytest.mark.parametrize("model", [
    PCA(n_components=5), LinearAutoencoder(n_components=5), fast_autoencoder(), None,
], ids=["pca", "linear", "autoencoder", "default"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_feature_errors_sum_to_per_sample_errors(planted, default_detector, model, dtype):
    X, _ = planted
    X = X.astype(dtype)
    if model is None:
        detector = default_detector
    else:
        detector = ReconstructionOutlierDetector(model).fit(X)
    per_feature = detector.reconstruction_error(X, per_feature=True)
    assert per_feature.shape == X.shape
    assert (per_feature >= 0).all()
    rtol = 1e-9 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(per_feature.sum(axis=1), detector.reconstruction_error(X),
                               rtol=rtol, atol=rtol)


def test_per_feature_errors_point_at_the_corrupted_pixels(planted):
    X, is_outlier = planted
    inliers = X[is_outlier == 0]
    detector = ReconstructionOutlierDetector(PCA(n_components=8)).fit(inliers)
    corrupted = inliers[:1].copy()
    corrupted[0, [27, 36]] = 1.0 - corrupted[0, [27, 36]]  # flip two central pixels
    errors = detector.reconstruction_error(corrupted, per_feature=True)[0]
    assert set(np.argsort(errors)[-2:]) == {27, 36}


def test_stacked_autoencoder_model(planted):
    X, is_outlier = planted
    model = StackedAutoencoder((16, 4), pretrain_epochs=5, max_epochs=20, random_state=0,
                               device="cpu")
    detector = ReconstructionOutlierDetector(model).fit(X)
    assert isinstance(detector.model_, StackedAutoencoder)
    assert roc_auc_score(is_outlier, detector.decision_scores_) >= 0.9
    per_feature = detector.reconstruction_error(X, per_feature=True)
    np.testing.assert_allclose(per_feature.sum(axis=1), detector.decision_scores_, rtol=1e-9)


def test_save_and_load_give_the_same_detector(default_detector, planted, tmp_path):
    import deepae

    X, _ = planted
    default_detector.save(tmp_path / "detector.deepae")
    loaded = deepae.load(tmp_path / "detector.deepae")
    assert isinstance(loaded, ReconstructionOutlierDetector)
    np.testing.assert_array_equal(loaded.score_samples(X), default_detector.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), default_detector.predict(X))
    assert loaded.offset_ == default_detector.offset_


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler()])
def test_works_in_a_pipeline_after_a_scaler(planted, scaler):
    X, is_outlier = planted
    X = X * 16 + 3  # out of [0, 1]: the scaler brings it back
    pipeline = make_pipeline(scaler, ReconstructionOutlierDetector(PCA(n_components=5)))
    labels = pipeline.fit_predict(X)
    assert set(labels) == {-1, 1}
    assert roc_auc_score(is_outlier, -pipeline.score_samples(X)) >= 0.95
    np.testing.assert_array_equal(pipeline.predict(X), labels)
    assert pipeline.decision_function(X).shape == (len(X),)


def smooth_images(n_samples: int, side: int, dtype=np.float64) -> np.ndarray:
    """``n_samples`` flattened ``side × side`` images in [0, 1]: one smooth blob, brighter
    from row to row (a pixel grid for the ``"auto"`` options)."""
    grid = np.linspace(-1, 1, side)
    blob = np.exp(-4 * (grid[:, None] ** 2 + grid[None, :] ** 2)).ravel()
    return np.outer(np.linspace(0.1, 1, n_samples, dtype=dtype), blob.astype(dtype))


def test_default_model_follows_the_data():
    wide_unit = smooth_images(20, 8)
    model = default_model(wide_unit)
    assert (model.output_activation, model.loss) == ("sigmoid", "binary_cross_entropy")
    assert (model.hidden_size, model.tied, model.trim_fraction) == (32, True, 0.0)
    model = default_model(wide_unit - 0.5)
    assert (model.output_activation, model.loss) == ("linear", "squared_error")
    assert default_model(smooth_images(5, 28)).hidden_size == 64
    # about 200 steps of 32 samples, as epochs between 10 and 200
    assert default_model(smooth_images(400, 28)).max_epochs == 16  # 13 batches an epoch
    assert default_model(smooth_images(5, 28)).max_epochs == 200
    assert default_model(smooth_images(60_000, 28, np.float32)).max_epochs == 10
    # tabular: free decoder, linear output, trimmed loss, about 100 steps of 64 samples
    tabular = default_model(np.zeros((7000, 20)))
    assert (tabular.hidden_size, tabular.tied, tabular.output_activation) == (6, False, "linear")
    assert (tabular.loss, tabular.trim_fraction, tabular.max_epochs) == ("squared_error", 0.2, 5)
    assert default_model(np.zeros((5, 1))).hidden_size == 2
    assert default_model(np.zeros((5, 9))).hidden_size == 3
    assert default_model(np.zeros((5, 50))).hidden_size == 16
    assert default_model(np.zeros((50, 3))).max_epochs == 100
    assert default_model(np.zeros((50, 3))).random_state == 0
    assert default_model(np.zeros((50, 3)), random_state=4).random_state == 4
    # wide data without a pixel grid are tables: d // 3 units (at most 64)
    assert default_model(np.random.default_rng(0).uniform(size=(20, 60))).hidden_size == 20


def test_wide_data_are_images_when_their_columns_vary_smoothly_on_a_grid():
    digits = load_digits().data / 16.0
    shuffled = digits[:, np.random.default_rng(0).permutation(64)]
    # the 8×8 grid: neighbours' means and spreads ≈ 2.5× closer than random pairs'
    assert grid_smoothness_ratio(digits) > 2 and not is_tabular(digits)
    # the same pixels in a random column order: no grid, so a table
    assert grid_smoothness_ratio(shuffled) < 1.2 and is_tabular(shuffled)
    # no grid of at least 3 × 3 pixels (62 = 2 × 31 columns): a table
    assert grid_smoothness_ratio(digits[:, :62]) == 0.0 and is_tabular(digits[:, :62])
    assert is_tabular(digits[:, :50])  # at most 50 columns: always a table
    # the ratio by hand on a 3 × 3 grid whose column means are 0..8 and spreads 0
    X = np.vstack([np.arange(9.0)] * 4)
    pairs = np.random.default_rng(0).integers(0, 9, (2, 1000))
    random_level = np.abs(np.subtract(*pairs[:, pairs[0] != pairs[1]])).mean()
    assert grid_smoothness_ratio(X) == pytest.approx(random_level / ((1 + 3) / 2))


def test_the_ensemble_scores_the_median_or_mean_of_its_models(mixed_table):
    X, _ = mixed_table
    singles = [ReconstructionOutlierDetector(n_models=1, n_neighbors=0, random_state=seed)
               .fit(X) for seed in (3, 4, 5)]
    scores = np.array([single.decision_scores_ for single in singles])
    ensemble = ReconstructionOutlierDetector(n_models=3, n_neighbors=0, random_state=3).fit(X)
    np.testing.assert_array_equal(ensemble.decision_scores_, np.median(scores, axis=0))
    assert [m.model_.random_state for m in [ensemble, *ensemble.ensemble_]] == [3, 4, 5]
    mean = ReconstructionOutlierDetector(n_models=3, combine="mean", n_neighbors=0,
                                         random_state=3).fit(X)
    np.testing.assert_allclose(mean.decision_scores_, scores.mean(axis=0), rtol=1e-12)
    # "auto": five default models on tabular data, one given model or one image model
    assert len(ReconstructionOutlierDetector().fit(X).ensemble_) == 4
    assert ReconstructionOutlierDetector(PCA(2)).fit(X).ensemble_ == []
    given = ReconstructionOutlierDetector(fast_autoencoder(), n_models=2).fit(X)
    assert [m.model_.random_state for m in [given, *given.ensemble_]] == [0, 1]


def test_random_state_seeds_the_default_model_only(mixed_table):
    X, _ = mixed_table
    seeded = ReconstructionOutlierDetector(random_state=3).fit(X)
    assert seeded.model_.random_state == 3
    np.testing.assert_array_equal(
        seeded.score_samples(X), ReconstructionOutlierDetector(random_state=3).fit(X)
        .score_samples(X))
    assert not np.array_equal(seeded.score_samples(X),
                              ReconstructionOutlierDetector().fit(X).score_samples(X))
    given = ReconstructionOutlierDetector(fast_autoencoder(), random_state=3).fit(X)
    assert given.model_.random_state == 0  # a given model keeps its own seed


def test_default_detector_works_on_standardized_data(planted):
    X, is_outlier = planted
    pipeline = make_pipeline(StandardScaler(), ReconstructionOutlierDetector())
    pipeline.fit(X)
    model = pipeline[-1].model_
    assert isinstance(model, Autoencoder) and model.output_activation == "linear"
    assert roc_auc_score(is_outlier, -pipeline.score_samples(X)) >= 0.9


@pytest.mark.parametrize("contamination", [0, 0.0, -0.1, 0.51, 1.0])
def test_contamination_out_of_range(contamination):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="contamination"):
        ReconstructionOutlierDetector(PCA(1), contamination=contamination).fit(X)


@pytest.mark.parametrize("contamination", ["auto", None, True])
def test_contamination_wrong_type(contamination):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(TypeError, match="contamination"):
        ReconstructionOutlierDetector(PCA(1), contamination=contamination).fit(X)


def test_model_without_reconstruction_error_is_refused():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(TypeError, match="reconstruction_error"):
        ReconstructionOutlierDetector(StandardScaler()).fit(X)


def test_bad_input_gets_clear_errors():
    X = np.random.default_rng(0).normal(size=(20, 3))
    detector = ReconstructionOutlierDetector(PCA(1))
    with pytest.raises(ValueError, match="NaN"):
        detector.fit(np.where(X > 1.5, np.nan, X))
    with pytest.raises(ValueError, match="infinity"):
        detector.fit(np.where(X > 1.5, np.inf, X))
    detector.fit(X)
    with pytest.raises(ValueError, match="3 features"):
        detector.predict(X[:, :2])
    with pytest.raises(ValueError, match="3 features"):
        detector.reconstruction_error(X[:, :2], per_feature=True)
    with pytest.raises(ValueError, match="NaN"):
        detector.score_samples(np.where(X > 1.5, np.nan, X))
    with pytest.raises(ValueError, match="2D array"):
        detector.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        detector.fit(X[:0])


def test_unfitted_detector_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ReconstructionOutlierDetector().predict(np.zeros((2, 3)))


def test_real_tabular_data_breastw():
    """ADBench's protocol on the vendored breastw (seed 1): the previous default detector
    scored a test ROC-AUC of 0.33 here (worse than chance), PyOD's ECOD 0.99."""
    with np.load(DATA / "breastw.npz") as data:
        X, y = data["X"].astype(float), data["y"]
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=1)
    scaler = MinMaxScaler().fit(X_train)
    detector = ReconstructionOutlierDetector().fit(scaler.transform(X_train))
    assert roc_auc_score(y_test, -detector.score_samples(scaler.transform(X_test))) >= 0.95


@pytest.fixture(scope="module")
def mixed_table():
    """300 inliers with correlated real columns, a count, a binary flag and a constant
    column; 15 planted outliers, each breaking one of those patterns."""
    rng = np.random.default_rng(0)
    n = 300
    base = rng.normal(size=n)
    table = np.column_stack([
        base, 2 * base + 0.1 * rng.normal(size=n), rng.poisson(3, n), rng.random(n) < 0.3,
        np.full(n, 7.0), rng.normal(size=n),
    ])
    outliers = table[:15].copy()
    outliers[:5, 1] += 1.5  # off the line x1 = 2 x0 (15 noise deviations)
    outliers[5:10, 2] = 15 + np.arange(5)  # counts far beyond the inliers'
    outliers[10:15, 4] = 9.0  # a value the constant column never takes
    return np.vstack([table, outliers]), np.r_[np.zeros(n), np.ones(15)]


@pytest.mark.parametrize("model", [None, PCA(n_components=2)], ids=["default", "pca"])
def test_planted_outliers_in_a_mixed_table(mixed_table, model):
    X, is_outlier = mixed_table
    detector = ReconstructionOutlierDetector(model, contamination=0.05).fit(X)
    scores = -detector.score_samples(X)
    assert np.isfinite(scores).all() and np.ptp(scores) > 0
    # the counts beyond the inliers' and the constant column's new value rank first; the
    # rows off the line x1 = 2 x0 are harder for the default's 2 ReLU units (see the notes)
    inliers = scores[is_outlier == 0]
    assert (scores[-10:] > inliers.max()).all()
    assert roc_auc_score(is_outlier, scores) >= (0.9 if model is not None else 0.8)
    flagged = int(np.sum(detector.predict(X) == -1))
    assert abs(flagged - 0.05 * len(X)) <= 1


def test_integer_and_boolean_input(mixed_table):
    X, is_outlier = mixed_table
    as_int = np.rint(X * 10).astype(np.int64)
    detector = ReconstructionOutlierDetector(PCA(n_components=2)).fit(as_int)
    assert roc_auc_score(is_outlier, detector.decision_scores_) >= 0.95
    flags = np.random.default_rng(0).random((100, 5)) < 0.2
    scores = ReconstructionOutlierDetector().fit(flags).score_samples(flags)
    assert np.isfinite(scores).all() and np.ptp(scores) > 0


@pytest.mark.parametrize("X", [
    np.array([[0.0], [1.0]]),  # two rows, one feature
    np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]),  # all rows the same
    np.repeat(np.random.default_rng(0).normal(size=(10, 4)), 5, axis=0),  # duplicates
    np.column_stack([np.zeros(40), np.random.default_rng(1).normal(size=40)]),  # d=2, 1 constant
], ids=["two-rows", "identical-rows", "duplicated-rows", "constant-column"])
def test_degenerate_data_fits_and_scores(X):
    detector = ReconstructionOutlierDetector().fit(X)
    assert np.isfinite(detector.decision_scores_).all()
    outlier = X[:1] + 10.0
    scores = detector.score_samples(np.vstack([X, outlier]))
    assert np.isfinite(scores).all()
    assert scores[-1] < scores[:-1].min()  # the far-away row is the most atypical


def test_options_of_the_score(mixed_table):
    X, _ = mixed_table
    raw = ReconstructionOutlierDetector(PCA(2), scaling=None, code_density=False).fit(X)
    np.testing.assert_allclose(raw.score_samples(X),
                               -PCA(2).fit(X).reconstruction_error(X), rtol=1e-12)
    scaled = ReconstructionOutlierDetector(PCA(2), scaling="standard", code_density=False)
    Z = StandardScaler().fit_transform(X)
    expected = -PCA(2).fit(Z).reconstruction_error(Z)
    np.testing.assert_allclose(scaled.fit(X).score_samples(X), expected, rtol=1e-9)
    # code density with PCA: each residual² / its training mean + Mahalanobis of the codes
    dense = ReconstructionOutlierDetector(PCA(2), scaling=None, code_density=True,
                                          density_trim=0).fit(X)
    pca = PCA(2).fit(X)
    codes = pca.transform(X)
    residuals = np.square(X - pca.inverse_transform(codes))
    expected = (residuals / residuals.mean(axis=0)).sum(axis=1) + (
        LedoitWolf().fit(codes).mahalanobis(codes))
    np.testing.assert_allclose(-dense.score_samples(X), expected, rtol=1e-9)


def test_row_scaling_scales_each_row_to_the_mean_training_norm(mixed_table, tmp_path):
    from sklearn.decomposition import PCA as SklearnPCA

    import deepae

    X, _ = mixed_table
    detector = ReconstructionOutlierDetector(PCA(2), scaling="rows", code_density=False)
    norms = np.linalg.norm(X, axis=1)
    Z = X / norms[:, None] * norms.mean()
    pca = SklearnPCA(2).fit(Z)
    expected = np.square(Z - pca.inverse_transform(pca.transform(Z))).sum(axis=1)
    np.testing.assert_allclose(-detector.fit(X).score_samples(X), expected, rtol=1e-8)
    assert detector.row_norm_ == pytest.approx(norms.mean(), rel=1e-12)
    assert (detector.mean_, detector.scale_) == pytest.approx((0, 1))
    np.testing.assert_allclose(detector._unscaled(detector._scaled(X), X), X, rtol=1e-12)
    blank = np.zeros((1, X.shape[1]))  # stays blank: scored as the model rebuilds zeros
    np.testing.assert_allclose(-detector.score_samples(blank),
                               np.square(pca.inverse_transform(pca.transform(blank))).sum(),
                               rtol=1e-8)
    detector.save(tmp_path / "rows.deepae")
    loaded = deepae.load(tmp_path / "rows.deepae")
    assert loaded.row_norm_ == detector.row_norm_
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


def pca_density_by_hand(X, trim):
    """The trimmed code density of a PCA(2) detector on unscaled ``X``, with numpy and
    scikit-learn: the variances and Gaussian of all rows, then of the ``ceil((1 − trim) n)``
    rows with the smallest variance-weighted residual sums."""
    pca = PCA(2).fit(X)
    codes = pca.transform(X)
    residuals = np.square(X - pca.inverse_transform(codes))
    first = (residuals / residuals.mean(axis=0)).sum(axis=1)
    kept = np.argsort(first, kind="stable")[:int(np.ceil((1 - trim) * len(X)))]
    variance = residuals[kept].mean(axis=0)
    gaussian = LedoitWolf().fit(codes[kept])
    return variance, gaussian, (residuals / variance).sum(axis=1) + gaussian.mahalanobis(codes)


@pytest.mark.parametrize("trim", [0.1, 0.2, 0.45])
def test_density_trim_fits_the_density_on_the_best_rebuilt_rows(mixed_table, trim):
    X, _ = mixed_table
    detector = ReconstructionOutlierDetector(PCA(2), scaling=None, code_density=True,
                                             density_trim=trim).fit(X)
    variance, gaussian, expected = pca_density_by_hand(X, trim)
    np.testing.assert_allclose(detector.residual_variance_, variance, rtol=1e-9)
    np.testing.assert_allclose(detector.code_mean_, gaussian.location_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(detector.code_precision_, gaussian.precision_, rtol=1e-9)
    np.testing.assert_allclose(-detector.score_samples(X), expected, rtol=1e-9)


def test_density_trim_lowers_the_variance_the_outliers_inflate(mixed_table):
    X, is_outlier = mixed_table
    kept = ReconstructionOutlierDetector(PCA(2), code_density=True, density_trim=0.2).fit(X)
    every = ReconstructionOutlierDetector(PCA(2), code_density=True, density_trim=0).fit(X)
    # the planted counts (column 2) and constant-column breaks (column 4) are left out
    assert (kept.residual_variance_[[2, 4]] < every.residual_variance_[[2, 4]] / 2).all()
    assert roc_auc_score(is_outlier, kept.decision_scores_) >= roc_auc_score(
        is_outlier, every.decision_scores_)


@pytest.mark.parametrize("params, error", [
    ({"scaling": "minmax"}, ValueError), ({"code_density": "yes"}, ValueError),
    ({"code_density": 1}, ValueError), ({"density_trim": 0.5}, ValueError),
    ({"density_trim": -0.1}, ValueError), ({"density_trim": True}, TypeError),
    ({"density_trim": "auto"}, TypeError), ({"n_models": 0}, ValueError),
    ({"n_models": True}, TypeError), ({"n_models": "many"}, TypeError),
    ({"combine": "max"}, ValueError),
    ({"n_neighbors": -1}, ValueError), ({"n_neighbors": True}, TypeError),
    ({"n_neighbors": 2.5}, TypeError),
    ({"residual_blur": -1.0}, ValueError), ({"residual_blur": True}, TypeError),
    ({"residual_blur": "wide"}, TypeError), ({"residual_blur": 1.0}, ValueError),
    ({"relative_error": "yes"}, ValueError),
    ({"relative_error": True, "code_density": True}, ValueError),
])
def test_bad_options(params, error):
    with pytest.raises(error, match=next(iter(params))):
        ReconstructionOutlierDetector(**params).fit(np.zeros((5, 2)))


def test_tabular_detector_round_trip(mixed_table, tmp_path):
    import deepae

    X, _ = mixed_table
    detector = ReconstructionOutlierDetector().fit(X)
    detector.save(tmp_path / "tabular.deepae")
    loaded = deepae.load(tmp_path / "tabular.deepae")
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.code_precision_, detector.code_precision_)
    np.testing.assert_array_equal(loaded.residual_variance_, detector.residual_variance_)
    for member, saved in zip(loaded.ensemble_, detector.ensemble_, strict=True):
        np.testing.assert_array_equal(member.code_precision_, saved.code_precision_)
    trimmed = ReconstructionOutlierDetector(PCA(2), density_trim=0.3).fit(X)
    trimmed.save(tmp_path / "trimmed.deepae")
    loaded = deepae.load(tmp_path / "trimmed.deepae")
    assert loaded.density_trim == 0.3
    np.testing.assert_array_equal(loaded.score_samples(X), trimmed.score_samples(X))


# --- the image-aware score of a model that reads images ------------------------------------

def small_conv():
    return ConvolutionalAutoencoder((1, 8, 8), code_size=4, channels=(4,), kernel_size=3,
                                    max_epochs=3, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def digit_images():
    """600 bundled 8×8 digits in [0, 1], float64, and a blank image."""
    return np.vstack([load_digits().data[:600] / 16.0, np.zeros((1, 64))])


def residual_images(model, X, sigma):
    """``z − g(z)`` of each row as 8×8 images, blurred by scipy (zero outside the image)."""
    residuals = (X - model.inverse_transform(model.transform(X))).reshape(-1, 8, 8)
    return gaussian_filter(residuals, (0, sigma, sigma), mode="constant") if sigma else residuals


@pytest.mark.parametrize("params, sigma, relative", [
    ({}, 1.0, True), ({"residual_blur": 0.6, "relative_error": False}, 0.6, False),
    ({"residual_blur": 0}, 0.0, True), ({"relative_error": False, "residual_blur": 2.5}, 2.5,
                                        False),
])
def test_image_score_is_the_blurred_relative_error(digit_images, params, sigma, relative):
    X = digit_images
    detector = ReconstructionOutlierDetector(small_conv(), **params).fit(X)
    assert (detector.residual_blur_, detector.relative_error_) == (sigma, relative)
    errors = np.square(residual_images(detector.model_, X, sigma)).sum(axis=(1, 2))
    if relative:
        floor = 1e-6 * np.square(X).sum(axis=1).mean()
        np.testing.assert_allclose(detector.energy_floor_, floor, rtol=1e-12)
        errors = errors / np.maximum(np.square(X).sum(axis=1), floor)  # the blank row: floor
    else:
        assert detector.energy_floor_ is None
    np.testing.assert_allclose(-detector.score_samples(X), errors, rtol=1e-9)
    # per-feature errors stay the plain squared residuals
    np.testing.assert_allclose(detector.reconstruction_error(X[:5], per_feature=True),
                               np.square(residual_images(detector.model_, X[:5], 0)).reshape(
                                   5, -1), rtol=1e-12)


def test_image_score_with_the_code_density_blurs_its_residuals(digit_images):
    X = digit_images[:-1]
    detector = ReconstructionOutlierDetector(small_conv(), code_density=True,
                                             density_trim=0).fit(X)
    assert (detector.residual_blur_, detector.relative_error_) == (1.0, False)
    model = detector.model_
    residuals = np.square(residual_images(model, X, 1.0)).reshape(len(X), -1)
    codes = model.transform(X)
    expected = (residuals / residuals.mean(axis=0)).sum(axis=1) + (
        LedoitWolf().fit(codes).mahalanobis(codes))
    np.testing.assert_allclose(-detector.score_samples(X), expected, rtol=1e-7)


def test_models_without_images_keep_the_plain_error(planted):
    X, _ = planted
    detector = ReconstructionOutlierDetector(PCA(3)).fit(X)
    assert (detector.residual_blur_, detector.relative_error_) == (0.0, False)
    np.testing.assert_allclose(-detector.score_samples(X),
                               PCA(3).fit(X).reconstruction_error(X), rtol=1e-12)
    relative = ReconstructionOutlierDetector(PCA(3), relative_error=True).fit(X)
    np.testing.assert_allclose(-relative.score_samples(X),
                               PCA(3).fit(X).reconstruction_error(X) / np.square(X).sum(1),
                               rtol=1e-9)


def test_image_detector_round_trip(digit_images, tmp_path):
    import deepae

    detector = ReconstructionOutlierDetector(small_conv(), residual_blur=1.5).fit(
        digit_images)
    detector.save(tmp_path / "conv.deepae")
    loaded = deepae.load(tmp_path / "conv.deepae")
    assert (loaded.residual_blur_, loaded.relative_error_) == (1.5, True)
    assert loaded.energy_floor_ == detector.energy_floor_
    np.testing.assert_array_equal(loaded.score_samples(digit_images),
                                  detector.score_samples(digit_images))


def test_a_detector_file_from_before_the_image_score_scores_the_plain_error(digit_images,
                                                                           tmp_path):
    import deepae

    detector = ReconstructionOutlierDetector(small_conv()).fit(digit_images)
    plain = ReconstructionOutlierDetector(small_conv(), residual_blur=0,
                                          relative_error=False).fit(digit_images)
    for name in ("residual_blur_", "relative_error_", "energy_floor_"):
        delattr(detector, name)  # as a file written before these options existed
    detector.save(tmp_path / "old.deepae")
    loaded = deepae.load(tmp_path / "old.deepae")
    assert (loaded.residual_blur_, loaded.relative_error_, loaded.energy_floor_) == (
        0.0, False, None)
    np.testing.assert_array_equal(loaded.score_samples(digit_images),
                                  plain.score_samples(digit_images))


# --- the neighbour term: local and global outliers ---------------------------------------

@pytest.fixture(scope="module")
def two_clusters():
    """Two tight clusters of 150 rows at ±3 along a direction in 6 dimensions; three local
    outliers on the segment between them (on the data's line, where a model of the line
    rebuilds them and the codes' Gaussian is densest) and three global ones off the line."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=6)
    direction /= np.linalg.norm(direction)
    off = rng.normal(size=6)
    off -= off @ direction * direction
    off /= np.linalg.norm(off)
    centers = np.repeat([[-3.0], [3.0]], 150, axis=0) * direction
    inliers = centers + 0.1 * rng.normal(size=(300, 6))
    local = np.array([[-1.0], [0.0], [1.0]]) * direction
    global_ = np.array([[-3.0], [0.0], [3.0]]) * direction + 2.0 * off
    return np.vstack([inliers, local, global_]), np.r_[np.zeros(300), np.ones(6)]


def test_local_and_global_outliers_rank_above_every_inlier(two_clusters):
    X, is_outlier = two_clusters
    detector = ReconstructionOutlierDetector().fit(X)
    assert detector.n_neighbors_ == 5 and detector.neighbor_rows_.shape == X.shape
    scores = detector.decision_scores_
    assert scores[is_outlier == 1].min() > scores[is_outlier == 0].max()
    # without the neighbour term (the earlier default) the global ones still rank first,
    # the local ones, well rebuilt and central in the codes' Gaussian, do not
    old = ReconstructionOutlierDetector(n_neighbors=0).fit(X).decision_scores_
    assert old[-3:].min() > old[:300].max()
    assert old[300:303].max() < old[:300].max()


def test_the_score_is_the_largest_standardized_term(two_clusters):
    from sklearn.neighbors import NearestNeighbors

    X, _ = two_clusters
    detector = ReconstructionOutlierDetector(PCA(1), n_neighbors=4).fit(X)
    alone = ReconstructionOutlierDetector(PCA(1), n_neighbors=0).fit(X)
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    # the scaling: each training row left out of its own neighbours
    loo = NearestNeighbors(n_neighbors=4).fit(Z).kneighbors()[0][:, -1]
    q1, median, q3 = np.percentile(np.column_stack([alone.decision_scores_, loo]),
                                   [25, 50, 75], axis=0)
    np.testing.assert_allclose(detector.term_center_, median, rtol=1e-5)
    np.testing.assert_allclose(detector.term_scale_, q3 - q1, rtol=1e-5)
    # the training scores: as score_samples gives them (each row its own nearest neighbour)
    own = NearestNeighbors(n_neighbors=4).fit(Z).kneighbors(Z)[0][:, -1]
    terms = np.column_stack([alone.decision_scores_, own])
    expected = ((terms - median) / (q3 - q1)).max(axis=1)
    np.testing.assert_allclose(detector.decision_scores_, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(-detector.score_samples(X), detector.decision_scores_,
                               rtol=1e-12)
    new = Z[:5] + 0.05
    distances = NearestNeighbors(n_neighbors=4).fit(Z).kneighbors(new)[0][:, -1]
    terms = np.column_stack([-alone.score_samples(X[:5] + 0.05 * X.std(axis=0)), distances])
    np.testing.assert_allclose(-detector.score_samples(X[:5] + 0.05 * X.std(axis=0)),
                               ((terms - median) / (q3 - q1)).max(axis=1), rtol=1e-4,
                               atol=1e-5)
