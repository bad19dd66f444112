"""Sliding windows of a series, and the map from window scores back to time steps.

A window of length ``L`` starting at step ``i`` holds steps ``i, ..., i + L - 1`` of every
channel, flattened channel by channel (``(C, L)`` in row-major order), so a 1-D convolution
reads it back as ``C`` channels of length ``L``.

Two ways to give every step a score:

- centred (the default): the windows start at steps ``0, ..., n - L``; a step's score is the
  mean score of the windows that hold it (every step lies in at least one window);
- causal: the series is preceded by ``L - 1`` copies of its first step, so that one window
  ends at each step, and a step's score is the score of the window ending there: it depends
  on that step and the ones before, never on a later one.

A series shorter than a window is preceded by copies of its first step up to ``L`` steps, in
both modes.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def padded(X: np.ndarray, length: int, causal: bool) -> np.ndarray:
    """``X`` (``(n_steps, n_channels)``) preceded by copies of its first step: ``length - 1``
    of them when ``causal``, otherwise as many as bring it to ``length`` steps."""
    n_pad = length - 1 if causal else max(length - len(X), 0)
    if n_pad == 0:
        return X
    return np.concatenate([np.repeat(X[:1], n_pad, axis=0), X])


def sliding_windows(X: np.ndarray, length: int, causal: bool = False) -> np.ndarray:
    """The windows of ``X`` (``(n_steps, n_channels)``) as rows of ``n_channels * length``
    values (a view where no padding is needed): one per start step, or one per end step when
    ``causal``."""
    X = padded(X, length, causal)
    windows = sliding_window_view(X, length, axis=0)  # (n_windows, n_channels, length)
    return windows.reshape(len(windows), -1)


def window_count(n_steps: int, length: int, causal: bool = False) -> int:
    """How many windows :func:`sliding_windows` cuts from ``n_steps`` steps."""
    return n_steps if causal else max(n_steps - length + 1, 1)


def step_scores(window_scores: np.ndarray, n_steps: int, length: int,
                causal: bool = False) -> np.ndarray:
    """One score per step from the scores of :func:`sliding_windows`'s windows: the score of
    the window ending at the step when ``causal``, else the mean over the windows holding it
    (computed from cumulative sums, ``O(n_steps)``)."""
    window_scores = np.asarray(window_scores, dtype=np.float64)
    if causal:
        return window_scores
    n_pad = max(length - n_steps, 0)
    steps = np.arange(n_pad, n_pad + n_steps)
    first = np.maximum(steps - length + 1, 0)
    last = np.minimum(steps, len(window_scores) - 1)
    sums = np.concatenate([[0.0], np.cumsum(window_scores)])
    return (sums[last + 1] - sums[first]) / (last - first + 1)
