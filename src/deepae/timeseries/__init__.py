"""Anomalies in time series: windows, window lengths and the detector.

:class:`TimeSeriesOutlierDetector` gives one outlier score per time step of a series (or of
each of several), from a model of its sliding windows. The package's modules:
:mod:`.windows` (cutting windows, mapping window scores to steps), :mod:`.period` (the
``"auto"`` window length), :mod:`.series` (reading arrays and pandas objects),
:mod:`.neighbors` (distances to reference windows) and :mod:`.detector` (the estimator).
"""

from .detector import TimeSeriesOutlierDetector
from .period import estimate_period
from .windows import sliding_windows, step_scores

__all__ = ["TimeSeriesOutlierDetector", "estimate_period", "sliding_windows", "step_scores"]
