"""
Outliers in the Wisconsin breast-cancer data, explained
=======================================================

An autoencoder trained on unlabeled data rebuilds well what is typical of it,
:math:`g(x) \\approx x` where the data are dense, and poorly what is atypical. The
reconstruction error is then an outlier score,

.. math::

    s(x) = \\lVert z - g(z) \\rVert^2 = \\sum_{i=1}^{d} \\big(z_i - g_i(z)\\big)^2,

with :math:`z` the standardized row, and its terms say *which* features make a row
atypical. (On tabular data the default detector divides each term by that feature's mean
error on the training rows and adds the Mahalanobis distance of the row's code: a row can be
atypical off the data's manifold or on it.)
:class:`deepae.ReconstructionOutlierDetector` is fitted here without labels on ADBench's
``breastw`` (683 biopsies × 9 cell measurements from 1 to 10; the 239 malignant ones are
ADBench's outliers), which ships with deepae's tests (``tests/data/breastw.npz``; the script
reads it relative to the ``examples`` folder). The labels are used only to judge the scores.
"""

# %%
# Fit without labels, judge with them
# -----------------------------------
# The default detector on tabular data standardizes the columns, trains with a trimmed loss
# (the worst-rebuilt rows of each batch do not pull the model towards them) and adds a
# Gaussian density of the codes. scikit-learn's ``IsolationForest`` is the reference.
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from deepae import ReconstructionOutlierDetector

torch.set_num_threads(1)
FEATURES = ["clump thickness", "cell size uniformity", "cell shape uniformity",
            "marginal adhesion", "epithelial cell size", "bare nuclei", "bland chromatin",
            "normal nucleoli", "mitoses"]
with np.load("../tests/data/breastw.npz") as data:
    X, y = data["X"].astype(float), data["y"]

detector = ReconstructionOutlierDetector(contamination=0.35).fit(X)
scores = -detector.score_samples(X)  # higher = more atypical
forest = -IsolationForest(random_state=0).fit(X).score_samples(X)
print(f"ROC-AUC of the malignant rows: deepae {roc_auc_score(y, scores):.3f}, "
      f"IsolationForest {roc_auc_score(y, forest):.3f}")
flagged = detector.predict(X) == -1
print(f"{flagged.sum()} rows flagged (contamination=0.35), "
      f"{y[flagged].mean():.0%} of them malignant")

fig, ax = plt.subplots(figsize=(6, 3.4))
bins = np.linspace(scores.min(), np.quantile(scores, 0.99), 40)
ax.hist(scores[y == 0], bins=bins, alpha=0.6, label="benign (inliers)")
ax.hist(scores[y == 1], bins=bins, alpha=0.6, label="malignant (ADBench's outliers)")
ax.axvline(-detector.offset_, color="k", ls="--", label="threshold")
ax.set(xlabel="outlier score", ylabel="rows")
ax.legend()
fig.tight_layout()

# %%
# The most atypical rows, feature by feature
# ------------------------------------------
# ``reconstruction_error(X, per_feature=True)`` splits each row's error over its features
# (in standardized units). For the six highest-scoring rows: their raw measurements, and
# the share of the error each feature contributes.
top = np.argsort(scores)[::-1][:6]
parts = detector.reconstruction_error(X[top], per_feature=True)
shares = parts / parts.sum(axis=1, keepdims=True)
for row, share in zip(top, shares, strict=True):
    main = np.argsort(share)[::-1][:2]
    print(f"row {row:3} (label {y[row]}): score {scores[row]:6.1f}; values "
          f"{X[row].astype(int).tolist()}; mostly "
          + ", ".join(f"{FEATURES[i]} ({share[i]:.0%})" for i in main))

fig, ax = plt.subplots(figsize=(8, 3.2))
image = ax.imshow(shares, cmap="viridis", vmin=0)
ax.set_xticks(range(len(FEATURES)), FEATURES, rotation=35, ha="right")
ax.set_yticks(range(len(top)), [f"row {r} ({'malignant' if y[r] else 'benign'})" for r in top])
for (i, j), value in np.ndenumerate(X[top]):
    ax.text(j, i, int(value), ha="center", va="center",
            color="w" if shares[i, j] < 0.5 else "k")
fig.colorbar(image, label="share of the row's error")
ax.set_title("raw values of the most atypical rows")
fig.tight_layout()
plt.show()
