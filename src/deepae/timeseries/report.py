"""``deepae report`` for a time-series detector: each channel over time, its score below, the
flagged stretches shaded — one PNG and a page that shows it, with the stretches listed by
their highest score (their times, when the file has a time column)."""

import html
import os

import numpy as np

from ..figures import new_figure

#: The most channels drawn (the first ones); the score covers all of them.
MAX_CHANNELS = 12
#: The most flagged stretches listed on the page (the highest-scoring ones).
MAX_LISTED = 50


def flagged_stretches(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in ``flags``."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def draw(detector, X: np.ndarray, scores: np.ndarray, names: list[str] | None = None):
    """The figure: one panel per channel (up to :data:`MAX_CHANNELS`) and the ``scores`` with
    the threshold, stretches above it shaded in every panel."""
    stretches = flagged_stretches(scores > detector.threshold_)
    n_drawn = min(X.shape[1], MAX_CHANNELS)
    names = names or [f"channel {i}" for i in range(X.shape[1])]
    figure = new_figure(10, 1.3 * (n_drawn + 1) + 0.5)
    axes = figure.subplots(n_drawn + 1, 1, sharex=True, squeeze=False)[:, 0]
    steps = np.arange(len(X))
    for axis, column, name in zip(axes, range(n_drawn), names, strict=False):
        axis.plot(steps, X[:, column], lw=0.7, color="tab:blue")
        axis.set_ylabel(name, rotation=0, ha="right", fontsize=8)
    axes[-1].plot(steps, scores, lw=0.7, color="black")
    axes[-1].axhline(detector.threshold_, color="tab:red", lw=0.8, ls="--")
    axes[-1].set_ylabel("outlier score", rotation=0, ha="right", fontsize=8)
    axes[-1].set_xlabel("time step")
    for axis in axes:
        for start, stop in stretches:
            axis.axvspan(start - 0.5, stop - 0.5, color="tab:red", alpha=0.2, lw=0)
    title = f"{len(stretches)} flagged stretch(es), {int((scores > detector.threshold_).sum())}"
    figure.suptitle(f"{title} of {len(X)} steps above the threshold", fontsize=10)
    return figure


def stretches_table(scores: np.ndarray, stretches: list[tuple[int, int]],
                    times: np.ndarray | None) -> str:
    """An HTML table of the flagged stretches, highest score first (up to
    :data:`MAX_LISTED`): first and last step (and time), length, highest score."""
    peaks = [float(scores[start:stop].max()) for start, stop in stretches]
    order = np.argsort(peaks)[::-1][:MAX_LISTED]
    head = "<th>first step</th><th>last step</th>" + (
        "<th>from</th><th>to</th>" if times is not None else "")
    rows = []
    for i in order:
        start, stop = stretches[i]
        when = (f"<td>{html.escape(str(times[start]))}</td>"
                f"<td>{html.escape(str(times[stop - 1]))}</td>" if times is not None else "")
        rows.append(f"<tr><td>{start}</td><td>{stop - 1}</td>{when}<td>{stop - start}</td>"
                    f"<td>{peaks[i]:.4g}</td></tr>")
    return (f"<table><tr>{head}<th>steps</th><th>highest score</th></tr>{''.join(rows)}"
            "</table>")


def write_report(detector, X: np.ndarray, directory: str, names: list[str] | None = None,
                 data_name: str = "data", times: np.ndarray | None = None) -> str:
    """Write ``directory/series.png`` and ``directory/index.html``; return the page's path.
    ``times``: each step's time (a file's time column), shown for the flagged stretches."""
    os.makedirs(directory, exist_ok=True)
    scores = detector.outlier_scores(X)
    draw(detector, X, scores, names).savefig(os.path.join(directory, "series.png"))
    stretches = flagged_stretches(scores > detector.threshold_)
    page = os.path.join(directory, "index.html")
    with open(page, "w", encoding="utf-8") as file:
        file.write(f"<!doctype html><html><head><meta charset='utf-8'><title>deepae: "
                   f"{html.escape(data_name)}</title></head><body><h1>Anomalies in "
                   f"{html.escape(data_name)}</h1><p>Window of {detector.window_} steps; "
                   f"threshold {detector.threshold_:.4g} (contamination "
                   f"{detector.contamination}).</p><img src='series.png' alt='each channel "
                   "over time, the outlier score and the flagged stretches' "
                   "style='max-width:100%'><h2>Flagged stretches</h2>"
                   f"{stretches_table(scores, stretches, times)}</body></html>")
    return page
