"""Anomalies in time series: deepae's TimeSeriesOutlierDetector on the shared labelled series.

The protocol of ``../shared/data/timeseries/README.md`` (or the folder in
``DEEPAE_TIMESERIES``): 121 series in four groups (NAB, ASD, SMD, SMAP); each detector is
fitted on ``train`` only and scores every step of ``test``; per series VUS-PR from TSB-AD's
own code (``tsb-ad`` 1.5: ``generate_curve(..., version="opt", thre=250)``, scores min–max
normalized, the sliding window ``find_length_rank`` of the test's first channel), AUC-PR and
AUC-ROC beside it; the six series without an anomaly in ``test`` are skipped (115 scored).
Reported: the mean per group, the mean of the four group means, the mean rank per series
among the detectors run, and the fit + score time (one thread).

Detectors: deepae's default, deepae with each sequence autoencoder as the window model
(``DEEPAE_TS_SEQUENCE=0`` leaves them out: they train a network per series), and a random
baseline. TSB-AD's peers (POLY, PCA, KMeansAD, IForest with its tuned settings, fitted on
the test series itself as TSB-AD runs them; POLY is univariate in TSB-AD and scores the first
channel of a multichannel series) take longer than all of the above together; set
``DEEPAE_TS_PEERS=1`` to run them in the same run, else the table shows their figures as
measured for issue 23 (group means only: no rank).

Two passes: every detector scores every series (timed, one thread), then the metrics are
computed in ``DEEPAE_TS_WORKERS`` processes (default 2; TSB-AD's VUS-PR dominates the time).
``DEEPAE_TS_CACHE=DIR`` keeps each detector's scores and times there
(``DIR/<detector>/<series>.npy``) and reuses them: a run cut short resumes, and a detector
that did not change is not rerun (empty the folder after changing one).
Needs ``tsb-ad`` (``pip install --no-deps tsb-ad``), ``statsmodels``, and for the peers
``arch`` and ``hurst`` (the ``bench`` extra).
"""

import os
import time
import warnings
from functools import partial
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

from deepae import (
    ConvolutionalSequenceAutoencoder,
    RecurrentSequenceAutoencoder,
    TimeSeriesOutlierDetector,
)

GROUPS = ("nab", "asd", "smd", "smap")
#: Group means of TSB-AD's peers measured for issue 23 (tsb-ad 1.5, same protocol), shown
#: when the peers are not run: VUS-PR per group, then the mean rank among ten detectors.
PUBLISHED = {
    "POLY": (0.410, 0.189, 0.162, 0.600, 2.97),
    "PCA (windows of 100)": (0.410, 0.255, 0.384, 0.283, 3.99),
    "KMeansAD": (0.258, 0.406, 0.291, 0.333, 4.69),
    "IForest (windows of 100)": (0.338, 0.178, 0.206, 0.401, 3.75),
    "random": (0.134, 0.099, 0.085, 0.129, 7.42),
}
#: TSB-AD's peers: (model_wrapper name, settings) for one channel, then for several.
PEERS = {
    "POLY": (("POLY", {"periodicity": 1, "power": 4}), ("POLY", {"periodicity": 1, "power": 4})),
    "PCA (windows of 100)": (("PCA", {}), ("PCA", {"n_components": 0.25})),
    "KMeansAD": (("KMeansAD_U", {"periodicity": 2, "n_clusters": 10}),
                 ("KMeansAD", {"n_clusters": 10, "window_size": 40})),
    "IForest (windows of 100)": (("IForest", {"n_estimators": 200}),
                                 ("IForest", {"n_estimators": 25, "max_features": 0.8})),
}


def data_dir() -> Path:
    """``DEEPAE_TIMESERIES`` or the shared folder beside the repository."""
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "timeseries"
    return Path(os.environ.get("DEEPAE_TIMESERIES", default))


def load_series() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """``(name, train, test, test_label)`` of every series with an anomaly in its test."""
    out = []
    for path in sorted(data_dir().glob("*.npz")):
        data = np.load(path)
        if data["test_label"].any():
            out.append((path.stem, data["train"], data["test"], data["test_label"]))
    return out


def deepae_detectors() -> dict:
    """Name → function of ``(train, test)`` giving one score per test step."""
    def detector(model=None):
        return lambda train, test: TimeSeriesOutlierDetector(model=model).fit(
            train).outlier_scores(test)

    detectors = {"deepae default": detector()}
    if os.environ.get("DEEPAE_TS_SEQUENCE", "1") != "0":
        detectors["deepae + 1-D conv AE"] = detector(
            ConvolutionalSequenceAutoencoder(max_epochs=10, random_state=0))
        detectors["deepae + GRU AE"] = detector(
            RecurrentSequenceAutoencoder(max_epochs=5, random_state=0))
    return detectors


def peer_detectors() -> dict:
    """TSB-AD's peers, fitted on the test series itself (TSB-AD's unsupervised rule); POLY
    on the first channel only (it is univariate)."""
    from TSB_AD import model_wrapper

    def peer(one, several):
        def scores(train, test):
            name, settings = one if test.shape[1] == 1 else several
            if name == "POLY":
                test = test[:, :1]
            return getattr(model_wrapper, f"run_{name}")(test, **settings)
        return scores

    return {label: peer(*spec) for label, spec in PEERS.items()}


def random_scores(train, test):
    return np.random.default_rng(len(test)).random(len(test))


