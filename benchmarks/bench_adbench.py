"""Unsupervised outlier detection on ADBench's 30 "Classical" tabular data sets.

ADBench's protocol (Han et al., NeurIPS 2022, ``data_generator.py``): a data set with more
than 10,000 rows is subsampled to 10,000; stratified 70/30 train/test split; ``MinMaxScaler``
fitted on the training part; every detector is fitted on the (contaminated) training part
without labels and scores the test part; ROC-AUC and average precision, seeds 1, 2 and 3.
deepae's default detector, deepae with PCA and PyOD's IForest, ECOD, KNN, PCA, AutoEncoder
and VAE run side by side in one run, each on one CPU thread (torch and BLAS) so that their
times compare on a shared machine.

The data folder is ``DEEPAE_ADBENCH`` or ``../shared/data/adbench`` beside the repository
(one ``.npz`` per data set with ``X`` and ``y``, 1 = outlier).
"""

import importlib
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler
from threads import one_cpu_thread

from deepae import PCA
from deepae.outliers import ReconstructionOutlierDetector
from deepae.outliers.combine import combined_terms, fit_term_scaling
from deepae.outliers.default_model import TABULAR_MODELS, TABULAR_NEIGHBORS, default_model
from deepae.outliers.neighbors import neighbor_distances

SEEDS = (1, 2, 3)
#: Seeds of the default detector's model (``random_state``, 0 by default) besides 0, run
#: after the table to show how much its figures owe to that one draw.
MODEL_SEEDS = (1, 2, 3, 4, 5)
MAX_ROWS = 10_000
#: Five fixed folds of six data sets (ADBench's numbering order dealt round-robin): each
#: default is chosen on four folds and scored on the fifth (:func:`cross_validate`).
FOLDS = (
    ("ALOI", "cover", "InternetAds", "musk", "skin", "Waveform"),
    ("breastw", "donors", "landsat", "PageBlocks", "smtp", "WBC"),
    ("campaign", "glass", "Lymphography", "pendigits", "Stamps", "WDBC"),
    ("Cardiotocography", "Hepatitis", "magic.gamma", "satellite", "thyroid", "wine"),
    ("celeba", "http", "mnist", "shuttle", "vertebral", "WPBC"),
)
GOALS = {"cv_auc": 0.81, "time_vs_pyod_ae": 0.5}
#: The neighbour counts of the candidate configurations (:func:`candidate_scores`).
CANDIDATE_NEIGHBORS = (5, 10, 20)


def data_dir() -> Path:
    """Where the ``.npz`` files are: ``DEEPAE_ADBENCH`` or the shared folder."""
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "adbench"
    return Path(os.environ.get("DEEPAE_ADBENCH", default))


def data_sets() -> dict[str, Path]:
    """Name → file, in ADBench's numbering order."""
    files = sorted(data_dir().glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))
    if not files:
        raise FileNotFoundError(f"no ADBench .npz files in {data_dir()} (set DEEPAE_ADBENCH)")
    return {path.stem.split("_", 1)[1]: path for path in files}


def split(path: Path, seed: int):
    """ADBench's protocol: training rows, test rows and test labels, min-max scaled."""
    with np.load(path) as data:
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
    if len(X) > MAX_ROWS:
        rows = np.random.RandomState(seed).choice(len(X), MAX_ROWS, replace=False)
        X, y = X[rows], y[rows]
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                  random_state=seed)
    scaler = MinMaxScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_test


def deepae_scores(X_train, X_test, **params) -> np.ndarray:
    """Test outlier scores of ``ReconstructionOutlierDetector(**params)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = ReconstructionOutlierDetector(**params).fit(X_train)
        return -detector.score_samples(X_test)


def deepae_default(X_train, X_test, random_state=0):
    return deepae_scores(X_train, X_test, random_state=random_state)


def seeded_default(random_state: int):
    """The default detector with its model's seed ``random_state``."""
    return lambda X_train, X_test: deepae_default(X_train, X_test, random_state)


