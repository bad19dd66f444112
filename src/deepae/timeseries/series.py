"""Reading the series a detector is given: arrays, pandas objects, lists of them."""

import numpy as np
from sklearn.utils.validation import check_array


def as_series(X) -> np.ndarray:
    """One series as a float ``(n_steps, n_channels)`` array: a 1-D array is one channel; a
    pandas Series or DataFrame gives its values (its index, a time index or not, is the order
    of the steps). Missing or infinite values, and columns of times, are refused."""
    times = [name for name, dtype in X.dtypes.items() if dtype.kind == "M"] if hasattr(
        X, "columns") else []
    if times:
        raise ValueError(f"Column {times[0]!r} holds times: make it the index "
                         f"(frame.set_index({times[0]!r})); a series' columns are numbers.")
    values = X.to_numpy() if hasattr(X, "to_numpy") else X
    values = check_array(values, ensure_2d=False, dtype=(np.float64, np.float32),
                         ensure_min_samples=1)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"A series must be 1-D or 2-D (steps, channels); got {values.ndim}-D.")
    return values


def as_series_list(X) -> list[np.ndarray]:
    """A list of series (a list or tuple of arrays or pandas objects), or one series, as a
    list of ``(n_steps, n_channels)`` arrays with the same channels."""
    series = [as_series(x) for x in X] if isinstance(X, (list, tuple)) else [as_series(X)]
    if not series:
        raise ValueError("Got an empty list of series.")
    channels = {s.shape[1] for s in series}
    if len(channels) > 1:
        raise ValueError(f"The series have different numbers of channels: {sorted(channels)}.")
    return series
