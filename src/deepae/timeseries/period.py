"""The window length ``"auto"``: the period of a series from its autocorrelation.

The rule of TSB-AD's ``find_length_rank`` (Liu & Paparrizos, NeurIPS 2024), written here with
numpy: the autocorrelation of the first 20,000 steps up to lag 400, computed by FFT; among its
local maxima from lag 4 on, the highest; a period outside ``[6, 303]`` steps, or none, falls
back to :data:`FALLBACK_PERIOD`.
"""

import numpy as np

#: The window length when a series shows no period (TSB-AD's fallback).
FALLBACK_PERIOD = 125
MAX_STEPS = 20_000
MAX_LAG = 400
MIN_LAG = 3
PERIODS = (6, 303)


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation of ``x`` at lags ``0, ..., max_lag`` (all zeros for a constant
    series), as statsmodels' ``acf(x, fft=True)``."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    size = 1 << int(2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    covariance = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    if covariance[0] <= 0:
        return np.zeros(max_lag + 1)
    return covariance / covariance[0]


def estimate_period(x: np.ndarray) -> int:
    """The period of the 1-D series ``x`` in steps (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)[:MAX_STEPS]
    max_lag = min(MAX_LAG, len(x) - 1)
    if max_lag <= MIN_LAG + 1:
        return FALLBACK_PERIOD
    acf = autocorrelation(x, max_lag)[MIN_LAG:]
    inner = acf[1:-1]
    peaks = np.flatnonzero((inner > acf[:-2]) & (inner > acf[2:])) + 1
    if len(peaks) == 0:
        return FALLBACK_PERIOD
    lag = int(peaks[np.argmax(acf[peaks])]) + MIN_LAG
    return lag if PERIODS[0] <= lag <= PERIODS[1] else FALLBACK_PERIOD