def deepae_pca(X_train, X_test):
    return deepae_scores(X_train, X_test, model=PCA(n_components=0.9))


def candidate_scores(X_train, X_test) -> dict[str, np.ndarray]:
    """Test scores of the configurations the default is chosen among, from one fit of the
    default models: their score alone (``n_neighbors=0``, the earlier default), or with the
    neighbour term of ``k`` neighbours (:data:`CANDIDATE_NEIGHBORS`), the standardized terms
    combined by their larger (the detector's rule) or their sum; the neighbour term alone."""
    detector = ReconstructionOutlierDetector(n_neighbors=0).fit(X_train)
    Z_train, Z_test = detector._scaled(X_train), detector._scaled(X_test)
    k_max = max(CANDIDATE_NEIGHBORS)
    train_distances = neighbor_distances(Z_train, Z_train, k_max + 1)[:, 1:]  # each left out
    test_distances = neighbor_distances(Z_test, Z_train, k_max)
    models_train, models_test = detector.decision_scores_, -detector.score_samples(X_test)
    scores = {"models' score alone (n_neighbors=0)": models_test}
    for k in CANDIDATE_NEIGHBORS:
        center, scale = fit_term_scaling(np.column_stack([models_train,
                                                          train_distances[:, k - 1]]))
        terms = np.column_stack([models_test, test_distances[:, k - 1]])
        scores[f"larger term, k={k}"] = combined_terms(terms, center, scale)
        scores[f"sum of terms, k={k}"] = ((terms - center) / scale).sum(axis=1)
    scores["neighbour term alone, k=5"] = test_distances[:, 4]
    return scores


