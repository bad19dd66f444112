"""The time-series outlier detector: one score per time step, scikit-learn's and PyOD's face.

:class:`TimeSeriesOutlierDetector` scales each channel, cuts the series into sliding windows,
fits a window model on them, and scores each window by how far it lies from the training
windows: its reconstruction error (each channel's error relative to its error on the
training windows) plus the distance of its code to the nearest training windows' codes; the
window scores are mapped back to steps (:mod:`.windows`).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin, clone
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from .. import distributed
from ..linear import PCA
from ..outliers.scaling import column_scaling
from ..persistence import SaveMixin
from .neighbors import nearest_distances
from .period import estimate_period
from .series import as_series, as_series_list
from .windows import sliding_windows, step_scores

#: The variance the default window model (PCA) keeps.
DEFAULT_VARIANCE = 0.9
#: How ``channel_error`` combines the channels' relative errors.
CHANNEL_REDUCTIONS = {"max": np.max, "mean": np.mean, "sum": np.sum}
#: Smallest channel error scale, as a fraction of the channels' mean scale.
SCALE_FLOOR = 0.01


def default_model() -> PCA:
    """The window model ``model=None`` fits: PCA keeping :data:`DEFAULT_VARIANCE` of the
    variance of the (scaled) training windows."""
    return PCA(n_components=DEFAULT_VARIANCE)


def channel_scaling(X: np.ndarray, indicators: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of each channel over all ranks' steps: the standard deviation (1 for a
    constant channel), or with ``indicators="range"`` for a channel that takes exactly two
    values (an on/off flag) the gap between them."""
    mean, scale = column_scaling(X)
    if indicators == "standard":
        return mean, scale
    low = distributed.all_reduce(X.min(0), "min")
    high = distributed.all_reduce(X.max(0), "max")
    between = distributed.all_reduce(((X != low) & (X != high)).sum(0))
    return mean, np.where((high > low) & (between == 0), high - low, scale)


def spaced_indices(n: int, limit: int) -> np.ndarray:
    """Up to ``limit`` indices evenly spaced over ``range(n)``, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(limit, n)).astype(int))


def evenly_spaced(windows: list[np.ndarray], limit: int) -> np.ndarray:
    """Up to ``limit`` rows evenly spaced over the windows of all series of all ranks, this
    rank's in order (the windows are never all copied)."""
    return np.concatenate([w[keep] for w, keep in zip(windows, spaced_rows(windows, limit),
                                                      strict=True)])


def spaced_rows(windows: list[np.ndarray], limit: int) -> list[np.ndarray]:
    """For each of this rank's series, the indices of its windows among ``limit`` evenly
    spaced over the windows of all ranks' series (in rank order)."""
    counts = [len(w) for w in windows]
    before = sum(sum(c) for c in distributed.gather_objects(counts)[:distributed.rank()])
    total = int(distributed.all_reduce(np.array([sum(counts)]))[0])
    keep = spaced_indices(total, limit)
    starts = before + np.cumsum([0] + counts)
    return [keep[(keep >= a) & (keep < b)] - a for a, b in zip(starts[:-1], starts[1:],
                                                                 strict=True)]


