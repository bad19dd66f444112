"""The demo behind ``deepae demo`` / ``make demo``: the lecture's story on the bundled digits."""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from .linear import PCA, LinearAutoencoder


def principal_angle(A: np.ndarray, B: np.ndarray) -> float:
    """Largest principal angle (radians) between the row spaces of ``A`` and ``B``."""
    Qa, _ = np.linalg.qr(A.T)
    Qb, _ = np.linalg.qr(B.T)
    cosines = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1.0, 1.0)))


def show_linear_autoencoder(X_train: np.ndarray, X_test: np.ndarray) -> None:
    """Print the closed-form linear autoencoder next to PCA for several code sizes."""
    print("Linear autoencoder (top eigenvectors of XᵀX) vs PCA (of the covariance)")
    print(f"{'k':>4} {'linear AE error':>16} {'Σ discarded λ/N':>16} {'PCA error':>10} "
          f"{'PCA var kept':>13}")
    for k in (2, 5, 10, 20, 40):
        linear = LinearAutoencoder(n_components=k).fit(X_train)
        full = LinearAutoencoder().fit(X_train)
        bound = full.explained_variance_[k:].sum()
        pca = PCA(n_components=k).fit(X_train)
        print(f"{k:>4} {linear.reconstruction_error(X_train).mean():>16.3f} {bound:>16.3f} "
              f"{pca.reconstruction_error(X_test).mean():>10.3f} "
              f"{pca.explained_variance_ratio_.sum():>12.1%}")
    keep = PCA(n_components=0.9).fit(X_train)
    print(f"PCA keeps 90% of the variance with {keep.n_components_} of "
          f"{X_train.shape[1]} components.")


def run_demo(seed: int = 0) -> None:
    """Run every part of the demo and print what it shows."""
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, _, _ = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    print(f"deepae demo on scikit-learn's digits: {len(X_train)} train, {len(X_test)} test, "
          f"{X.shape[1]} pixels\n")
    show_linear_autoencoder(X_train, X_test)
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