def vus_pr_inputs(name: str, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """TSB-AD's inputs for one series: int labels (on the files' uint8 labels its code
    overflows: random scores then get a VUS-PR of 0.99 on SMD instead of 0.17), scores
    min–max normalized, and the test's sliding window."""
    from TSB_AD.utils.slidingWindows import find_length_rank

    data = np.load(data_dir() / f"{name}.npz")
    window = find_length_rank(data["test"][:, 0].reshape(-1, 1), rank=1)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64))
    span = score.max() - score.min()
    score = (score - score.min()) / span if span > 0 else np.zeros_like(score)
    return data["test_label"].astype(int), score, window


def score_all(detectors: dict, series: list, cache: Path | None) -> tuple[dict, dict]:
    """Per detector: the scores of every series and the total seconds of fit + score; with
    ``cache``, scores and seconds already there are reused and new ones stored."""
    scores = {d: {} for d in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for name, train, test, _ in series:
        for detector, function in detectors.items():
            path = None if cache is None else cache / detector / f"{name}.npy"
            if path is not None and path.exists():
                scores[detector][name] = np.load(path)
                seconds[detector] += float(path.with_suffix(".time").read_text())
                continue
            start = time.perf_counter()
            score = function(train.astype(np.float64), test.astype(np.float64))
            elapsed = time.perf_counter() - start
            seconds[detector] += elapsed
            scores[detector][name] = np.asarray(score, dtype=np.float64)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, scores[detector][name])
                path.with_suffix(".time").write_text(str(elapsed))
    return scores, seconds


def evaluate(scores: dict, workers: int) -> dict:
    """Per detector: ``{series: (vus, auc_pr, auc_roc)}``; VUS-PR (TSB-AD's
    ``generate_curve(..., version="opt", thre=250)``) in ``workers`` processes."""
    from TSB_AD.evaluation.basic_metrics import generate_curve

    jobs = [(d, n) for d in scores for n in scores[d]]
    inputs = [vus_pr_inputs(n, scores[d][n]) for d, n in jobs]
    with Pool(workers) as pool, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curves = pool.starmap(partial(generate_curve, version="opt", thre=250), inputs)
    results = {d: {} for d in scores}
    for (d, n), (label, score, _), curve in zip(jobs, inputs, curves, strict=True):
        results[d][n] = (float(curve[-1]), average_precision_score(label, score),
                         roc_auc_score(label, score))
    return results


def group_means(per_series: dict, column: int = 0) -> list[float]:
    return [float(np.mean([v[column] for n, v in per_series.items() if n.startswith(g)]))
            for g in GROUPS]


def mean_ranks(results: dict) -> dict:
    """Mean rank (1 = best VUS-PR, ties averaged) per detector over the series."""
    from scipy.stats import rankdata

    names = list(results)
    series = list(results[names[0]])
    table = np.array([[results[d][s][0] for d in names] for s in series])
    ranks = np.array([rankdata(-row) for row in table])
    return dict(zip(names, ranks.mean(0), strict=True))


def table(results: dict, seconds: dict, peers_run: bool) -> str:
    ranks = mean_ranks(results)
    lines = ["| detector | NAB | ASD | SMD | SMAP | mean of groups (VUS-PR) | mean rank | "
             "AUC-PR | AUC-ROC | fit + score |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for d, per_series in results.items():
        vus = group_means(per_series)
        pr, roc = np.mean(group_means(per_series, 1)), np.mean(group_means(per_series, 2))
        lines.append(f"| {d} | " + " | ".join(f"{v:.3f}" for v in vus)
                     + f" | **{np.mean(vus):.3f}** | {ranks[d]:.2f} | {pr:.3f} | {roc:.3f} | "
                     f"{seconds[d]:.0f} s |")
    if not peers_run:
        for d, (*vus, rank) in PUBLISHED.items():
            lines.append(f"| TSB-AD {d} (issue 23) | " + " | ".join(f"{v:.3f}" for v in vus)
                         + f" | {np.mean(vus):.3f} | ({rank:.2f} of 10) | | | |")
    return "\n".join(lines)


def run() -> str:
    torch.set_num_threads(1)
    series = load_series()
    detectors = deepae_detectors()
    peers_run = os.environ.get("DEEPAE_TS_PEERS") == "1"
    if peers_run:
        detectors |= peer_detectors()
    detectors["random"] = random_scores
    cache = os.environ.get("DEEPAE_TS_CACHE")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, seconds = score_all(detectors, series, cache and Path(cache))
    results = evaluate(scores, int(os.environ.get("DEEPAE_TS_WORKERS", "2")))
    return "\n".join([
        "## Time series: TimeSeriesOutlierDetector on NAB, ASD, SMD and SMAP",
        "",
        f"{len(series)} series with an anomaly in their test part; every deepae detector is "
        "fitted on `train` only; VUS-PR from TSB-AD 1.5's code (mean per group, mean of the "
        "four group means), AUC-PR and AUC-ROC as means of the group means; fit + score time "
        "of all series on one thread (a shared machine: see the run's load). Command: "
        "`python benchmarks/run.py timeseries`.",
        "",
        table(results, seconds, peers_run),
        "",
        f"Fit + score of all {len(series)} series by deepae's default: "
        f"{seconds['deepae default']:.0f} s.",
    ])


if __name__ == "__main__":
    print(run())
