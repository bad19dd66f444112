"""The reconstruction-error outlier detector: scikit-learn's and PyOD's detector face.

:class:`ReconstructionOutlierDetector` scales the data, fits a model (or an ensemble of
them), and scores each row by how poorly the model rebuilds it, with an optional density of
the model's codes; the threshold comes from ``contamination``.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from .. import distributed
from .._base import resolve_device
from .._validation import check_X
from ..checkpoint import checkpointed
from ..persistence import SaveMixin
from ..tabular.estimators import encoded_inputs, table_errors
from ..tabular.frames import as_frame, is_table
from .combine import combined_terms, fit_term_scaling
from .data_kind import is_tabular
from .default_model import (
    TABLE_MODELS,
    TABULAR_MODELS,
    TABULAR_NEIGHBORS,
    default_model,
    reseeded,
)
from .density import DEFAULT_DENSITY_TRIM, fit_code_density
from .named_models import MODEL_NAMES, named_model, resolved_model
from .neighbors import neighbor_distances
from .scaling import (
    ENERGY_FLOOR,
    column_scaling,
    mean_energy,
    mean_row_norm,
    row_norm_floor,
    scale_rows,
)

#: The ``"auto"`` blur (standard deviation in pixels) of the residuals of an image model.
IMAGE_RESIDUAL_BLUR = 1.0
#: What a categorical column's cross-entropy is divided by in the score of a table (not its
#: training mean, as a numeric column's squared error is): ``2 · CE`` is the column's
#: deviance, on the scale of a numeric column's ``error² / variance``.
CATEGORY_VARIANCE = 0.5
#: The fitted state of a detector written before these attributes existed: no row scaling,
#: the plain squared error.
EARLIER_STATE = {"row_norm_": None, "residual_blur_": 0.0, "relative_error_": False,
                 "energy_floor_": None, "n_neighbors_": 0, "neighbor_rows_": None,
                 "term_center_": None, "term_scale_": None, "table_": False}


def image_shape_of(model) -> tuple[int, int, int] | None:
    """The ``(channels, height, width)`` a fitted model reads its rows as (the
    :class:`deepae.ConvolutionalAutoencoder`'s ``image_shape_``), or None."""
    return getattr(model, "image_shape_", None)


def scores_by_likelihood(model) -> bool:
    """Whether the detector scores ``model`` by its log-likelihood estimate (a density model,
    such as :class:`deepae.VariationalAutoencoder`, which gives an exportable one through
    ``_likelihood_module``) rather than by its reconstruction error."""
    return hasattr(model, "_likelihood_module")


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
    With ``n_neighbors`` (tabular data with the default model) the score also sees local
    density: each of the two terms — the models' score and the distance from the scaled row
    to its ``n_neighbors``-th nearest scaled training row (an exact search, in chunks, on the
    model's device) — is robustly standardized on the training rows (median, interquartile
    range; :mod:`deepae.outliers.combine`), and the score is the larger of the two: a row
    off the data's manifold or in a sparse region between dense ones.

    Parameters
    ----------
    model : estimator, {"vae", "conv"} or None, default=None
        Any deepae model with ``reconstruction_error`` (``PCA``, ``LinearAutoencoder``,
        ``Autoencoder``, ``DenoisingAutoencoder``, ``StackedAutoencoder``,
        ``ConvolutionalAutoencoder``, ``VariationalAutoencoder``); it is cloned at
        fit. On flattened images the copy's ``"auto"`` options get the values measured
        best for scoring (:mod:`deepae.outliers.named_models`: the pixel grid found, and a
        VAE's blurred Gaussian decoder and training length); options set by the user are
        kept. ``"vae"`` and ``"conv"`` name ``VariationalAutoencoder`` and
        ``ConvolutionalAutoencoder`` with their defaults and the seed ``random_state``.
        ``None`` uses :func:`default_model`.
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
        ``"auto"``: :data:`TABULAR_MODELS` (5) for the default model on tabular data
        (:data:`TABLE_MODELS`, 1, on a table with strings or missing cells), else 1.
    combine : {"median", "mean"}, default="median"
        How the models' scores are combined into a sample's score (with ``n_models`` above
        1): the median is not moved by one model that has learned a set badly.
    n_neighbors : int or "auto", default="auto"
        The neighbour term's ``k`` (``0``: none; with fewer training rows, one less than
        their number). ``"auto"``: :data:`TABULAR_NEIGHBORS` (5) for the default model on
        tabular data, else 0. Measured on held-out folds of ADBench's sets: a tie there,
        kept for local anomalies (see the notes).
        The terms' scaling is fitted with each training row left out of its own
        neighbours; the training scores (``decision_scores_``, ``offset_``) are those
        :meth:`score_samples` gives the training rows (each its own nearest neighbour).
    random_state : int or None, default=0
        Seed of the default or named model (a given model keeps its own), and of the
        first model of an ensemble. On ADBench's classical sets the default's mean ROC-AUC
        is 0.818 to 0.822 over seeds 0 to 5 (a single model's 0.813 to 0.826; see the
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
    n_neighbors_ : int
        The neighbour term's ``k`` (``"auto"`` resolved; 0 for none).
    neighbor_rows_ : ndarray of shape (n_train, n_features) or None
        The scaled training rows of all ranks (float32) that the neighbours are searched in.
    term_center_, term_scale_ : ndarray of shape (2,) or None
        Median and interquartile range, on the training rows, of the two score terms (the
        models' score, the neighbour distance).
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
    Every default was chosen by measurement on ADBench's classical tabular sets and on
    one-class MNIST-5k; the tables of what was tried and kept or rejected are in
    ``benchmarks/results.md`` (section "The outlier detector's design notes").
    ``save(path)`` writes the fitted detector to a safe model file; ``deepae.load(path)``
    reads it back.

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
                 relative_error="auto", n_models="auto", combine="median",
                 n_neighbors="auto", random_state=0,
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
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.checkpoint = checkpoint

    @checkpointed
    def fit(self, X, y=None) -> "ReconstructionOutlierDetector":
        """Scale ``X``, fit a copy of the model on it, fit the code Gaussian, and set the
        threshold from the training scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a table
            Training data (mostly normal samples): finite numbers, or a table with strings,
            booleans or missing cells (a pandas DataFrame, a 2-D object array; see
            :mod:`deepae.tabular`), which the model (an :class:`deepae.Autoencoder`; the
            default one) encodes by column type and rebuilds with a loss per column type.
            A table's score weighs each numeric column's squared error by its training mean,
            as for numbers, and each categorical column's cross-entropy as its deviance
            (``2 · CE``, :data:`CATEGORY_VARIANCE`); ``reconstruction_error(X,
            per_feature=True)`` gives one loss per original column.
        y : ignored

        Returns
        -------
        self : ReconstructionOutlierDetector
        """
        self._check_params()
        self.table_ = is_table(X)
        if self.table_:
            Z = self._table(X, reset=True)
            tabular, self.mean_, self.scale_, self.row_norm_ = True, None, None, None
        else:
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
        self.decision_scores_ = self._fit_neighbors(Z, tabular)
        all_scores = np.concatenate(distributed.gather_objects(self.decision_scores_))
        self.offset_ = float(np.percentile(-all_scores, 100.0 * self.contamination))
        self.threshold_ = -self.offset_
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _table(self, X, reset: bool):
        """The table ``X`` as a DataFrame (its columns set as the features with ``reset``,
        checked against them otherwise); the model encodes it."""
        frame = as_frame(X, None if reset else getattr(self, "feature_names_in_", None))
        columns = np.asarray([str(c) for c in frame.columns], dtype=object)
        if reset:
            self.n_features_in_, self.feature_names_in_ = len(columns), columns
        elif set(self.feature_names_in_) - set(columns):
            raise ValueError(f"The table lacks the training columns "
                             f"{sorted(set(self.feature_names_in_) - set(columns))}.")
        return frame

    def _input(self, X):
        """The rows the models read: a table as it is (their encoders scale it), numbers
        validated and scaled."""
        if self.table_:
            return self._table(X, reset=False)
        return self._scaled(check_X(self, X, reset=False))

    def _new_models(self, Z: np.ndarray, tabular: bool) -> list:
        """The unfitted models of the ensemble (``n_models``; one model without)."""
        n_models = self.n_models
        if n_models == "auto":
            n_models = ((TABLE_MODELS if self.table_ else TABULAR_MODELS)
                        if self.model is None and tabular else 1)
        model = (default_model(Z, self.random_state, tabular) if self.model is None
                 else resolved_model(self._given_model(), Z, tabular))
        return [reseeded(model, i) for i in range(n_models)]

    def _given_model(self):
        """``model``, a name resolved to its unfitted model (:func:`named_model`)."""
        if isinstance(self.model, str):
            return named_model(self.model, self.random_state)
        return self.model

    def _fit_neighbors(self, Z: np.ndarray, tabular: bool) -> np.ndarray:
        """Store all ranks' scaled training rows for the neighbour term (``n_neighbors``),
        fit the scaling of the score terms on the training rows (each left out of its own
        neighbours), and return the training rows' outlier scores (each its own nearest
        neighbour, as :meth:`score_samples` scores them)."""
        n_neighbors = self.n_neighbors
        if n_neighbors == "auto":
            n_neighbors = (TABULAR_NEIGHBORS if self.model is None and tabular
                           and not self.table_ else 0)
        self.neighbor_rows_ = self.term_center_ = self.term_scale_ = None
        numbers = self._neighbor_input(Z)
        rows = (np.concatenate(distributed.gather_objects(np.asarray(numbers, np.float32)))
                if n_neighbors else numbers)
        self.n_neighbors_ = max(0, min(int(n_neighbors), len(rows) - 1))
        if not self.n_neighbors_:
            return self._models_scores(Z)
        self.neighbor_rows_ = rows
        k = self.n_neighbors_
        models = self._models_scores(Z)
        distances = neighbor_distances(numbers, rows, k + 1, self._device())
        self.term_center_, self.term_scale_ = fit_term_scaling(
            np.column_stack([models, distances[:, k]]))
        return combined_terms(np.column_stack([models, distances[:, k - 1]]),
                              self.term_center_, self.term_scale_)

    def _fit_member(self, model, Z: np.ndarray, density: bool) -> "ReconstructionOutlierDetector":
        """Fit ``model`` on the scaled rows ``Z``, then the code density (with ``density``)
        and the image-score options: one model's part of the score."""
        self.n_features_in_ = Z.shape[1]
        self.table_ = not isinstance(Z, np.ndarray)  # a DataFrame, which the model encodes
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
        if not (isinstance(self.n_neighbors, str) and self.n_neighbors == "auto"):
            if isinstance(self.n_neighbors, bool):
                raise TypeError("n_neighbors must be 'auto' or an int ≥ 0, got a bool.")
            check_scalar(self.n_neighbors, "n_neighbors", numbers.Integral, min_val=0)
        if self.combine not in ("median", "mean"):
            raise ValueError(f"combine must be 'median' or 'mean', got {self.combine!r}.")
        if not (self.code_density is True or self.code_density is False
                or isinstance(self.code_density, str) and self.code_density == "auto"):
            raise ValueError(f"code_density must be 'auto', True or False, got "
                             f"{self.code_density!r}.")
        if isinstance(self.model, str) and self.model not in MODEL_NAMES:
            raise ValueError(f"model must be a deepae model, one of the names "
                             f"{', '.join(map(repr, MODEL_NAMES))} or None, got {self.model!r}.")
        model = self._given_model()
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
        model = self._given_model()
        bernoulli = getattr(model, "decoder", None) == "bernoulli"
        return "rows" if scores_by_likelihood(model) and not bernoulli else None

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        Z = ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)
        return Z if self.row_norm_ is None else scale_rows(Z, self.row_norm_)

    def _fit_code_density(self, Z: np.ndarray) -> None:
        """The residual variances and the code Gaussian of :func:`fit_code_density` on the
        scaled rows ``Z`` (variances at least 1e-6 of the mean column variance)."""
        residuals, codes = self._residuals_and_codes(Z, blurred=True)
        spread = np.mean(residuals) if self.table_ else np.mean(np.var(Z, axis=0))
        floor = 1e-6 * max(float(spread), np.finfo(np.float32).tiny)
        self.residual_variance_, self.code_mean_, self.code_precision_ = fit_code_density(
            residuals, codes, floor, self.density_trim)
        if self.table_:
            categorical = np.asarray(self.model_.encoder_.kinds_) == "categorical"
            self.residual_variance_[categorical] = CATEGORY_VARIANCE

    def _outlier_scores(self, Z: np.ndarray) -> np.ndarray:
        """Outlier scores (higher is more abnormal) of scaled rows: the models' score, or,
        with a neighbour term, the larger of the standardized terms (:meth:`_score_terms`)."""
        if self.neighbor_rows_ is None:
            return self._models_scores(Z)
        return combined_terms(self._score_terms(Z), self.term_center_, self.term_scale_)

    def _score_terms(self, Z: np.ndarray) -> np.ndarray:
        """The score terms of scaled rows, one column each: the models' score and the
        distance to the ``n_neighbors_``-th nearest training row."""
        distances = neighbor_distances(self._neighbor_input(Z), self.neighbor_rows_,
                                       self.n_neighbors_, self._device())
        return np.column_stack([self._models_scores(Z), distances[:, -1]])

    def _neighbor_input(self, Z) -> np.ndarray:
        """The rows the neighbour term compares: a table as the first model encodes it,
        scaled numbers as they are."""
        return encoded_inputs(self.model_, Z) if self.table_ else Z

    def _device(self):
        """The torch device of the neighbour search: the model's (the CPU for a model
        without one)."""
        return resolve_device(getattr(self.model_, "device", "cpu"))

    def _models_scores(self, Z: np.ndarray) -> np.ndarray:
        """The median or mean (``combine``) of the ensemble's models' scores of scaled rows."""
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
        ``blurred``: the residuals smoothed by ``residual_blur_`` first. Of a table: its
        reconstruction losses per column type, one per original column."""
        if self.table_:
            return table_errors(self.model_, Z)
        codes = self.model_.transform(Z)
        residuals = Z - self.model_.inverse_transform(codes)
        if blurred and self.residual_blur_ > 0:
            import torch

            with torch.inference_mode():
                residuals = self._blur()(torch.from_numpy(residuals)).numpy()
        return np.square(residuals), codes

    def _blur(self):
        """The :class:`deepae.blur.GaussianBlur` of the residuals."""
        from ..blur import GaussianBlur

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
        if self.neighbor_rows_ is not None and (
                np.ndim(self.neighbor_rows_) != 2 or np.shape(self.neighbor_rows_)[1] != n
                or not 0 < self.n_neighbors_ <= len(self.neighbor_rows_)
                or np.shape(self.term_center_) != (2,) or np.shape(self.term_scale_) != (2,)):
            raise ValueError("the neighbour term's rows, n_neighbors_ or term scaling do not "
                             "match the detector")
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
        Z = self._input(X)
        if not per_feature:
            return self.model_.reconstruction_error(Z)
        return self._residuals_and_codes(Z)[0]

    def _export_module(self):
        """The torch module of ONNX export: ``score_samples`` and ``decision_function``,
        computed as :meth:`score_samples` does (scaling, each model's ``_coder()``, the code
        density; or the model's ``_likelihood_module()``; the median or mean over an
        ensemble's models; the neighbour term over the stored rows, unchunked);
        ``export_onnx`` needs only this hook."""
        import torch

        from ..export import DetectorOutputs, EnsembleScore, NeighborTermScore, RowScaling

        check_is_fitted(self, "model_")
        floor = 0.0 if self.row_norm_ is None else row_norm_floor(self.row_norm_)
        scaling = RowScaling(*(torch.tensor(a, dtype=torch.float32)
                               for a in (self.mean_, self.scale_)), self.row_norm_, floor)
        scores = [member._score_module(scaling) for member in [self, *self.ensemble_]]
        score = EnsembleScore(scores, self.combine) if len(scores) > 1 else scores[0]
        if self.neighbor_rows_ is not None:
            rows, center, scale = (torch.tensor(np.asarray(a), dtype=torch.float32) for a in (
                self.neighbor_rows_, self.term_center_, self.term_scale_))
            score = NeighborTermScore(score, scaling, rows, self.n_neighbors_, center, scale)
        return DetectorOutputs(score, self.offset_)

    def _score_module(self, scaling):
        """The torch module of this detector's own model's outlier score of rows scaled by
        ``scaling`` (a :class:`deepae.export.RowScaling`)."""
        import torch

        from ..export import DetectorScore, LikelihoodScore

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
        return -self._outlier_scores(self._input(X))

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) − offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers and -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # tables (deepae.tabular)
        return tags