def measure_candidates(seeds=SEEDS) -> dict[str, dict[str, float]]:
    """aucs[candidate][data set]: the mean ROC-AUC over ``seeds`` of each of
    :func:`candidate_scores`."""
    aucs = {}
    for data_name, path in data_sets().items():
        per_seed = []
        for seed in seeds:
            X_train, X_test, y_test = split(path, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = candidate_scores(X_train, X_test)
            per_seed.append({c: roc_auc_score(y_test, s) for c, s in scores.items()})
        for candidate in per_seed[0]:
            aucs.setdefault(candidate, {})[data_name] = float(
                np.mean([auc[candidate] for auc in per_seed]))
    return aucs


def report_candidates(aucs: dict[str, dict[str, float]]) -> list[str]:
    """The candidates' table (all sets, each fold) and the held-out choice per fold."""
    folds = cross_validate(aucs, FOLDS)
    lines = ["| configuration | all 30 sets | " + " | ".join(
        f"fold {i + 1}" for i in range(len(FOLDS))) + " | chosen for folds |",
             "| --- | ---: |" + " ---: |" * len(FOLDS) + " --- |"]
    for candidate, per_set in aucs.items():
        chosen = [str(i + 1) for i, r in enumerate(folds) if r["chosen"] == candidate]
        lines.append(f"| {candidate} | {np.mean(list(per_set.values())):.4f} | " + " | ".join(
            f"{np.mean([per_set[n] for n in fold]):.3f}" for fold in FOLDS)
            + f" | {', '.join(chosen)} |")
    cv = np.mean([r["auc"] for r in folds])
    lines += ["", f"Cross-validated (held-out-fold) mean ROC-AUC of choosing among these: "
              f"**{cv:.4f}** (goal ≥ {GOALS['cv_auc']}); folds: " + "; ".join(
                  f"{i + 1}: {r['chosen']} → {r['auc']:.3f}" for i, r in enumerate(folds))
              + "."]
    return lines


def untrimmed_model(X_train) -> dict:
    """The default detector's parameters with its model's trimmed loss off."""
    model = default_model(X_train, tabular=True).set_params(trim_fraction=0.0)
    return {"model": model, "n_models": TABULAR_MODELS, "n_neighbors": TABULAR_NEIGHBORS}


#: The design audit: each default of the tabular detector beside the value it was chosen
#: over, as the detector's parameters (or a function of the training rows giving them), and
#: the model seeds whose ROC-AUC is averaged (one model's figure moves with its seed).
DESIGN_VARIANTS = {
    "default": ({}, (0,)),
    "n_neighbors=0": ({"n_neighbors": 0}, (0,)),
    "code_density=False": ({"code_density": False}, (0,)),
    "density_trim=0": ({"density_trim": 0.0}, (0,)),
    "n_models=1 (mean of model seeds 0–4)": ({"n_models": 1}, (0, 1, 2, 3, 4)),
    "combine=mean": ({"combine": "mean"}, (0,)),
    "untrimmed model loss": (untrimmed_model, (0,)),
    "PCA(0.9)": ({"model": PCA(n_components=0.9)}, (0,)),
    "PCA(0.9), n_neighbors=5": ({"model": PCA(n_components=0.9), "n_neighbors": 5}, (0,)),
}


def measure_design(seeds=SEEDS) -> dict[str, dict[str, float]]:
    """aucs[variant][data set] of :data:`DESIGN_VARIANTS`: mean ROC-AUC over ``seeds`` (and
    over each variant's model seeds)."""
    aucs = {}
    for data_name, path in data_sets().items():
        per_seed = {variant: [] for variant in DESIGN_VARIANTS}
        for seed in seeds:
            X_train, X_test, y_test = split(path, seed)
            for variant, (params, model_seeds) in DESIGN_VARIANTS.items():
                params = params(X_train) if callable(params) else params
                for model_seed in model_seeds:
                    scores = deepae_scores(X_train, X_test, random_state=model_seed, **params)
                    per_seed[variant].append(roc_auc_score(y_test, scores))
        for variant, values in per_seed.items():
            aucs.setdefault(variant, {})[data_name] = float(np.mean(values))
    return aucs


PYOD_MODULES = {"IForest": "iforest", "ECOD": "ecod", "KNN": "knn", "PCA": "pca",
                "AutoEncoder": "auto_encoder", "VAE": "vae"}


def pyod(name: str, **params):
    """A function fitting PyOD's detector ``name`` and returning its test scores."""
    def outlier_scores(X_train, X_test):
        module = importlib.import_module(f"pyod.models.{PYOD_MODULES[name]}")
        detector = getattr(module, name)(**params)
        return detector.fit(X_train).decision_function(X_test)
    return outlier_scores


DETECTORS = {
    "deepae default": deepae_default,
    "deepae PCA(0.9)": deepae_pca,
    "PyOD IForest": pyod("IForest", random_state=0),
    "PyOD ECOD": pyod("ECOD"),
    "PyOD KNN": pyod("KNN"),
    "PyOD PCA": pyod("PCA"),
    "PyOD AutoEncoder": pyod("AutoEncoder", verbose=0),
    "PyOD VAE": pyod("VAE", verbose=0),
}


def evaluate(method, X_train, X_test, y_test) -> dict:
    """ROC-AUC, average precision and fit+score seconds; a failure scores 0 (as ADBench's
    baseline counts PyOD PCA on constant columns) and is recorded."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = np.asarray(method(X_train, X_test), dtype=np.float64)
        if not np.isfinite(scores).all():
            raise ValueError("non-finite scores")
        auc, ap = roc_auc_score(y_test, scores), average_precision_score(y_test, scores)
        error = None
    except Exception as exc:  # noqa: BLE001 - a peer's failure is a result to report
        auc, ap, error = 0.0, 0.0, f"{type(exc).__name__}: {exc}"[:80]
    return {"auc": auc, "ap": ap, "seconds": time.perf_counter() - start, "error": error}


def measure(detectors: dict, names=None, seeds=SEEDS) -> dict:
    """results[detector][data set] = list over seeds of :func:`evaluate`'s dicts."""
    results = {name: {} for name in detectors}
    for data_name, path in data_sets().items():
        if names is not None and data_name not in names:
            continue
        for seed in seeds:
            X_train, X_test, y_test = split(path, seed)
            for name, method in detectors.items():
                results[name].setdefault(data_name, []).append(
                    evaluate(method, X_train, X_test, y_test))
    return results


def summarize(results: dict) -> dict:
    """Per detector: mean AUC, mean AP, mean rank (per data set and seed, ties averaged),
    total seconds, and per-data-set mean AUC."""
    detectors = list(results)
    data_names = list(results[detectors[0]])
    n_seeds = len(results[detectors[0]][data_names[0]])
    aucs = np.array([[[results[d][n][s]["auc"] for s in range(n_seeds)] for n in data_names]
                     for d in detectors])  # detector × data set × seed
    ranks = np.apply_along_axis(average_ranks, 0, aucs)
    return {d: {"auc": aucs[i].mean(), "rank": ranks[i].mean(),
                "ap": np.mean([[r["ap"] for r in results[d][n]] for n in data_names]),
                "seconds": sum(r["seconds"] for n in data_names for r in results[d][n]),
                "per_set": dict(zip(data_names, aucs[i].mean(axis=1), strict=True)),
                "errors": sorted({r["error"] for n in data_names for r in results[d][n]
                                  if r["error"]})}
            for i, d in enumerate(detectors)}


def deal_folds(names: list[str], n_folds: int) -> tuple[tuple[str, ...], ...]:
    """``names`` dealt round-robin into ``n_folds`` folds (how :data:`FOLDS` was made)."""
    return tuple(tuple(names[i::n_folds]) for i in range(n_folds))


def cross_validate(aucs: dict[str, dict[str, float]], folds) -> list[dict]:
    """Held-out choice of a configuration: for each fold, the configuration with the best
    mean ROC-AUC on the data sets of the other folds, and its mean on the held-out fold.

    ``aucs[configuration][data set]`` is a configuration's ROC-AUC on a data set (ties go
    to the configuration listed first). Returns one dict per fold: ``held_out`` (its data
    sets), ``chosen`` (the configuration) and ``auc`` (its mean on ``held_out``); the mean of
    the ``auc`` values is the cross-validated figure.
    """
    results = []
    for held_out in folds:
        seen = [name for fold in folds if fold is not held_out for name in fold]
        chosen = max(aucs, key=lambda c: np.mean([aucs[c][name] for name in seen]))
        results.append({"held_out": held_out, "chosen": chosen,
                        "auc": float(np.mean([aucs[chosen][name] for name in held_out]))})
    return results


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 for the largest value; ties share the mean of their ranks."""
    order = (-values).argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def report(summary: dict) -> list[str]:
    detectors = list(summary)
    pyod_ae = summary["PyOD AutoEncoder"]["seconds"]
    lines = ["| detector | mean ROC-AUC | mean AP | mean rank | total time | time / PyOD AE's |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for d in sorted(detectors, key=lambda d: summary[d]["rank"]):
        s = summary[d]
        lines.append(f"| {d} | {s['auc']:.3f} | {s['ap']:.3f} | {s['rank']:.2f} | "
                     f"{s['seconds']:.1f} s | {s['seconds'] / pyod_ae:.2f} |")
    lines += ["", "Per data set (mean ROC-AUC over the seeds; best in bold):", ""]
    return lines + per_set_table(summary, "per_set", "data set")


def per_set_table(summary: dict, key: str, label: str) -> list[str]:
    """The detectors' mean ROC-AUC on each set (``summary[d][key]``; best in bold) and their
    failures, as markdown."""
    detectors = list(summary)
    lines = [f"| {label} | " + " | ".join(detectors) + " |",
             "| --- |" + " ---: |" * len(detectors)]
    for name in summary[detectors[0]][key]:
        row = [summary[d][key][name] for d in detectors]
        cells = [f"**{v:.3f}**" if v == max(row) else f"{v:.3f}" for v in row]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    failures = [f"{d}: {'; '.join(s['errors'])}" for d, s in summary.items() if s["errors"]]
    if failures:
        lines += ["", "Failures (counted as ROC-AUC 0): " + " — ".join(failures) + "."]
    return lines


def run() -> str:
    with one_cpu_thread():
        summary = summarize(measure(DETECTORS))
        seeded = summarize(measure({seed: seeded_default(seed) for seed in MODEL_SEEDS}))
        candidates = measure_candidates()
        design = measure_design()
    default = summary["deepae default"]
    best_rank = min(s["rank"] for s in summary.values())
    best_auc = max(s["auc"] for s in summary.values())
    verdict = (
        f"deepae default: mean ROC-AUC on all 30 sets {default['auc']:.3f} (best of "
        f"all: {'yes' if default['auc'] == best_auc else 'no'}), mean rank "
        f"{default['rank']:.2f} (best of all: {'yes' if default['rank'] == best_rank else 'no'}), "
        f"time {default['seconds'] / summary['PyOD AutoEncoder']['seconds']:.2f}× PyOD "
        f"AutoEncoder's (goal ≤ {GOALS['time_vs_pyod_ae']})."
    )
    model_seeds = [default["auc"]] + [seeded[seed]["auc"] for seed in MODEL_SEEDS]
    best_other = max(s["auc"] for d, s in summary.items() if d != "deepae default")
    spread = (
        f"The default detector's model seed (`random_state`, 0 above) moves these figures: "
        f"with seeds 0 to {MODEL_SEEDS[-1]} its mean ROC-AUC is "
        f"{', '.join(f'{auc:.3f}' for auc in model_seeds)} (mean {np.mean(model_seeds):.3f}); "
        f"the best other detector's is {best_other:.3f}."
    )
    return "\n".join([
        "## Outlier detection on ADBench's 30 classical tabular data sets",
        "",
        "ADBench's unsupervised protocol: at most 10,000 rows (random subsample), stratified "
        "70/30 split, `MinMaxScaler` fitted on the training part, detectors fitted without "
        "labels on the contaminated training part, ROC-AUC and average precision (AP) of the "
        "test scores; seeds 1, 2, 3. Ranks are among the detectors below, per data set and "
        "seed (1 = best). Every detector with its defaults, all in the same run on one CPU "
        "thread. Reproduce: `.venv/bin/python benchmarks/run.py adbench`.",
        "",
        *report(summary),
        "",
        verdict,
        "",
        spread,
        "",
        "### The default chosen on held-out folds of data sets",
        "",
        "The 30 sets are split into five fixed folds of six (`FOLDS` in the bench: ADBench's "
        "numbering order dealt round-robin): " + "; ".join(
            f"{i + 1}: {', '.join(fold)}" for i, fold in enumerate(FOLDS)) + ". For each "
        "fold, the configuration with the best mean ROC-AUC on the other four is scored on "
        "it; the mean over the five held-out folds is the figure to expect on sets the "
        "defaults were not chosen on (the all-sets figures above are optimistic: they are "
        "those of the chosen defaults on the sets they were chosen on). The configurations "
        "(`candidate_scores`, one fit of the default models per set and seed):",
        "",
        *report_candidates(candidates),
        "",
        "### Every default of the tabular detector against the value it was chosen over",
        "",
        "The same protocol and folds for the design audit (`DESIGN_VARIANTS`: the default "
        "detector with one option changed; a single model's figure averaged over its seeds "
        "0–4). A held-out choice that lands on a variant only where it is within the spread "
        "of one model seed (about ±0.002 here) does not change the default.",
        "",
        *report_candidates(design),
    ])


if __name__ == "__main__":
    print(run())
