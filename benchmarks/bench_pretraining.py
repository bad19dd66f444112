"""Pretraining alone on MNIST-5k: every kind of layer-wise pretraining against random init.

DeepClassifier((500, 500)) with pretraining None / "autoencoder" / "denoising" / "sparse" /
"contractive" / "rbm", everything else at its defaults except the consistency term, which is
off (``consistency=0``), so that the 3,500 unlabeled images of the 500-label regime serve
in pretraining only: the table shows the lecture's effect of pretraining, nothing else.
Goals: each pretraining beats random init at 500 labels; contractive and RBM within 0.5
points of denoising or better. Seeds from DEEPAE_BENCH_SEEDS (default "0,1,2").
"""

import os
import time

import numpy as np
import torch
from bench_deep import hide_labels, split

from deepae import DeepClassifier

SEEDS = [int(s) for s in os.environ.get("DEEPAE_BENCH_SEEDS", "0,1,2").split(",")]
PRETRAININGS = [None, "autoencoder", "denoising", "sparse", "contractive", "rbm"]
REGIMES = ("500 labels", "4,000 labels")


def fit_error(pretraining, seed: int, X, y, X_test, y_test) -> tuple[float, float]:
    """Test error and fit seconds of one classifier."""
    model = DeepClassifier(pretraining=pretraining, consistency=0.0, random_state=seed,
                           device="cpu")
    start = time.perf_counter()
    model.fit(X, y)
    return 1 - model.score(X_test, y_test), time.perf_counter() - start


def measure() -> dict[tuple[str | None, str], list[tuple[float, float]]]:
    """(pretraining, regime) → one (test error, seconds) per seed."""
    results: dict[tuple[str | None, str], list[tuple[float, float]]] = {}
    for seed in SEEDS:
        X, X_test, y, y_test = split(seed)
        for regime, labels in zip(REGIMES, (hide_labels(y, seed), y), strict=True):
            for pretraining in PRETRAININGS:
                results.setdefault((pretraining, regime), []).append(
                    fit_error(pretraining, seed, X, labels, X_test, y_test))
    return results


def table(results) -> list[str]:
    """Markdown rows: mean ± std test error per regime, the seeds' errors, mean fit time."""
    lines = ["| pretraining | 500 labels: test error | 4,000 labels: test error | "
             "per seed (500 / 4,000) | fit time (500 / 4,000) |",
             "| --- | ---: | ---: | --- | ---: |"]
    for pretraining in PRETRAININGS:
        errors = [100 * np.array([e for e, _ in results[(pretraining, r)]]) for r in REGIMES]
        times = [np.mean([t for _, t in results[(pretraining, r)]]) for r in REGIMES]
        seeds = " / ".join(", ".join(f"{e:.1f}" for e in each) for each in errors)
        name = "None (random init)" if pretraining is None else f'"{pretraining}"'
        lines.append(f"| {name} | {errors[0].mean():.1f}% ± {errors[0].std():.1f} | "
                     f"{errors[1].mean():.1f}% ± {errors[1].std():.1f} | {seeds} | "
                     f"{times[0]:.0f} s / {times[1]:.0f} s |")
    return lines


def verdict(results) -> str:
    """The goals, met or not, from the mean errors at 500 labels."""
    mean = {p: 100 * np.mean([e for e, _ in results[(p, REGIMES[0])]]) for p in PRETRAININGS}
    beaten = [p for p in PRETRAININGS[1:] if mean[p] >= mean[None]]
    close = {p: mean[p] - mean["denoising"] for p in ("contractive", "rbm")}
    return (f"Every pretraining beats random init at 500 labels: "
            f"{'met' if not beaten else 'not met (' + ', '.join(beaten) + ')'}. "
            "Contractive and RBM against denoising at 500 labels: "
            + ", ".join(f"{p} {gap:+.1f} points" for p, gap in close.items())
            + f" (goal ≤ +0.5: {'met' if max(close.values()) <= 0.5 else 'not met'}).")


def run() -> str:
    torch.set_num_threads(1)
    results = measure()
    return "\n".join([
        "## Pretraining alone: random init vs six kinds of layer-wise pretraining (MNIST-5k)",
        "",
        "DeepClassifier((500, 500)) at its defaults with `consistency=0` (the 3,500 unlabeled "
        "images of the 500-label regime serve in pretraining only; fine-tuning sees the "
        "labeled images alone), `pretraining=` as named; same splits as the deep section "
        f"(seeds {', '.join(map(str, SEEDS))}: split, label subset and model seed). One "
        "torch thread; the machine was shared with other jobs, so fit times are rough.",
        "",
        *table(results),
        "",
        verdict(results),
        "",
        "Reproduce: `.venv/bin/python benchmarks/run.py pretraining`.",
    ])


if __name__ == "__main__":
    print(run())
