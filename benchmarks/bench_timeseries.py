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
the test series itself as TSB-AD runs them) take longer than all of the above together; set
``DEEPAE_TS_PEERS=1`` to run them in the same run, else the table shows their figures as
measured for issue 23 with the same code and protocol (group means only: no rank).
Needs ``tsb-ad`` (``pip install --no-deps tsb-ad``) and ``statsmodels``.
"""

import os
import time
import warnings
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
#: TSB-AD's peers: model_wrapper name, settings for one channel, settings for several.
PEERS = {
    "POLY": ("POLY", {"periodicity": 1, "power": 4}, {"periodicity": 1, "power": 4}),
    "PCA (windows of 100)": ("PCA", {}, {"n_components": 0.25}),
    "KMeansAD": ("KMeansAD_U", {"periodicity": 2, "n_clusters": 10},
                 {"n_clusters": 10, "window_size": 40}),
    "IForest (windows of 100)": ("IForest", {"n_estimators": 200},
                                 {"n_estimators": 25, "max_features": 0.8}),
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
    """TSB-AD's peers, fitted on the test series itself (TSB-AD's unsupervised rule)."""
    from TSB_AD.model_wrapper import run_Unsupervise_AD

    def peer(name, uni, multi):
        return lambda train, test: run_Unsupervise_AD(
            name, test, **(uni if test.shape[1] == 1 else multi))

    return {label: peer(*spec) for label, spec in PEERS.items()}


def random_scores(train, test):
    return np.random.default_rng(len(test)).random(len(test))


def metrics(label: np.ndarray, score: np.ndarray, window: int) -> tuple[float, float, float]:
    """VUS-PR (TSB-AD's code), AUC-PR and AUC-ROC of one series' step scores. The labels go
    in as ints: on the files' uint8 labels TSB-AD's code overflows (random scores then get a
    VUS-PR of 0.99 on SMD instead of 0.17)."""
    from TSB_AD.evaluation.basic_metrics import generate_curve

    score = np.nan_to_num(np.asarray(score, dtype=np.float64))
    span = score.max() - score.min()
    score = (score - score.min()) / span if span > 0 else np.zeros_like(score)
    vus = generate_curve(label.astype(int), score, window, version="opt", thre=250)[-1]
    return float(vus), average_precision_score(label, score), roc_auc_score(label, score)


def evaluate(detectors: dict, series: list) -> tuple[dict, dict]:
    """Per detector: ``{name: (vus, auc_pr, auc_roc)}`` per series and the total seconds."""
    from TSB_AD.utils.slidingWindows import find_length_rank

    results = {d: {} for d in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    for name, train, test, label in series:
        window = find_length_rank(test[:, 0].reshape(-1, 1), rank=1)
        for detector, function in detectors.items():
            start = time.perf_counter()
            score = function(train.astype(np.float64), test.astype(np.float64))
            seconds[detector] += time.perf_counter() - start
            results[detector][name] = metrics(label, score, window)
    return results, seconds


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
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results, seconds = evaluate(detectors, series)
    return "\n".join([
        "## Time series: TimeSeriesOutlierDetector on NAB, ASD, SMD and SMAP",
        "",
        f"{len(series)} series with an anomaly in their test part; every deepae detector is "
        "fitted on `train` only; VUS-PR from TSB-AD 1.5's code (mean per group, mean of the "
        "four group means), AUC-PR and AUC-ROC as means of the group means; times on one "
        "thread (a shared machine: see the run's load). Command: "
        "`python benchmarks/run.py timeseries`.",
        "",
        table(results, seconds, peers_run),
    ])


if __name__ == "__main__":
    print(run())
