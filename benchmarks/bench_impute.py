"""Imputation by reconstruction on the shared mixed tables (20% of the cells hidden).

Each table of ``../shared/data/mixed/`` (features only, at most 2,000 rows drawn at random),
seeds 1, 2, 3: a random 20% of the present cells is hidden (numeric and categorical alike),
each imputer is fitted on the table with its holes and fills them. Numeric error: the RMSE
of the filled cells of each numeric column divided by the column's standard deviation,
averaged over the columns; categorical accuracy: the fraction of hidden categorical cells
filled with their true level. Peers: scikit-learn's ``KNNImputer`` and ``IterativeImputer``
on standardized numbers and one-hot categories (a hidden category: its whole block
missing; the filled category is the block's largest value), and the column mean / most
frequent level. All on one CPU thread. The folder is ``DEEPAE_MIXED`` or
``../shared/data/mixed``.
"""

import time

import numpy as np
import pandas as pd
from bench_mixed import TABLES, data_dir
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer
from sklearn.preprocessing import StandardScaler
from threads import one_cpu_thread

from deepae import TableImputer
from deepae.tabular.frames import is_numeric

SEEDS = (1, 2, 3)
MAX_ROWS = 2_000
HIDDEN_FRACTION = 0.2
FAILURES = []  # imputers that raised (their figures left out of the means)


def load(name: str, seed: int) -> pd.DataFrame:
    table = pd.read_csv(data_dir() / f"{name}.csv.gz").drop(columns="is_anomaly")
    return table.sample(min(MAX_ROWS, len(table)), random_state=seed).reset_index(drop=True)


