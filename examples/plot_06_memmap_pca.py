"""
PCA of a memory-mapped file
===========================

:class:`deepae.PCA` and :class:`deepae.LinearAutoencoder` fit in **one exact pass** over
the data: they accumulate

.. math::

    N, \\qquad \\textstyle\\sum_n x_n, \\qquad X^\\top X = \\sum_n x_n x_n^\\top

chunk by chunk (in float64), then solve the :math:`d \\times d` eigenproblem. Memory does
not grow with :math:`N`: a memory-mapped ``.npy`` (``np.load(path, mmap_mode="r")``) is read
a window at a time, and ``partial_fit`` on a stream of batches gives the same model. Here a
300,000 × 50 file (60 MB) is written chunk by chunk to a temporary folder, then fitted
without ever being loaded whole.
"""

# %%
# A file larger than we care to load
# ----------------------------------
# Rows ``x = z A + noise`` with a 5-dimensional latent ``z``: the covariance has five large
# eigenvalues, known in advance, above a floor of ``0.1²``.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import deepae

rng = np.random.default_rng(0)
n, d, chunk = 300_000, 50, 50_000
A = np.linalg.qr(rng.normal(size=(d, 5)))[0].T * np.array([[5.0], [4.0], [3.0], [2.0], [1.0]])
folder = tempfile.TemporaryDirectory()
path = Path(folder.name) / "big.npy"
out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
for start in range(0, n, chunk):
    rows = min(chunk, n - start)
    out[start:start + rows] = rng.normal(size=(rows, 5)) @ A + 0.1 * rng.normal(size=(rows, d))
out.flush()
del out
print(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB")

# %%
# One pass over the memory-mapped file
# ------------------------------------
X = np.load(path, mmap_mode="r")
pca = deepae.PCA(n_components=10).fit(X)
print("explained variance:", np.round(pca.explained_variance_, 3))
true = np.concatenate([np.array([5.0, 4.0, 3.0, 2.0, 1.0]) ** 2 + 0.01, np.full(5, 0.01)])
print("expected          :", np.round(true, 3))

# %%
# The same model from a stream of batches
# ---------------------------------------
# ``partial_fit`` on 30 batches read one after the other (as from a database or a network
# reader) accumulates the same sums: the components agree to rounding.
stream = deepae.PCA(n_components=10)
for start in range(0, n, 10_000):
    stream.partial_fit(np.asarray(X[start:start + 10_000]))
print("largest difference of explained variances:",
      np.abs(stream.explained_variance_ - pca.explained_variance_).max())
cosines = np.abs(np.sum(stream.components_[:5] * pca.components_[:5], axis=1))
print("|cos| between the first five components:", np.round(cosines, 9))

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.semilogy(np.arange(1, 11), pca.explained_variance_, "o", label="PCA of the mapped file")
ax.semilogy(np.arange(1, 11), stream.explained_variance_, "x", ms=10, label="partial_fit stream")
ax.semilogy(np.arange(1, 11), true, "k_", ms=20, label="expected")
ax.set(xlabel="component", ylabel="explained variance")
ax.legend()
fig.tight_layout()
plt.show()
del X
folder.cleanup()