class TimeSeriesOutlierDetector(SaveMixin, OutlierMixin, BaseEstimator):
    """Outlier detector for time series: one score per time step.

    Each channel is standardized with its mean and standard deviation on the training series (a
    constant channel is only centered: any change from its training value counts; an on/off
    channel is scaled by the gap between its two values, see ``indicators``). The series is cut
    into windows of ``window`` steps (every start step); a copy of ``model`` is fitted on the
    training windows. A window ``x`` scores ``sqrt(e(x) + d(x)²)``: ``e`` the model's squared
    reconstruction error, combined over channels by ``channel_error``, and ``d²`` the mean squared
    distance of its code to the ``n_neighbors`` nearest codes of up to ``max_references`` training
    windows (evenly spaced). The model is fitted on up to ``max_windows`` training windows, evenly
    spaced: wide windows (many channels times a long period) make every extra window costly, and
    neighbouring windows overlap almost entirely. For PCA the score approximates the distance of the
    window to its nearest training windows, cheaply: off the subspace by the residual, along it by
    the codes. A step scores the mean of the windows holding it, or with ``causal`` the score of the
    window ending at it (:mod:`deepae.timeseries.windows`). ``score_samples`` is minus the score;
    the threshold leaves a fraction ``contamination`` of the training steps below it (their windows
    scored against references from elsewhere in the training series). See ``benchmarks/results.md``
    (time series) for what was measured.

    Parameters
    ----------
    model : estimator or None, default=None
        A deepae model of windows with ``transform`` and ``inverse_transform`` (``PCA``,
        ``Autoencoder``, ``ConvolutionalSequenceAutoencoder``,
        ``RecurrentSequenceAutoencoder``); cloned at fit. ``None``: PCA keeping 90% of the
        variance.
    window : int or "auto", default="auto"
        Window length in steps. ``"auto"``: the period of the first channel of the training
        series (:func:`deepae.timeseries.estimate_period`). Either way at most a quarter of
        the training steps (at least 1).
    channel_error : {"max", "mean", "sum"}, default="mean"
        How the channels' squared reconstruction errors make ``e``. ``"sum"``: their sum.
        ``"max"``, ``"mean"``: each channel's error is first divided by its mean over the
        training windows (at least a hundredth of the channels' mean), so that channels of
        different nature (a measurement beside rarely switching flags) weigh alike; the
        maximum or mean over channels is then rescaled so that the training windows' mean
        ``e`` is that of ``"sum"``. One channel: the three are the same. ``"mean"`` with
        ``indicators="range"`` beat the others on both halves of the shared series
        (``benchmarks/results.md``, time series).
    indicators : {"range", "standard"}, default="range"
        How a channel that takes exactly two values on the training series (an on/off flag)
        is scaled: by the gap between them (a switch moves it by 1), or standardized like
        the others (a flag on 0.1% of the steps then jumps by 30 when it switches).
    n_neighbors : int, default=1
        Nearest training codes the distance is averaged over; ``0`` scores by the
        reconstruction error alone. ``1`` and ``window="auto"`` were kept against ``0``,
        ``5`` and a window of 40 on half of the shared series (``benchmarks/results.md``).
    max_references : int, default=2000
        Most training windows kept as neighbours (evenly spaced over the training series).
    max_windows : int, default=2000
        Most training windows the model is fitted on (evenly spaced over the training
        series); every training window is still scored. The default cuts the shared series'
        fit time without lowering their VUS-PR (``benchmarks/results.md``, time series).
    causal : bool, default=False
        Score each step from that step and the ones before only (a live stream). The first
        ``window_ - 1`` steps of a series are then scored from windows padded with copies of
        its first step, and may score high: feed a stream some context first.
    contamination : float, default=0.1
        Expected fraction of anomalous steps in the training series, in ``(0, 0.5]``; it sets
        ``offset_`` (and so :meth:`predict`), not the scores.

    Attributes
    ----------
    model_ : estimator
        The fitted window model.
    window_ : int
        The window length used.
    mean_, scale_ : ndarray of shape (n_channels,)
        Per-channel standardization.
    channel_scale_ : ndarray of shape (n_channels,)
        What each channel's window error is divided by (ones for ``"sum"``).
    error_factor_ : float
        What the combined channel errors are multiplied by.
    references_ : ndarray of shape (n_references, n_codes)
        Codes of the reference windows.
    decision_scores_ : ndarray of shape (n_training_steps,)
        Score of each training step (all training series, concatenated).
    threshold_, offset_ : float
        Score above which a step is an outlier; ``offset_ = -threshold_``.
    labels_ : ndarray of shape (n_training_steps,)
        1 for the training steps above the threshold, else 0.
    n_features_in_ : int
        Number of channels.

    Examples
    --------
    >>> import numpy as np
    >>> from deepae import TimeSeriesOutlierDetector
    >>> t = np.arange(2000)
    >>> series = np.sin(2 * np.pi * t / 50)
    >>> detector = TimeSeriesOutlierDetector().fit(series[:1000])
    >>> test = series[1000:].copy()
    >>> test[500] += 3
    >>> int(np.argmin(detector.score_samples(test)))  # doctest: +SKIP
    500
    """

    def __init__(self, model=None, window="auto", channel_error="mean", indicators="range",
                 n_neighbors=1, max_references=2000, max_windows=2000, causal=False,
                 contamination=0.1):
        self.model = model
        self.window = window
        self.channel_error = channel_error
        self.indicators = indicators
        self.n_neighbors = n_neighbors
        self.max_references = max_references
        self.max_windows = max_windows
        self.causal = causal
        self.contamination = contamination

    def _check_params(self) -> None:
        if self.window != "auto":
            check_scalar(self.window, "window", numbers.Integral, min_val=1)
        if self.indicators not in ("range", "standard"):
            raise ValueError("indicators must be 'range' or 'standard', got "
                             f"{self.indicators!r}.")
        if self.channel_error not in CHANNEL_REDUCTIONS:
            raise ValueError(f"channel_error must be one of {sorted(CHANNEL_REDUCTIONS)}, "
                             f"got {self.channel_error!r}.")
        check_scalar(self.n_neighbors, "n_neighbors", numbers.Integral, min_val=0)
        check_scalar(self.max_references, "max_references", numbers.Integral, min_val=1)
        check_scalar(self.max_windows, "max_windows", numbers.Integral, min_val=1)
        check_scalar(self.contamination, "contamination", numbers.Real, min_val=0.0,
                     max_val=0.5, include_boundaries="right")

    def fit(self, X, y=None):
        """Fit on one series (``(n_steps,)`` or ``(n_steps, n_channels)``, array or pandas) or
        a list of series with the same channels. Under ``torchrun`` each rank passes its own
        series (a fleet split over processes): the scaling, the window, the model, the
        reference windows and the threshold are those of all ranks' series in rank order,
        as one process fitting them all would find them."""
        self._check_params()
        series = as_series_list(X)
        self.n_features_in_ = series[0].shape[1]
        self.mean_, self.scale_ = channel_scaling(np.concatenate(series), self.indicators)
        scaled = [self._scaled(s) for s in series]
        n_steps = int(distributed.all_reduce(np.array([sum(len(s) for s in scaled)]))[0])
        window = self.window
        if window == "auto":  # from the first series of rank 0
            window = distributed.gather_objects(estimate_period(scaled[0][:, 0]))[0]
        self.window_ = int(max(min(window, n_steps // 4), 1))
        windows = [sliding_windows(s, self.window_) for s in scaled]
        self._first_series = sum(distributed.gather_objects(len(series))[:distributed.rank()])
        model = default_model() if self.model is None else clone(self.model)
        if "n_channels" in model.get_params():
            model.set_params(n_channels=self.n_features_in_)
        self.model_ = model.fit(evenly_spaced(windows, self.max_windows))
        self._fit_references(windows)
        parts = [self._window_parts(w, self._positions(len(w), i))
                 for i, w in enumerate(windows)]
        self._fit_channel_scale(np.concatenate([errors for errors, _ in parts]))
        self.decision_scores_ = np.concatenate(
            [step_scores(self._combined(*p), len(s), self.window_)
             for p, s in zip(parts, scaled, strict=True)])
        all_scores = np.concatenate(distributed.gather_objects(self.decision_scores_))
        self.threshold_ = float(np.quantile(all_scores, 1 - self.contamination))
        self.offset_ = -self.threshold_
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _check_loaded_state(self) -> None:
        """A file written before ``channel_error`` and ``indicators`` existed (no
        ``channel_scale_``) summed the channels' errors: it is read with ``"sum"`` and ones,
        so that it scores as it did (:func:`deepae.load` calls this)."""
        if not hasattr(self, "channel_scale_"):
            self.set_params(channel_error="sum", indicators="standard")
            self.channel_scale_ = np.ones(self.n_features_in_)
            self.error_factor_ = 1.0

    def _scaled(self, series: np.ndarray) -> np.ndarray:
        return ((series - self.mean_) / self.scale_).astype(np.float32)

    def _positions(self, n_windows: int, series_index: int) -> np.ndarray:
        """Positions of the windows of this rank's series ``series_index`` among those of
        all ranks' training series, far apart between series."""
        return (np.arange(n_windows)
                + (self._first_series + series_index) * (self._span + 2 * self.window_))

    def _fit_references(self, windows: list[np.ndarray]) -> None:
        """The codes and positions of up to ``max_references`` training windows evenly
        spaced over all ranks' series (every rank holds all of them)."""
        self._span = int(distributed.all_reduce(np.array([max(len(w) for w in windows)]),
                                                "max")[0])
        keep = spaced_rows(windows, self.max_references)
        codes = self.model_.transform(np.concatenate([w[k] for w, k in zip(windows, keep,
                                                                           strict=True)]))
        positions = np.concatenate([self._positions(len(w), i)[k]
                                    for i, (w, k) in enumerate(zip(windows, keep, strict=True))])
        self.references_ = np.concatenate(
            distributed.gather_objects(codes.astype(np.float32)))
        self.reference_positions_ = np.concatenate(distributed.gather_objects(positions))

    def _window_parts(self, windows: np.ndarray, positions=None):
        """Each window's squared reconstruction error per channel (``(n_windows,
        n_channels)``) and the distance of its code to its nearest references (with
        positions, each training window's own stretch left out)."""
        codes = self.model_.transform(windows)
        rebuilt = self.model_.inverse_transform(codes)
        errors = np.square(windows - rebuilt, dtype=np.float64).reshape(
            len(windows), self.n_features_in_, self.window_).sum(2)
        if self.n_neighbors == 0:
            return errors, np.zeros(len(windows))
        codes = codes.astype(np.float32, copy=False)
        distance = nearest_distances(codes, self.references_, self.n_neighbors, positions,
                                     self.reference_positions_, self.window_)
        return errors, np.nan_to_num(distance)

    def _fit_channel_scale(self, errors: np.ndarray) -> None:
        """``channel_scale_`` and ``error_factor_`` from the training windows' errors (over
        all ranks' windows)."""
        n_windows = distributed.all_reduce(np.array([len(errors)]))[0]
        scale = distributed.all_reduce(errors.sum(0)) / n_windows
        if self.channel_error == "sum" or scale.mean() == 0:
            scale = np.ones_like(scale)
        self.channel_scale_ = np.maximum(scale, SCALE_FLOOR * scale.mean())
        self.error_factor_ = 1.0
        total, combined = distributed.all_reduce(
            np.array([errors.sum(), self._channel_error(errors).sum()]))
        if combined > 0:
            self.error_factor_ = float(total / combined)

    def _channel_error(self, errors: np.ndarray) -> np.ndarray:
        """``e`` of each window from its per-channel errors."""
        reduce = CHANNEL_REDUCTIONS[self.channel_error]
        return reduce(errors / self.channel_scale_, axis=1) * self.error_factor_

    def _combined(self, errors: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Window scores from per-channel errors and code distances."""
        return np.sqrt(self._channel_error(errors) + np.square(distance))

    def _window_scores(self, windows: np.ndarray) -> np.ndarray:
        return self._combined(*self._window_parts(windows))

    def score_windows(self, windows) -> np.ndarray:
        """The score of each flat window of raw values (``(n_windows, n_channels ×
        window_)``, channel by channel, as :func:`sliding_windows` cuts them); ``export_onnx``
        writes this scorer as the graph's output ``score_windows``."""
        check_is_fitted(self, "model_")
        windows = np.asarray(windows, dtype=np.float64).reshape(
            len(windows), self.n_features_in_, self.window_)
        scaled = (windows - self.mean_[:, None]) / self.scale_[:, None]
        return self._window_scores(scaled.reshape(len(windows), -1).astype(np.float32))

    def _export_module(self):
        import torch

        from ..export import WindowScore

        mean, scale = (torch.tensor(np.repeat(v, self.window_), dtype=torch.float32)
                       for v in (self.mean_, self.scale_))
        return WindowScore(self.model_._coder(), mean, scale, torch.tensor(self.references_),
                           self.n_neighbors, torch.tensor(self.channel_scale_,
                                                          dtype=torch.float32),
                           self.error_factor_, self.channel_error)

    def outlier_scores(self, X) -> np.ndarray:
        """One score per step of the series ``X``; higher means more anomalous."""
        check_is_fitted(self, "model_")
        X = as_series(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} channels; the detector was fitted on "
                             f"{self.n_features_in_}.")
        windows = sliding_windows(self._scaled(X), self.window_, self.causal)
        return step_scores(self._window_scores(windows), len(X), self.window_, self.causal)

    def score_samples(self, X) -> np.ndarray:
        """Minus :meth:`outlier_scores`: higher means more typical, one value per step."""
        return -self.outlier_scores(X)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outlier steps."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """-1 for outlier steps, 1 for inliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score_stream(self, X) -> np.ndarray:
        """Causal scores of the new steps ``X`` of a live stream, continuing the steps given
        to earlier calls (the detector keeps the last ``window_ - 1`` scaled steps; the first
        call pads with copies of its first step). :meth:`reset_stream` starts a new stream."""
        check_is_fitted(self, "model_")
        X = self._scaled(as_series(X))
        tail = getattr(self, "_stream_tail", None)
        history = X if tail is None else np.concatenate([tail, X])
        windows = sliding_windows(history[-(len(X) + self.window_ - 1):], self.window_, True)
        self._stream_tail = history[max(len(history) - self.window_ + 1, 0):]
        return self._window_scores(windows[-len(X):])

    def reset_stream(self) -> None:
        """Forget the steps given to :meth:`score_stream`."""
        self._stream_tail = None