def hide(table: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The table with a random ``HIDDEN_FRACTION`` of its present cells missing, and where."""
    holes = (np.random.RandomState(seed).rand(*table.shape) < HIDDEN_FRACTION) & (
        table.notna().to_numpy())
    return table.mask(holes), holes


def errors(table: pd.DataFrame, filled: pd.DataFrame, holes: np.ndarray) -> tuple[float, float]:
    """Mean standardized RMSE over numeric columns, accuracy over categorical cells."""
    rmse, hits, count = [], 0, 0
    for j, name in enumerate(table.columns):
        hidden = holes[:, j]
        if not hidden.any():
            continue
        truth = table[name]
        if is_numeric(truth):
            error = (pd.to_numeric(filled[name]).to_numpy(float)[hidden]
                     - truth.to_numpy(float)[hidden])
            rmse.append(np.sqrt(np.mean(error ** 2)) / truth.std(ddof=0))
        else:
            hits += int((filled[name].astype(str).to_numpy()[hidden]
                         == truth.astype(str).to_numpy()[hidden]).sum())
            count += int(hidden.sum())
    return (float(np.mean(rmse)) if rmse else np.nan), (hits / count if count else np.nan)


def numeric_names(table: pd.DataFrame) -> list[str]:
    return [name for name in table.columns if is_numeric(table[name])]


def mean_and_mode(table: pd.DataFrame) -> pd.DataFrame:
    """Each numeric column's mean, each categorical column's most frequent level."""
    numbers = numeric_names(table)
    return table.fillna({name: table[name].mean() if name in numbers else table[name].mode()[0]
                         for name in table.columns})


def encoded(imputer):
    """``imputer`` on standardized numbers and one-hot categories, decoded back."""
    def fill(table: pd.DataFrame) -> pd.DataFrame:
        numbers = numeric_names(table)
        levels = {name: np.sort(table[name].dropna().astype(str).unique())
                  for name in table.columns if name not in numbers}
        scaler = StandardScaler().fit(table[numbers].to_numpy(float)) if numbers else None
        parts = [scaler.transform(table[numbers].to_numpy(float))] if numbers else []
        for name, names in levels.items():
            column = table[name]
            hot = (column.astype(str).to_numpy()[:, None] == names).astype(float)
            hot[column.isna().to_numpy()] = np.nan
            parts.append(hot)
        F = imputer().fit_transform(np.hstack(parts))
        filled, start = table.copy(), len(numbers)
        if numbers:
            filled[numbers] = table[numbers].fillna(pd.DataFrame(
                scaler.inverse_transform(F[:, :start]), columns=numbers))
        for name, names in levels.items():
            best = names[F[:, start:start + len(names)].argmax(axis=1)]
            filled[name] = table[name].astype(object).fillna(pd.Series(best))
            start += len(names)
        return filled
    return fill


def deepae_fill(table: pd.DataFrame) -> pd.DataFrame:
    return TableImputer(random_state=0).fit_transform(table)


IMPUTERS = {
    "deepae TableImputer": deepae_fill,
    "sklearn IterativeImputer": encoded(lambda: IterativeImputer(max_iter=10, random_state=0)),
    "sklearn KNNImputer": encoded(lambda: KNNImputer(n_neighbors=5)),
    "mean / most frequent": mean_and_mode,
}


def measure(imputers=IMPUTERS, tables=TABLES, seeds=SEEDS) -> dict:
    """results[imputer][table] = (mean RMSE, mean accuracy, seconds) over the seeds."""
    runs = {name: {table: [] for table in tables} for name in imputers}
    for table_name in tables:
        for seed in seeds:
            table = load(table_name, seed)
            holey, holes = hide(table, seed)
            for name, fill in imputers.items():
                start = time.perf_counter()
                try:
                    scores = errors(table, fill(holey), holes)
                except np.linalg.LinAlgError as error:  # IterativeImputer's SVD, now and then
                    scores = (np.nan, np.nan)
                    FAILURES.append(f"{name} on {table_name} (seed {seed}): {error}")
                runs[name][table_name].append((*scores, time.perf_counter() - start))
    return {name: {table: tuple(np.nanmean(np.array(r), axis=0).tolist()
                                if len(r) else ()) for table, r in per.items()}
            for name, per in runs.items()}


def report(results: dict) -> list[str]:
    names = list(results)
    tables = list(results[names[0]])
    lines = ["Numeric cells: standardized RMSE (lower is better; mean over numeric columns and "
             "seeds; best in bold):", "",
             "| table | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    for column, label, best in ((0, "RMSE", min), (1, "accuracy", max)):
        if column == 1:
            lines += ["", "Categorical cells: accuracy of the filled level (higher is better):",
                      "", "| table | " + " | ".join(names) + " |",
                      "| --- |" + " ---: |" * len(names)]
        for table in tables:
            row = [results[n][table][column] for n in names]
            if np.all(np.isnan(row)):
                continue
            top = best(v for v in row if not np.isnan(v))
            lines.append(f"| {table} | " + " | ".join(
                f"**{v:.3f}**" if v == top else f"{v:.3f}" for v in row) + " |")
        means = [np.nanmean([results[n][t][column] for t in tables]) for n in names]
        lines.append(f"| mean ({label}) | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    seconds = [sum(results[n][t][2] for t in tables) * len(SEEDS) for n in names]
    if FAILURES:
        lines += ["", "Failures (left out of the means): " + "; ".join(FAILURES) + "."]
    lines += ["", "Total time: " + ", ".join(f"{n} {s:.1f} s" for n, s in
                                              zip(names, seconds, strict=True)) + "."]
    return lines


def run() -> str:
    with one_cpu_thread():
        results = measure()
    deep = results["deepae TableImputer"]
    tables = list(deep)
    rmse = {n: np.nanmean([r[t][0] for t in tables]) for n, r in results.items()}
    accuracy = {n: np.nanmean([r[t][1] for t in tables]) for n, r in results.items()}
    wins_numeric = all(rmse["deepae TableImputer"] < rmse[n] for n in
                       ("sklearn IterativeImputer", "sklearn KNNImputer"))
    wins_categorical = accuracy["deepae TableImputer"] > accuracy["mean / most frequent"]
    verdict = (f"Goals: lower mean numeric error than KNNImputer and IterativeImputer — "
               f"{'met' if wins_numeric else 'not met'}; higher categorical accuracy than the "
               f"most frequent level — {'met' if wins_categorical else 'not met'}.")
    lines = ["## Imputation by reconstruction on the mixed tables (20% of the cells hidden)", "",
             f"The five UCI tables of `../shared/data/mixed/` (features only, at most "
             f"{MAX_ROWS:,} rows drawn at random), seeds 1–3, a random 20% of the present "
             "cells hidden; `deepae.TableImputer(random_state=0)` on the raw table, "
             "scikit-learn's imputers on standardized numbers and one-hot categories (see "
             "`bench_impute.py`), one CPU thread each.", "", *report(results), "", verdict]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
