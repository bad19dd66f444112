"""
The linear autoencoder is PCA, down to the Eckart–Young bound
==============================================================

Drop the ``tanh`` and the biases of an autoencoder and tie its weights: the network is
:math:`h(x) = W W^\\top x` with :math:`W` of shape :math:`d \\times \\tilde d`. Its training
error

.. math::

    E_{in}(W) = \\frac{1}{N} \\sum_{n=1}^{N} \\lVert x_n - W W^\\top x_n \\rVert^2

is minimized by the top-:math:`\\tilde d` eigenvectors of :math:`X^\\top X`, and the minimum is
the sum of the discarded eigenvalues divided by :math:`N` (Eckart–Young: no rank-:math:`\\tilde
d` linear map does better). :class:`deepae.LinearAutoencoder` solves it in closed form;
an :class:`deepae.Autoencoder` with ``activation="linear", tied=True, bias=False`` trained by
gradient descent must reach the same error and the same subspace. :class:`deepae.PCA` is the
same after centering.
"""

# %%
# The closed form meets the bound for every code size
# ----------------------------------------------------
# The 8×8 digits, pixels scaled to [0, 1]. The eigenvalues of :math:`X^\top X / N` come
# from numpy, independently of deepae.
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.linalg import subspace_angles
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA

from deepae import PCA, Autoencoder, LinearAutoencoder

torch.set_num_threads(1)
X = load_digits().data / 16.0
N, d = X.shape
eigenvalues = np.linalg.eigvalsh(X.T @ X / N)[::-1]  # largest first
bound = eigenvalues.sum() - np.cumsum(eigenvalues)  # discarded sum after keeping k

sizes = np.arange(1, 41)
errors = [LinearAutoencoder(n_components=k).fit(X).reconstruction_error(X).mean()
          for k in sizes]
print(f"largest gap to the bound over k = 1..40: {np.max(np.abs(errors - bound[sizes - 1])):.2e}")

fig, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(sizes, bound[sizes - 1], lw=6, alpha=0.3, label="sum of discarded eigenvalues / N")
ax.plot(sizes, errors, "k.", label="LinearAutoencoder: mean ‖x − WWᵀx‖²")
ax.set(xlabel="code size k", ylabel="mean squared reconstruction error", yscale="log")
ax.legend()
fig.tight_layout()

# %%
# Gradient descent finds the same subspace
# ----------------------------------------
# The lecture's linear autoencoder, trained by mini-batch Adam (no early stopping, so it
# trains every epoch): its error falls to within a few per cent of the bound (never below
# it) and its weight columns span nearly the same subspace as the top eigenvectors (small
# principal angles).
k = 10
closed = LinearAutoencoder(n_components=k).fit(X)
trained = Autoencoder(hidden_size=k, activation="linear", tied=True, bias=False,
                      learning_rate=3e-3, batch_size=128, max_epochs=150,
                      early_stopping=False, random_state=0).fit(X)
angles = np.degrees(subspace_angles(trained.components_.T, closed.components_.T))
print(f"k = {k}: bound {bound[k - 1]:.4f}, closed form "
      f"{closed.reconstruction_error(X).mean():.4f}, gradient "
      f"{trained.reconstruction_error(X).mean():.4f}; largest principal angle "
      f"{angles.max():.2f}°")

fig, ax = plt.subplots(figsize=(6, 3.6))
losses = [epoch["train_loss"] for epoch in trained.history_]
ax.plot(np.arange(1, len(losses) + 1), losses, label="gradient-trained linear autoencoder")
ax.axhline(bound[k - 1], color="k", ls="--", label="Eckart–Young bound")
ax.set(xlabel="epoch", ylabel="training loss (per sample)", yscale="log",
       title=f"k = {k}")
ax.legend()
fig.tight_layout()

# %%
# PCA is the centered linear autoencoder
# --------------------------------------
# Same spectrum as scikit-learn's PCA; the rows of ``components_`` agree up to sign.
ours = PCA(n_components=k).fit(X)
theirs = SklearnPCA(n_components=k).fit(X)
print("explained variance, deepae vs scikit-learn:",
      np.max(np.abs(ours.explained_variance_ - theirs.explained_variance_)))
cosines = np.abs(np.sum(ours.components_ * theirs.components_, axis=1))
print("|cos| between matching components:", np.round(cosines, 6))

fig, axes = plt.subplots(1, k, figsize=(10, 1.4))
for ax, component in zip(axes, ours.components_, strict=True):
    ax.imshow(component.reshape(8, 8), cmap="RdBu_r")
    ax.set_axis_off()
fig.suptitle("PCA components of the 8×8 digits (the code Φ(x) = Wᵀ(x − x̄))")
plt.show()
