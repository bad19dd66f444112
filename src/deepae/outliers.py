"""Outlier detection from the reconstruction error of an autoencoder.

Where a model trained on the data rebuilds a sample well (``g(x) ≈ x``) the data is dense;
where the reconstruction is poor, the sample is atypical. :class:`ReconstructionOutlierDetector`
turns the reconstruction error of any deepae model into scikit-learn's outlier-detector API
(``score_samples``, ``decision_function``, ``predict``, ``fit_predict``) with PyOD's fitted
attributes (``decision_scores_``, ``threshold_``, ``labels_``) on top.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.covariance import LedoitWolf
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from . import distributed
from ._validation import check_X
from .autoencoder import Autoencoder
from .checkpoint import checkpointed
from .persistence import SaveMixin

#: Data with at most this many features is treated as tabular by the ``"auto"`` options.
TABULAR_MAX_FEATURES = 50
#: Wider data are images for the ``"auto"`` options when the columns' means and spreads are
#: at least this many times smoother along a pixel grid than between random column pairs
#: (see :func:`grid_smoothness_ratio`).
IMAGE_GRID_RATIO = 1.35
#: Random column pairs the grid neighbours are compared with.
RANDOM_PAIRS = 1000
#: The trimmed loss of the tabular default model (fraction of each batch left out).
DEFAULT_TRIM_FRACTION = 0.2
#: The tabular default model has ``n_features // TABULAR_CODE_DIVISOR`` hidden units (2 to 64).
TABULAR_CODE_DIVISOR = 3
#: The tabular default model trains for about this many mini-batch steps (at least 5 epochs).
TABULAR_STEPS = 100
#: How many autoencoders ``n_models="auto"`` fits for the default model on tabular data.
TABULAR_MODELS = 5
#: Fraction of the training rows left out when the code density is fitted.
DEFAULT_DENSITY_TRIM = 0.2
#: The ``"auto"`` blur (standard deviation in pixels) of the residuals of an image model.
IMAGE_RESIDUAL_BLUR = 1.0
#: A row's energy ``‖z‖²`` in the relative error is at least this fraction of the mean
#: training row's.
ENERGY_FLOOR = 1e-6
#: With ``scaling="rows"`` a row's norm counts as at least this fraction of ``row_norm_`` (a
#: blank row stays blank).
ROW_NORM_FLOOR = 1e-6


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
    n_features = X.shape[1]
    widths = [w for w in range(3, n_features // 3 + 1) if n_features % w == 0]
    if not widths:
        return 0.0
    mean, spread = column_moments(X)

    def distance(first: np.ndarray, second: np.ndarray) -> float:
        return float(np.mean(np.abs(mean[first] - mean[second])
                             + np.abs(spread[first] - spread[second])))

    first, second = np.random.default_rng(0).integers(0, n_features, (2, RANDOM_PAIRS))
    random_level = distance(first[first != second], second[first != second])
    ratios = [0.0]
    for width in widths:
        left = np.flatnonzero(np.arange(n_features - 1) % width != width - 1)
        above = np.arange(n_features - width)
        neighbours = (distance(left, left + 1) + distance(above, above + width)) / 2
        if neighbours > 0:
            ratios.append(random_level / neighbours)
    return max(ratios)


def epochs_for(n_samples: int, batch_size: int, steps: int, low: int, high: int) -> int:
    """Epochs giving about ``steps`` mini-batch steps, between ``low`` and ``high``."""
    batches_per_epoch = max(1, -(-n_samples // batch_size))
    return int(np.clip(-(-steps // batches_per_epoch), low, high))


def default_model(X: np.ndarray, random_state: int | None = 0,
                  tabular: bool | None = None) -> Autoencoder:
    """The model that ``model=None`` stands for, given the (scaled) training data ``X``.

    Tabular data (:func:`is_tabular`: at most :data:`TABULAR_MAX_FEATURES` columns, or wider
    data without a pixel grid): a ``d → max(2, d // 3) → d`` autoencoder (at most 64 units)
    with ReLU units, a free decoder and a linear output, trained with squared error and a
    trimmed loss (each batch leaves out its 20% worst-rebuilt rows, so the outliers hidden in
    the training data are not learned) by Adam (learning rate 3e-3, batches of 64) for about
    :data:`TABULAR_STEPS` (100) steps, at least 5 epochs; the detector fits
    :data:`TABULAR_MODELS` of them (``n_models="auto"``). The code size
    (:data:`TABULAR_CODE_DIVISOR`): on ADBench's classical sets (a single model of 300 steps,
    the detector's defaults otherwise) ``d // 3`` units scored a mean ROC-AUC of 0.819, 0.811
    and 0.811 with the model's seeds 0, 1, 2, ``d // 4`` units 0.814, 0.806 and 0.811;
    ``d // 2`` and ``d // 6`` scored lower at seed 0.

    Images: a tied ``d → min(64, d // 2) → d`` ReLU autoencoder trained with
    Adam (learning rate 2e-3, batches of 32) for about 200 steps; data in ``[0, 1]`` gets a
    sigmoid output trained with binary cross-entropy, any other data a linear output and
    squared error. Both are trained on all of ``X`` (no early stopping).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The validated training data (this rank's shard under a process group).
    random_state : int or None, default=0
        The model's seed.
    tabular : bool or None, default=None
        Whether the data are tabular (as the detector decided on its unscaled data);
        ``None``: :func:`is_tabular` of ``X``.

    Returns
    -------
    model : Autoencoder
        Unfitted.
    """
    n_samples = int(distributed.all_reduce(np.array([len(X)]))[0])
    n_features = X.shape[1]
    if is_tabular(X) if tabular is None else tabular:
        return Autoencoder(
            hidden_size=max(2, min(64, n_features // TABULAR_CODE_DIVISOR)), activation="relu",
            tied=False, trim_fraction=DEFAULT_TRIM_FRACTION, learning_rate=3e-3, batch_size=64,
            max_epochs=epochs_for(n_samples, 64, steps=TABULAR_STEPS, low=5, high=300),
            early_stopping=False, random_state=random_state,
        )
    low, high = distributed.all_reduce(X.min(), "min"), distributed.all_reduce(X.max(), "max")
    in_unit_interval = low >= 0 and high <= 1
    return Autoencoder(
        hidden_size=max(1, min(64, n_features // 2)),
        activation="relu",
        output_activation="sigmoid" if in_unit_interval else "linear",
        loss="binary_cross_entropy" if in_unit_interval else "squared_error",
        learning_rate=2e-3,
        batch_size=32,
        max_epochs=epochs_for(n_samples, 32, steps=200, low=10, high=200),
        early_stopping=False,
        random_state=random_state,
    )


def image_shape_of(model) -> tuple[int, int, int] | None:
    """The ``(channels, height, width)`` a fitted model reads its rows as (the
    :class:`deepae.ConvolutionalAutoencoder`'s ``image_shape_``), or None."""
    return getattr(model, "image_shape_", None)


def scores_by_likelihood(model) -> bool:
    """Whether the detector scores ``model`` by its log-likelihood estimate (a density model,
    such as :class:`deepae.VariationalAutoencoder`, which gives an exportable one through
    ``_likelihood_module``) rather than by its reconstruction error."""
    return hasattr(model, "_likelihood_module")


def column_moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column over all ranks' rows."""
    n = distributed.all_reduce(np.array([len(X)]))[0]
    mean = distributed.all_reduce(X.sum(axis=0, dtype=np.float64)) / n
    variance = distributed.all_reduce(np.square(X - mean).sum(axis=0)) / n
    return mean, np.sqrt(variance)


def column_scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column over all ranks' rows (1 for a constant
    column, which is then only centered)."""
    mean, scale = column_moments(X)
    return mean, np.where(scale > 0, scale, 1.0)


def mean_row_norm(X: np.ndarray) -> float:
    """Mean of the rows' Euclidean norms ``‖x‖`` over all ranks' rows."""
    norms = np.linalg.norm(X, axis=1).astype(np.float64)
    totals = distributed.all_reduce(np.array([norms.sum(), len(X)]))
    return float(totals[0] / totals[1])


def row_norm_floor(row_norm: float) -> float:
    """The least norm a row counts as when scaled to ``row_norm``: :data:`ROW_NORM_FLOOR`
    times it, and positive in float32."""
    return max(ROW_NORM_FLOOR * row_norm, float(np.finfo(np.float32).tiny))


def scale_rows(Z: np.ndarray, row_norm: float) -> np.ndarray:
    """Each row of ``Z`` scaled to the norm ``row_norm`` (its norm counted as at least
    :func:`row_norm_floor`), in ``Z``'s dtype."""
    norms = np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), row_norm_floor(row_norm))
    return (Z * (row_norm / norms)).astype(Z.dtype, copy=False)


def residual_means(residuals: np.ndarray, floor: float) -> np.ndarray:
    """Mean of each column of ``residuals`` over all ranks' rows, at least ``floor``."""
    totals = distributed.all_reduce(np.append(residuals.sum(axis=0), len(residuals)))
    return np.maximum(totals[:-1] / totals[-1], floor)


def mean_energy(X: np.ndarray) -> float:
    """Mean of the rows' ``‖x‖²`` over all ranks' rows."""
    totals = distributed.all_reduce(np.array([np.square(X, dtype=np.float64).sum(), len(X)]))
    return float(totals[0] / totals[1])


def reseeded(model, offset: int):
    """An unfitted clone of ``model`` whose integer ``random_state`` is moved by ``offset``
    (another member of an ensemble); a plain clone for a model without an integer seed."""
    copy = clone(model)
    seed = copy.get_params().get("random_state")
    if offset and isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        copy.set_params(random_state=int(seed) + offset)
    return copy


def rows_kept(scores: np.ndarray, trim: float) -> np.ndarray:
    """Mask of this rank's rows whose ``scores`` are among the ``1 − trim`` smallest of all
    ranks' rows (at least two rows; ties at the cut are all kept)."""
    all_scores = np.sort(np.concatenate(distributed.gather_objects(scores)))
    n_kept = max(2, int(np.ceil((1 - trim) * len(all_scores))))
    return scores <= all_scores[min(n_kept, len(all_scores)) - 1]


#: The fitted state of a detector written before these attributes existed: no row scaling,
#: the plain squared error.
EARLIER_STATE = {"row_norm_": None, "residual_blur_": 0.0, "relative_error_": False,
                 "energy_floor_": None}


class ReconstructionOutlierDetector(SaveMixin, OutlierMixin, BaseEstimator):
    """Outlier detector scoring each sample by how poorly a deepae model rebuilds it.

    The data are standardized column by column or row by row (``scaling``), a copy of
    ``model`` is fitted on them, and a sample's outlier score is its squared reconstruction
    error ``‖z − g(z)‖²`` (``z``: the scaled sample). With ``code_density`` the score is the
    negative log-likelihood, up to constants, of a Gaussian model of the data around the
    model's manifold, in the manner of probabilistic PCA: each feature's squared
    reconstruction error divided by its mean on the training data, summed, plus the
    squared Mahalanobis distance of the
    sample's code under a Gaussian fitted (Ledoit–Wolf shrinkage) to the training codes — a
    sample can be atypical off the manifold (poorly rebuilt) or on it (an unusual code).
    A density model (:class:`deepae.VariationalAutoencoder`) instead scores each sample by
    minus its log-likelihood estimate (the model's ``score_samples``), which already weighs
    the reconstruction against the code's prior density; it takes no code density.
    A model that reads its rows as images (:class:`deepae.ConvolutionalAutoencoder`) is
    scored, by default, image-aware: each residual image ``z − g(z)`` is blurred by a
    Gaussian of ``residual_blur`` pixels before it is squared (a missing or extra stroke
    counts, a slight shift of an edge mostly cancels), and the sum is divided by the image's
    energy ``‖z‖²`` (``relative_error``: a faint digit such as a ``1`` is not normal merely
    for having few pixels to get wrong).
    ``score_samples`` is minus the score; the threshold leaves a fraction ``contamination``
    of the training samples below it, as scikit-learn's ``IsolationForest`` does. Under a
    process group each rank passes its shard; the scaling, the model, the code Gaussian and
    the threshold are those of all shards. With ``n_models`` above 1 the detector fits that
    many copies of the model (seeds ``random_state``, ``random_state + 1``, ...), each with
    its own code density, and scores each sample by the median (``combine``) of their scores.

    Parameters
    ----------
    model : estimator or None, default=None
        Any deepae model with ``reconstruction_error`` (``PCA``, ``LinearAutoencoder``,
        ``Autoencoder``, ``DenoisingAutoencoder``, ``StackedAutoencoder``,
        ``ConvolutionalAutoencoder``, ``VariationalAutoencoder``); it is cloned at
        fit. ``None`` uses :func:`default_model`.
    contamination : float, default=0.1
        Expected fraction of outliers in the training data, in ``(0, 0.5]``; it sets
        ``offset_`` (and so :meth:`predict`), not the scores.
    scaling : {"auto", "standard", "rows", None}, default="auto"
        ``"standard"`` centers each column and divides it by its standard deviation before
        the model sees it; ``"rows"`` scales each row to the mean norm ``‖x‖`` of the
        training rows (``row_norm_``), so that the model sees shapes, not brightness: a
        faint image is not likely merely for having little ink to explain (the known
        failure of likelihoods for out-of-distribution data, Nalisnick et al. 2019); a
        likelihood model's score is then the density of the scaled row, not of ``x``.
        ``None`` leaves the data as they are. ``"auto"`` is ``"standard"`` for tabular data;
        for images, whose pixels share one unit, ``"rows"`` for a model scored by its
        likelihood (unless its decoder is Bernoulli, which needs data in ``[0, 1]``) and
        ``None`` for the others (see the notes). Data are tabular (:func:`is_tabular`) with
        at most 50 columns, or wider when the columns' means and spreads do not vary
        smoothly along any pixel grid (:func:`grid_smoothness_ratio` below 1.35; flattened
        images score 1.6 and more).
    code_density : {"auto", True, False}, default="auto"
        Add the Gaussian density of the codes to the score (see above); ``"auto"`` does so
        for tabular data (see ``scaling``), unless the model is scored by its likelihood
        (``True`` is then an error).
    density_trim : float, default=0.2
        With ``code_density``: the fraction of the training rows, in ``[0, 0.5)``, left out
        when the residual variances and the code Gaussian are fitted — those with the
        largest variance-weighted residual sums under a first fit on all rows (one
        concentration step, as in the minimum covariance determinant). The training data
        of an outlier detector holds outliers; fitted on all rows, their large residuals
        inflate the variances of exactly the features where they stand out, and so lower
        those features' weights. ``0`` fits on all rows. The default leaves out as many as
        the default model's trimmed loss.
    residual_blur : float or "auto", default="auto"
        Standard deviation, in pixels, of the Gaussian (truncated at 4 standard deviations,
        zero outside the image) that smooths each channel of the residual image before it
        is squared, for the score and the code density; ``0`` leaves the residuals as they
        are. Needs a model that reads its rows as images (``image_shape``). ``"auto"``:
        :data:`IMAGE_RESIDUAL_BLUR` (1 pixel) for such a model, else 0.
    relative_error : {"auto", True, False}, default="auto"
        Divide each row's (blurred) squared reconstruction error by the row's energy
        ``‖z‖²`` (at least :data:`ENERGY_FLOOR` times the mean training row's). Not with the
        code density. ``"auto"``: True for a model that reads its rows as images and has
        no code density, else False.
    n_models : int or "auto", default="auto"
        How many copies of the model to fit; each further copy's integer seed is one more
        than the previous one's (a model without an integer seed is cloned as it is).
        ``"auto"``: :data:`TABULAR_MODELS` (5) for the default model on tabular data, else 1.
    combine : {"median", "mean"}, default="median"
        How the models' scores are combined into a sample's score (with ``n_models`` above
        1): the median is not moved by one model that has learned a set badly.
    random_state : int or None, default=0
        Seed of the default model (``model=None``; a given model keeps its own), and of the
        first model of an ensemble. On ADBench's classical sets the default's mean ROC-AUC
        is 0.820 to 0.823 over seeds 0 to 5 (a single model's 0.800 to 0.819; see the
        notes), so compare detectors over several seeds.
    checkpoint : str, path or None, default=None
        A directory for checkpoints of the fit: each model of the ensemble and each epoch
        (see :class:`deepae.Autoencoder`).

    Attributes
    ----------
    model_ : estimator
        The fitted copy of ``model`` (or of the default model), on the scaled data.
    mean_, scale_ : ndarray of shape (n_features,)
        The scaling: ``z = (x − mean_) / scale_`` (zeros and ones without scaling).
    row_norm_ : float or None
        With ``scaling="rows"``: the norm each row is scaled to (the mean training row's).
    residual_variance_ : ndarray of shape (n_features,) or None
        Mean squared reconstruction error of each feature on the training rows kept by
        ``density_trim`` (with ``code_density``).
    code_mean_ : ndarray of shape (n_codes,) or None
    code_precision_ : ndarray of shape (n_codes, n_codes) or None
        The Gaussian of the codes of the training rows kept by ``density_trim`` (with
        ``code_density``).
    ensemble_ : list of ReconstructionOutlierDetector
        The further models of the ensemble (``n_models − 1``; empty for one model), each
        with its ``model_``, code density and score options, on the scaled data; ``model_``
        and the attributes above are the first model's.
    residual_blur_ : float
        The blur used (``"auto"`` resolved; 0 for none).
    relative_error_ : bool
        Whether the scores are relative errors (``"auto"`` resolved).
    energy_floor_ : float or None
        With ``relative_error_``: the least energy a row's error is divided by.
    offset_ : float
        The ``100 · contamination`` percentile of the training scores;
        ``decision_function = score_samples − offset_``.
    decision_scores_ : ndarray of shape (n_samples,)
        Training outlier scores in PyOD's convention (higher is more abnormal).
    threshold_ : float
        ``-offset_``: training samples whose ``decision_scores_`` exceed it are outliers.
    labels_ : ndarray of shape (n_samples,)
        PyOD's training labels: 0 for inliers, 1 for outliers.
    n_features_in_ : int

    Notes
    -----
    The defaults were chosen on three benchmarks at once (``benchmarks/bench_adbench.py``,
    ``benchmarks/bench_outliers.py``). On ADBench's 30 classical tabular data sets (its
    protocol, seeds 1–3), in exploratory runs of single autoencoders: standardizing the
    columns raised the mean ROC-AUC from 0.772 to 0.805, the trimmed loss from 0.79 to 0.80,
    the code density by about 0.01; per-feature and pooled residual variances scored alike
    (0.804, 0.806), the per-feature ones were kept as they find a single broken column (a
    test's planted outliers: 0.94 against 0.86). Fitting those variances and the code
    Gaussian on all training rows gave 0.804 (mean AP 0.447, ``d // 4`` hidden units);
    leaving out the 20% worst-rebuilt rows (``density_trim=0.2``) gave 0.814 (AP 0.445),
    better on 16 of the 30 sets, worse on 8 (the others are wide or saturated), and the gain
    held for the model's seeds 1 and 2 (0.797 to 0.807, 0.802 to 0.811; one seed to the next
    moves the mean by up to 0.007); 10% and 30% (with the model's trimmed loss at the same
    fraction) gave 0.806 and 0.814, a second concentration step 0.001 more; a robust spread
    per feature instead (the median of the squared residuals) gave 0.813 (AP 0.428), a
    per-column trimmed mean 0.813. With ``d // 3`` hidden units in the default model instead
    of ``d // 4`` (see :func:`default_model`) the default scores 0.819 (AP 0.459; 0.809 with
    ``density_trim=0``), better than the previous default (0.804) on 16 sets and worse on 9:
    the best mean ROC-AUC and mean rank, ahead of PyOD's IsolationForest (0.792), ECOD
    (0.778), AutoEncoder (0.777), VAE (0.770), KNN (0.728) and PCA (0.719), in about a tenth
    of PyOD AutoEncoder's time (the trimming adds one pass over the residuals); the default
    before the code density scored 0.724. Measured and not kept, with the median spread
    (0.813): absolute or logarithmic residuals (0.810, 0.790), the Gaussian of the scaled
    input instead of or beside that of the codes (0.811), twice the steps (0.814), twice the
    hidden units (0.809), ECOD-like marginal tails added to the score (0.812); robust column
    scaling (median and IQR) gave 0.811 with per-feature means. Ensembles (robustly
    standardized scores, averaged) added little for their cost: three seeds 0.000, four
    models on random halves 0.005, three capacities (``d/4``, ``d/2``, ``d`` units) 0.006
    for three times the time; a Gaussian mixture or nearest-neighbour density of the codes
    instead of one Gaussian lost 0.01 to 0.025. The model's seed moves the mean ROC-AUC as
    much as most of these choices: that default scores 0.819, 0.811, 0.811, 0.811, 0.818 and
    0.800 with the model's seeds 0 to 5 (mean 0.812, standard deviation 0.007; the best mean
    ROC-AUC and mean rank at every seed), so later candidates were compared seed by seed
    (the change in the mean over the seeds given): 150 steps instead of 300 (+0.001, six seeds),
    a learning rate of 1e-3 (0.000, six seeds), a second model trained on the rows kept by
    ``density_trim`` (0.000, four seeds), feature bagging (three models on random halves to all
    but one of the columns, −0.010, four seeds), the residuals' full Ledoit–Wolf covariance
    instead of per-feature variances (−0.002, six seeds); 75, 100 or 200 steps (+0.002, +0.003,
    +0.002, three seeds, each lower at one of them); ``d // 4``, ``d // 2`` or ``d`` hidden
    units (−0.003, −0.010, −0.006); tanh units (−0.002, two seeds); the code term weighted 0.5
    or 2 (−0.002, +0.001); each term divided by its spread on the training rows before the sum
    (−0.004 to −0.027 by the spread); the Gaussian of the codes before the
    rectifier (−0.003, seed 0). Ensembles on top of ``density_trim`` gain on a single
    model's mean, not on its best seeds: three seeds, their scores averaged, scored 0.817,
    0.813, 0.820 and 0.810 (seeds 0–2, 3–5, the even and the odd ones), all six 0.816 (at
    150 steps 0.820, 0.812, 0.820, 0.810 and 0.818), 0.003 to 0.005 above the single models'
    mean for three to six times the time; four capacities (``d // 4`` to ``d`` units) 0.817 and
    0.813 (seeds 0 and 1); the PCA detector's standardized score averaged in lost 0.003 to
    0.011. None of these was kept. Two changes were: the four sets wider than 50 columns gain
    from the tabular path (ADBench's mnist 0.78 to 0.90, campaign 0.79 to 0.75, InternetAds
    0.641 to 0.635, musk 1.0 either way; +0.002 in the mean at each of the seeds 0 to 5), once
    a rule on the data tells them from images: the columns' means and spreads vary smoothly
    along a pixel grid for images (:func:`grid_smoothness_ratio` 1.63 to 2.26 for one digit
    class of the 8×8 digits, 2.45 for all, 1.68 with 5% uniform-noise images among them, 5.0
    to 6.4 for one MNIST-5k digit) and not for ADBench's sets (at most 1.11 for the wide ones,
    1.56 for landsat and satellite, which are 3×3 pixel patches; the rule only looks at data
    wider than 50 columns), hence the threshold 1.35. (Neighbours' correlations relative to
    random pairs separated them too, 2.04 and up against 1.35, but fell to 1.53 with the
    noise images.) And the ensemble took the median: the mean of several models is moved by
    one model that learned a set badly (on skin one seed in six scores 0.56, the others 0.87
    to 0.89); with the tabular path on the wide sets and seeds ``K`` to ``K + n − 1`` for the
    design at seed ``K``, the median of five models of 100 steps scored 0.820, 0.820, 0.820,
    0.822, 0.822, 0.823 (seeds 0 to 5, mean 0.821, standard deviation 0.0015; the single
    300-step default 0.812 on average there and 0.814 with the tabular wide path), their mean
    0.822, 0.819, 0.818, 0.820, 0.822, 0.817 (0.8195); the median of 3, 4, 7 and 9 models of
    100 steps 0.820, 0.821, 0.822 and 0.821 on average, of 4, 5 or 6 models of 150 steps
    0.820 each, of 3 models of 300 steps 0.819; three code sizes (``d // 4``, ``d // 3``,
    ``d // 2``, 300 steps, their mean) 0.815; five models of 100 or 150 steps with at least
    2 epochs instead of 5 (less time on the large sets) 0.814 and 0.813. Five models of 100
    steps take about three times one 300-step model's time (about 0.4× PyOD AutoEncoder's).
    One loss: on the tests' small planted table (315 rows, 6 columns, so 2 hidden units) the
    five 100-step models find the rows moved off a line ``x1 = 2 x0`` less well than one
    300-step model did (ROC-AUC of those rows against the inliers 0.52 against 0.81 at seed
    0, 0.43 against 0.56 at seed 1); the rows with an unseen count or constant-column value
    rank first either way.
    Tried on top and rejected (six seeds each, single models): starting the autoencoder from
    the closed form — PCA's ``k = hidden // 2`` axes ``W`` as encoder ``[W; −W]`` (zero
    biases) and decoder ``[Wᵀ, −Wᵀ]``, so that the untrained network rebuilds exactly as PCA
    does, then trained as usual — 0.790 (0.783 to 0.796; every seed lower, wine 0.89 to 0.32:
    the network stays near PCA's stationary point), and all units on the leading axes with
    biases of 2 standard deviations (the ReLU nearly linear) 0.778; rank-Gauss (quantile)
    column scaling fitted on the training part instead of the standard scaling 0.768 (with
    linear tails beyond the training range; 0.768 without, three seeds): much better on
    Cardiotocography and PageBlocks, much worse on breastw, WDBC, wine and donors. On images
    the tabular path's choices hurt: one-class MNIST-5k fell from 0.966 to about 0.90 with
    standardized pixels (low-variance border pixels then weigh as much as the strokes), to
    0.94 with the trimmed loss (its training data is clean) and to 0.90 with a code density
    beside an unnormalized error. Hence the ``"auto"`` rule, and the tied
    sigmoid/cross-entropy model for wide data in ``[0, 1]`` (MNIST-5k 0.966, 8×8 digits 0.993).
    ``save(path)`` writes the fitted detector to a safe model file; ``deepae.load(path)`` reads
    it back.

    The row scaling was measured on one-class MNIST-5k (``benchmarks/bench_vae.py``): with a
    Gaussian-decoder VAE scored by its ELBO (the benchmark's previous model, variance 0.01)
    the mean ROC-AUC rose from 0.959 to 0.969, with the blurred-residual decoder (variance
    0.001) from 0.971 to 0.987, and with the default VAE (Bernoulli decoder on raw pixels;
    Gaussian with learned variances on scaled rows) from 0.858 to 0.937 on the hardest
    digits 2, 5 and 8; hence ``"auto"`` for likelihood models. On the dense default model
    it lowered the ten digits' 0.966 to 0.960, and on the convolutional model (whose
    relative error already divides by the energy) it moved the weak digits 2, 4, 8 and 9
    from 0.969 to 0.973 and the ten digits from 0.981 to 0.982, within one seed's spread;
    ``"auto"`` leaves both unscaled. Adding
    the log-density of the row's norm under a Gaussian fitted to the training norms (so that
    a very faint image stays atypical) moved the VAEs' figures on digits 2, 5 and 8 by less
    than 0.001.

    The image-aware score was measured on one-class MNIST-5k (``benchmarks/bench_conv.py``;
    ``ConvolutionalAutoencoder((1, 28, 28), code_size=16, max_epochs=60,
    early_stopping=False)``, digits 2, 4, 8 and 9, the weakest): the plain squared error
    0.940 mean ROC-AUC; blurred by 0.5, 1, 1.5 and 2 pixels 0.946, 0.953, 0.951, 0.945;
    relative to ``‖z‖²`` without blur 0.959; both (1 pixel) 0.969 (1.5 pixels 0.965); an
    SSIM residual (7-pixel windows) 0.941; the code density beside the blurred error 0.953;
    per-pixel residual variances (as in the code density) 0.89 to 0.94. The outliers the
    plain error missed most were ``1``s, whose few pixels every model rebuilds. Over the ten
    digits the score rose from 0.963 to 0.981 (the model's seed 1: 0.962 to 0.981); dividing
    by ``‖z‖₁``, ``‖g(z)‖²`` or ``‖z‖² + ‖g(z)‖²`` instead, or adding the code density,
    moved it by at most 0.002. On the dense default model the relative error lowered
    one-class MNIST-5k from 0.966 to 0.941, so ``"auto"`` keeps it to image models.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from deepae import PCA
    >>> from deepae.outliers import ReconstructionOutlierDetector
    >>> X = load_digits().data / 16
    >>> detector = ReconstructionOutlierDetector(PCA(n_components=10)).fit(X)
    >>> int((detector.predict(X) == -1).sum())
    180
    """

    def __init__(self, model=None, contamination=0.1, scaling="auto", code_density="auto",
                 density_trim=DEFAULT_DENSITY_TRIM, residual_blur="auto",
                 relative_error="auto", n_models="auto", combine="median", random_state=0,
                 checkpoint=None):
        self.model = model
        self.contamination = contamination
        self.scaling = scaling
        self.code_density = code_density
        self.density_trim = density_trim
        self.residual_blur = residual_blur
        self.relative_error = relative_error
        self.n_models = n_models
        self.combine = combine
        self.random_state = random_state
        self.checkpoint = checkpoint

    @checkpointed
    def fit(self, X, y=None) -> "ReconstructionOutlierDetector":
        """Scale ``X``, fit a copy of the model on it, fit the code Gaussian, and set the
        threshold from the training scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (mostly normal samples); finite numbers.
        y : ignored

        Returns
        -------
        self : ReconstructionOutlierDetector
        """
        self._check_params()
        X = check_X(self, X, reset=True)
        tabular = is_tabular(X)
        scaling = self._resolved_scaling(tabular)
        if scaling == "standard":
            self.mean_, self.scale_ = column_scaling(X)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.row_norm_ = mean_row_norm(X) if scaling == "rows" else None
        Z = self._scaled(X)
        models = self._new_models(Z, tabular)
        density = self.code_density is True or (self.code_density == "auto" and tabular
                                                and not scores_by_likelihood(models[0]))
        self._fit_member(models[0], Z, density)
        self.ensemble_ = [clone(self).set_params(n_models=1)._fit_member(model, Z, density)
                          for model in models[1:]]
        self.decision_scores_ = self._outlier_scores(Z)
        all_scores = np.concatenate(distributed.gather_objects(self.decision_scores_))
        self.offset_ = float(np.percentile(-all_scores, 100.0 * self.contamination))
        self.threshold_ = -self.offset_
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _new_models(self, Z: np.ndarray, tabular: bool) -> list:
        """The unfitted models of the ensemble (``n_models``; one model without)."""
        n_models = self.n_models
        if n_models == "auto":
            n_models = TABULAR_MODELS if self.model is None and tabular else 1
        model = (default_model(Z, self.random_state, tabular) if self.model is None
                 else self.model)
        return [reseeded(model, i) for i in range(n_models)]

    def _fit_member(self, model, Z: np.ndarray, density: bool) -> "ReconstructionOutlierDetector":
        """Fit ``model`` on the scaled rows ``Z``, then the code density (with ``density``)
        and the image-score options: one model's part of the score."""
        self.n_features_in_ = Z.shape[1]
        self.model_ = model.fit(Z)
        images = image_shape_of(self.model_) is not None
        self.residual_blur_ = float(self.residual_blur if self.residual_blur != "auto"
                                    else IMAGE_RESIDUAL_BLUR if images else 0.0)
        self.residual_variance_ = self.code_mean_ = self.code_precision_ = None
        if density:
            self._fit_code_density(Z)
        self.relative_error_ = bool(self.relative_error is True or (
            self.relative_error == "auto" and images and not density))
        self.energy_floor_ = ENERGY_FLOOR * mean_energy(Z) if self.relative_error_ else None
        return self

    def _check_params(self) -> None:
        if isinstance(self.contamination, bool):
            raise TypeError("contamination must be a float in (0, 0.5], got a bool.")
        check_scalar(self.contamination, "contamination", numbers.Real, min_val=0,
                     max_val=0.5, include_boundaries="right")
        if isinstance(self.density_trim, bool):
            raise TypeError("density_trim must be a float in [0, 0.5), got a bool.")
        check_scalar(self.density_trim, "density_trim", numbers.Real, min_val=0, max_val=0.5,
                     include_boundaries="left")
        if self.scaling not in ("auto", "standard", "rows", None):
            raise ValueError(f"scaling must be 'auto', 'standard', 'rows' or None, got "
                             f"{self.scaling!r}.")
        if not (isinstance(self.n_models, str) and self.n_models == "auto"):
            if isinstance(self.n_models, bool):
                raise TypeError("n_models must be 'auto' or an int ≥ 1, got a bool.")
            check_scalar(self.n_models, "n_models", numbers.Integral, min_val=1)
        if self.combine not in ("median", "mean"):
            raise ValueError(f"combine must be 'median' or 'mean', got {self.combine!r}.")
        if not (self.code_density is True or self.code_density is False
                or isinstance(self.code_density, str) and self.code_density == "auto"):
            raise ValueError(f"code_density must be 'auto', True or False, got "
                             f"{self.code_density!r}.")
        model = self.model
        if model is not None and not (hasattr(model, "fit")
                                      and hasattr(model, "reconstruction_error")):
            raise TypeError(
                "model must be a deepae model with fit and reconstruction_error (PCA, "
                f"Autoencoder, ...), got {type(model).__name__}."
            )
        if self.code_density is True and scores_by_likelihood(model):
            raise ValueError(f"code_density=True needs a model scored by its reconstruction "
                             f"error; {type(model).__name__} is scored by its likelihood.")
        self._check_image_options(model)

    def _check_image_options(self, model) -> None:
        """Check ``residual_blur`` and ``relative_error`` against each other and the model."""
        if not (isinstance(self.residual_blur, str) and self.residual_blur == "auto"):
            if isinstance(self.residual_blur, bool):
                raise TypeError("residual_blur must be 'auto' or a float ≥ 0, got a bool.")
            check_scalar(self.residual_blur, "residual_blur", numbers.Real, min_val=0)
            if self.residual_blur > 0 and not hasattr(model, "image_shape"):
                raise ValueError(f"residual_blur={self.residual_blur} needs a model that reads "
                                 f"its rows as images (ConvolutionalAutoencoder), got "
                                 f"{type(model).__name__}.")
        if not (self.relative_error is True or self.relative_error is False
                or isinstance(self.relative_error, str) and self.relative_error == "auto"):
            raise ValueError(f"relative_error must be 'auto', True or False, got "
                             f"{self.relative_error!r}.")
        if self.relative_error is True and (self.code_density is True
                                            or scores_by_likelihood(model)):
            raise ValueError("relative_error=True needs a score by the reconstruction error "
                             "alone (no code density, no likelihood).")

    def _unscaled(self, Z: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Rows ``Z`` in the scaled units of the rows ``X`` back in ``X``'s units (the inverse
        of :meth:`_scaled`; the row scaling is undone with ``X``'s norms)."""
        if self.row_norm_ is not None:
            norms = np.linalg.norm((X - self.mean_) / self.scale_, axis=1, keepdims=True)
            Z = Z * (np.maximum(norms, row_norm_floor(self.row_norm_)) / self.row_norm_)
        return Z * self.scale_ + self.mean_

    def _resolved_scaling(self, tabular: bool) -> str | None:
        """``scaling`` with ``"auto"`` resolved for data that are ``tabular`` or not."""
        if self.scaling != "auto":
            return self.scaling
        if tabular:
            return "standard"
        bernoulli = getattr(self.model, "decoder", None) == "bernoulli"
        return "rows" if scores_by_likelihood(self.model) and not bernoulli else None

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        Z = ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)
        return Z if self.row_norm_ is None else scale_rows(Z, self.row_norm_)

    def _fit_code_density(self, Z: np.ndarray) -> None:
        """The per-feature residual variances and the Gaussian of the codes, over all ranks.

        Both are fitted twice: on all rows, then, when ``density_trim`` is positive, on the
        rows whose variance-weighted residual sum under the first fit is among the
        ``1 − density_trim`` smallest (at least two rows), so that the outliers hidden in
        the training data do not inflate them. A variance is at least 1e-6 of the mean
        column variance, so that a feature the model rebuilds exactly (a constant column)
        still gives finite scores."""
        residuals, codes = self._residuals_and_codes(Z, blurred=True)
        floor = 1e-6 * max(float(np.mean(np.var(Z, axis=0))), np.finfo(np.float32).tiny)
        variance = residual_means(residuals, floor)
        if self.density_trim > 0:
            kept = rows_kept(residuals @ (1 / variance), self.density_trim)
            residuals, codes = residuals[kept], codes[kept]
            variance = residual_means(residuals, floor)
        self.residual_variance_ = variance
        codes = np.concatenate(distributed.gather_objects(codes))
        gaussian = LedoitWolf().fit(np.asarray(codes, dtype=np.float64))
        self.code_mean_, self.code_precision_ = gaussian.location_, gaussian.precision_

    def _outlier_scores(self, Z: np.ndarray) -> np.ndarray:
        """Outlier scores (higher is more abnormal) of scaled rows: the median or mean
        (``combine``) of the ensemble's models' scores."""
        if not self.ensemble_:
            return self._model_scores(Z)
        scores = [member._model_scores(Z) for member in [self, *self.ensemble_]]
        return (np.median if self.combine == "median" else np.mean)(scores, axis=0)

    def _model_scores(self, Z: np.ndarray) -> np.ndarray:
        """This detector's own model's outlier scores of scaled rows."""
        if scores_by_likelihood(self.model_):
            return -self.model_.score_samples(Z)
        if self.code_mean_ is None and not (self.residual_blur_ or self.relative_error_):
            return self.model_.reconstruction_error(Z)
        residuals, codes = self._residuals_and_codes(Z, blurred=True)
        if self.code_mean_ is None:
            errors = residuals.sum(axis=1)
            if not self.relative_error_:
                return errors
            return errors / np.maximum(np.square(Z).sum(axis=1), self.energy_floor_)
        codes = np.asarray(codes, dtype=np.float64) - self.code_mean_
        distances = np.einsum("ij,jk,ik->i", codes, self.code_precision_, codes)
        return residuals @ (1 / self.residual_variance_) + distances

    def _residuals_and_codes(self, Z: np.ndarray, blurred: bool = False
                             ) -> tuple[np.ndarray, np.ndarray]:
        """Squared residuals ``(z − g(z))²`` and codes of scaled rows (one encoding pass);
        ``blurred``: the residuals smoothed by ``residual_blur_`` first."""
        codes = self.model_.transform(Z)
        residuals = Z - self.model_.inverse_transform(codes)
        if blurred and self.residual_blur_ > 0:
            import torch

            with torch.inference_mode():
                residuals = self._blur()(torch.from_numpy(residuals)).numpy()
        return np.square(residuals), codes

    def _blur(self):
        """The :class:`deepae.blur.GaussianBlur` of the residuals."""
        from .blur import GaussianBlur

        return GaussianBlur(image_shape_of(self.model_), self.residual_blur_)

    def _check_loaded_state(self) -> None:
        """Raise a ValueError unless the model and the scaling read as many features as the
        detector, and the blur is no wider than the model's images, so that scoring stays
        bounded (:func:`deepae.load` calls it). Files written before ``scaling="rows"``,
        ``residual_blur`` and ``relative_error`` existed scored the plain error of rows
        scaled by columns or not at all, and still do."""
        for name, before in EARLIER_STATE.items():
            if not hasattr(self, name):
                setattr(self, name, before)
        if not hasattr(self, "ensemble_"):
            self.ensemble_ = []
        n = self.n_features_in_
        n_model = getattr(getattr(self, "model_", None), "n_features_in_", None)
        if n_model is not None and n_model != n:
            raise ValueError(f"model_ reads {n_model} features, the detector {n}")
        for name in ("mean_", "scale_", "residual_variance_"):
            value = getattr(self, name, None)
            if value is not None and np.shape(value) != (n,):
                raise ValueError(f"{name} has shape {np.shape(value)}, the detector reads {n} "
                                 "features")
        if self.row_norm_ is not None and not (isinstance(self.row_norm_, numbers.Real)
                                               and 0 <= self.row_norm_ < np.inf):
            raise ValueError(f"row_norm_={self.row_norm_!r} is not a finite norm ≥ 0")
        image_shape = image_shape_of(getattr(self, "model_", None))
        widest = 0 if image_shape is None else max(image_shape[1:])
        if not 0 <= self.residual_blur_ <= widest:
            raise ValueError(f"residual_blur_={self.residual_blur_} is not a blur of the model's "
                             f"images (0 to {widest} pixels)")

    def reconstruction_error(self, X, per_feature: bool = False) -> np.ndarray:
        """Squared reconstruction errors of the rows of ``X``, in the scaled units.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        per_feature : bool, default=False
            Return the squared residuals ``(z − g(z))²`` of each feature (which pixels or
            columns make a sample atypical) instead of their per-sample sums.

        Returns
        -------
        errors : ndarray of shape (n_samples,) or (n_samples, n_features)
        """
        check_is_fitted(self, "model_")
        Z = self._scaled(check_X(self, X, reset=False))
        if not per_feature:
            return self.model_.reconstruction_error(Z)
        return self._residuals_and_codes(Z)[0]

    def _export_module(self):
        """The torch module of ONNX export: ``score_samples`` and ``decision_function``,
        computed as :meth:`score_samples` does (scaling, each model's ``_coder()``, the code
        density; or the model's ``_likelihood_module()``; the median or mean over an
        ensemble's models); ``export_onnx`` needs only this hook."""
        import torch

        from .export import DetectorOutputs, EnsembleScore, RowScaling

        check_is_fitted(self, "model_")
        floor = 0.0 if self.row_norm_ is None else row_norm_floor(self.row_norm_)
        scaling = RowScaling(*(torch.tensor(a, dtype=torch.float32)
                               for a in (self.mean_, self.scale_)), self.row_norm_, floor)
        scores = [member._score_module(scaling) for member in [self, *self.ensemble_]]
        if len(scores) > 1:
            return DetectorOutputs(EnsembleScore(scores, self.combine), self.offset_)
        return DetectorOutputs(scores[0], self.offset_)

    def _score_module(self, scaling):
        """The torch module of this detector's own model's outlier score of rows scaled by
        ``scaling`` (a :class:`deepae.export.RowScaling`)."""
        import torch

        from .export import DetectorScore, LikelihoodScore

        if scores_by_likelihood(self.model_):
            return LikelihoodScore(self.model_._likelihood_module(), scaling)
        density = [None if a is None else torch.tensor(np.asarray(a), dtype=torch.float32)
                   for a in (self.residual_variance_, self.code_mean_, self.code_precision_)]
        blur = self._blur() if self.residual_blur_ > 0 else None
        return DetectorScore(self.model_._coder(), scaling, *density, blur=blur,
                             energy_floor=self.energy_floor_)

    def score_samples(self, X) -> np.ndarray:
        """Minus the outlier score: higher means more normal."""
        check_is_fitted(self, "model_")
        return -self._outlier_scores(self._scaled(check_X(self, X, reset=False)))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) − offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers and -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)
