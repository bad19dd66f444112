"""Deep autoencoder (256, 64, 30) with RBM pretraining against PCA-30 on MNIST-5k.

Hinton & Salakhutdinov's recipe: a stack of RBMs (binary sigmoid layers, the top one with
Gaussian hidden units, so the code is linear) unrolled into an encoder and decoder, then
fine-tuned by backpropagation: ``StackedAutoencoder((256, 64, 30), pretraining="rbm")``, all
else at its defaults (the ``auto`` parameters pick the units and training lengths). Next to
it: the same with the autoencoders' training settings, without weight decay, the sigmoid
network at random init and with denoising pretraining, and StackedAutoencoder's defaults
(ReLU, denoising). Test reconstruction error (squared, per image) over PCA-30's. Goal:
≤ 0.55× with RBM pretraining.
Seeds from DEEPAE_BENCH_SEEDS (default "0,1,2"), DEEPAE_BENCH_JOBS of them at a time
(default 1; in threads, one torch thread each).
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from bench_deep import split

from deepae import PCA, StackedAutoencoder

SEEDS = [int(s) for s in os.environ.get("DEEPAE_BENCH_SEEDS", "0,1,2").split(",")]
JOBS = int(os.environ.get("DEEPAE_BENCH_JOBS", "1"))  # seeds fitted at a time
MODELS = {
    'pretraining="rbm"': dict(pretraining="rbm"),
    'pretraining="rbm", pretrain_epochs=30, learning_rate=0.001, max_epochs=300, patience=10':
        dict(pretraining="rbm", pretrain_epochs=30, learning_rate=0.001, max_epochs=300,
             patience=10),
    'pretraining="rbm", weight_decay=0': dict(pretraining="rbm", weight_decay=0.0),
    'activation="sigmoid", pretraining=None': dict(activation="sigmoid", pretraining=None),
    'activation="sigmoid", pretraining="denoising"': dict(activation="sigmoid"),
    "defaults (ReLU, denoising)": {},
}


def measure_seed(seed: int) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Per model, (test error / PCA's, train error / PCA's, seconds) on this seed's split;
    PCA's test error."""
    X, X_test, _, _ = split(seed)
    pca = PCA(30).fit(X)
    pca_test, pca_train = (pca.reconstruction_error(rows).mean() for rows in (X_test, X))
    results = {}
    for name, params in MODELS.items():
        start = time.perf_counter()
        model = StackedAutoencoder((256, 64, 30), random_state=seed, device="cpu",
                                   **params).fit(X)
        seconds = time.perf_counter() - start
        results[name] = (model.reconstruction_error(X_test).mean() / pca_test,
                         model.reconstruction_error(X).mean() / pca_train, seconds)
    return results, pca_test


def measure() -> tuple[dict[str, list[tuple[float, float, float]]], list[float]]:
    """Per model, one (test error / PCA's, train error / PCA's, seconds) per seed; PCA's
    test errors. ``JOBS`` seeds at a time, in threads (torch releases the GIL in its
    kernels)."""
    with ThreadPoolExecutor(JOBS) as pool:
        per_seed = list(pool.map(measure_seed, SEEDS))
    results = {name: [seed_results[name] for seed_results, _ in per_seed] for name in MODELS}
    return results, [pca_test for _, pca_test in per_seed]


def run() -> str:
    torch.set_num_threads(1)
    results, pca_errors = measure()
    rows = []
    for name, values in results.items():
        test, train, seconds = (np.array(column) for column in zip(*values, strict=True))
        rows.append(f"| StackedAutoencoder((256, 64, 30), {name}) | {test.mean():.3f}× "
                    f"({test.min():.3f}–{test.max():.3f}) | {train.mean():.2f}× | "
                    f"{seconds.mean():.0f} s |")
    return "\n".join([
        "## Deep autoencoder with RBM pretraining vs PCA-30 (MNIST-5k)",
        "",
        "Same splits as the deep section (seeds "
        f"{', '.join(map(str, SEEDS))}); PCA(30)'s test error {np.mean(pca_errors):.2f} "
        "(Σ squares per image). `pretraining=\"rbm\"` with every other parameter at its "
        "default: its `auto` parameters make the network sigmoid (the linear code's RBM "
        "has Gaussian hidden units), train 60 CD epochs a layer, then fine-tune at "
        "learning rate 0.003 with weight decay 0.001 for at most 600 epochs, patience 25 "
        "(Adam, cross-entropy, early stopping). The second row sets the autoencoders' "
        "pretraining epochs, learning rate, epochs and patience instead; the third shows "
        "what the weight decay fixes. Errors are the models' over "
        "PCA-30's on the same images (mean, range over seeds). One torch thread "
        f"({JOBS} seed(s) at a time); the machine was shared with other jobs, so fit times "
        "are rough.",
        "",
        "| model | test error vs PCA | train error vs PCA | fit time |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "Goal: ≤ 0.55× PCA-30's test error with `pretraining=\"rbm\"` and the other "
        "parameters at their defaults. "
        "Reproduce: `.venv/bin/python benchmarks/run.py rbm_autoencoder`.",
    ])
