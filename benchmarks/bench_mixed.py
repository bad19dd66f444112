"""Outlier detection on real mixed-type tables (strings, integers, missing cells), raw.

The protocol of ``../shared/data/mixed/README.md`` (seeds 1, 2, 3): anomalies above 10% of
the rows are subsampled to 5%; more than 10,000 rows are subsampled to 10,000 (stratified);
a stratified 70/30 split; every detector is fitted on the training part without labels,
with its encoding fitted there too, and scores the test part (ROC-AUC). deepae's default
detector reads the raw table; the peers get the encoding a careful user gives them:
scikit-learn's ``IsolationForest`` ordinal codes (missing values native), PyOD's detectors
one-hot categories (unknown levels ignored) and median-imputed, MinMax-scaled numbers. All
run on one CPU thread. The folder is ``DEEPAE_MIXED`` or ``../shared/data/mixed``.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from bench_adbench import average_ranks, evaluate, per_set_table, pyod
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder
from threads import one_cpu_thread

from deepae.outliers import ReconstructionOutlierDetector

SEEDS = (1, 2, 3)
TABLES = ("bank", "adult", "german_credit", "mushroom", "heart_disease")
MAX_ROWS = 10_000
ANOMALY_RATE = 0.05
GOALS = {"time_vs_pyod_ae": 0.5}


def data_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "mixed"
    return Path(os.environ.get("DEEPAE_MIXED", default))


def load(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    table = pd.read_csv(data_dir() / f"{name}.csv.gz")
    return table.drop(columns="is_anomaly"), table["is_anomaly"].to_numpy()


def split(X: pd.DataFrame, y: np.ndarray, seed: int):
    """The README's protocol: training table, test table, test labels."""
    if y.mean() > 0.10:
        normal, anomalies = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
        n_keep = int(round(ANOMALY_RATE / (1 - ANOMALY_RATE) * len(normal)))
        kept = np.random.RandomState(seed).choice(anomalies, n_keep, replace=False)
        rows = np.sort(np.concatenate([normal, kept]))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    if len(X) > MAX_ROWS:
        X, _, y, _ = train_test_split(X, y, train_size=MAX_ROWS, stratify=y, random_state=seed)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)
    return X_train, X_test, y_test


def categorical(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]


def one_hot_minmax(X: pd.DataFrame) -> ColumnTransformer:
    """One-hot categories (unknown levels ignored), median-imputed MinMax-scaled numbers."""
    cats = categorical(X)
    numbers = [c for c in X.columns if c not in cats]
    return ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
         cats),
        ("num", make_pipeline(SimpleImputer(strategy="median"), MinMaxScaler()), numbers)])


def encoded_pyod(name: str, **params):
    """PyOD's detector ``name`` on the one-hot + imputed + MinMax encoding."""
    detector = pyod(name, **params)

    def outlier_scores(X_train, X_test):
        encoding = one_hot_minmax(X_train).fit(X_train)
        return detector(encoding.transform(X_train), encoding.transform(X_test))
    return outlier_scores


def isolation_forest(X_train, X_test):
    """scikit-learn's IsolationForest on ordinal codes (missing values native)."""
    cats = categorical(X_train)
    encoding = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                encoded_missing_value=np.nan), cats)],
        remainder="passthrough").fit(X_train)
    forest = IsolationForest(random_state=0).fit(encoding.transform(X_train))
    return -forest.score_samples(encoding.transform(X_test))


def deepae_default(X_train, X_test):
    return -ReconstructionOutlierDetector().fit(X_train).score_samples(X_test)


DETECTORS = {
    "deepae default (raw table)": deepae_default,
    "PyOD ECOD": encoded_pyod("ECOD"),
    "sklearn IsolationForest (ordinal)": isolation_forest,
    "PyOD KNN": encoded_pyod("KNN"),
    "PyOD AutoEncoder": encoded_pyod("AutoEncoder", verbose=0),
    "PyOD IForest": encoded_pyod("IForest", random_state=0),
}


def measure(detectors: dict, tables=TABLES, seeds=SEEDS) -> dict:
    """results[detector][table] = list over seeds of :func:`evaluate`'s dicts."""
    results = {name: {} for name in detectors}
    for table in tables:
        X, y = load(table)
        for seed in seeds:
            X_train, X_test, y_test = split(X, y, seed)
            for name, method in detectors.items():
                results[name].setdefault(table, []).append(
                    evaluate(method, X_train, X_test, y_test))
    return results


def summarize(results: dict) -> dict:
    """Per detector: mean AUC over tables, mean rank (ranks of the per-table mean AUCs),
    total seconds, per-table mean AUC, failures."""
    detectors = list(results)
    tables = list(results[detectors[0]])
    aucs = np.array([[np.mean([r["auc"] for r in results[d][t]]) for t in tables]
                     for d in detectors])  # detector × table
    ranks = np.apply_along_axis(average_ranks, 0, aucs)
    return {d: {"auc": aucs[i].mean(), "rank": ranks[i].mean(),
                "seconds": sum(r["seconds"] for t in tables for r in results[d][t]),
                "per_table": dict(zip(tables, aucs[i], strict=True)),
                "errors": sorted({r["error"] for t in tables for r in results[d][t]
                                  if r["error"]})}
            for i, d in enumerate(detectors)}


def report(summary: dict) -> list[str]:
    detectors = list(summary)
    pyod_ae = summary["PyOD AutoEncoder"]["seconds"]
    lines = ["| detector | mean ROC-AUC | mean rank | total time | time / PyOD AE's |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for d in sorted(detectors, key=lambda d: summary[d]["rank"]):
        s = summary[d]
        lines.append(f"| {d} | {s['auc']:.3f} | {s['rank']:.2f} | {s['seconds']:.1f} s | "
                     f"{s['seconds'] / pyod_ae:.2f} |")
    lines += ["", "Per table (mean ROC-AUC over the seeds; best in bold):", ""]
    return lines + per_set_table(summary, "per_table", "table")


def run() -> str:
    with one_cpu_thread():
        summary = summarize(measure(DETECTORS))
    default = summary["deepae default (raw table)"]
    best_rank = min(s["rank"] for s in summary.values())
    best_auc = max(s["auc"] for s in summary.values())
    ratio = default["seconds"] / summary["PyOD AutoEncoder"]["seconds"]
    verdict = (f"Goals: best mean ROC-AUC — {'met' if default['auc'] == best_auc else 'not met'}"
               f"; best mean rank — {'met' if default['rank'] == best_rank else 'not met'}; "
               f"time ≤ {GOALS['time_vs_pyod_ae']}× PyOD AutoEncoder's — "
               f"{'met' if ratio <= GOALS['time_vs_pyod_ae'] else 'not met'} ({ratio:.2f}×).")
    lines = ["## Mixed-type tables (raw strings, integers, missing cells)", "",
             "The five UCI tables of `../shared/data/mixed/` (Moro, Cortez & Rita 2014; Kohavi "
             "1996; Hofmann; Schlimmer; Detrano et al. 1989) under its README's protocol, "
             "seeds 1–3, one CPU thread each; deepae's default detector on the raw table, "
             "the peers on the encodings named in `bench_mixed.py`.", "",
             *report(summary), "", verdict]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
