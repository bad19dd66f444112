"""Outlier detection from the reconstruction error of an autoencoder.

Where a model trained on the data rebuilds a sample well (``g(x) ≈ x``) the data is dense;
where the reconstruction is poor, the sample is atypical. :class:`ReconstructionOutlierDetector`
turns the reconstruction error of any deepae model into scikit-learn's outlier-detector API
(``score_samples``, ``decision_function``, ``predict``, ``fit_predict``) with PyOD's fitted
attributes (``decision_scores_``, ``threshold_``, ``labels_``) on top.

The package's modules: :mod:`.detector` (the estimator), :mod:`.default_model` (what
``model=None`` fits), :mod:`.named_models` (``model="vae"``, ``"conv"``, and the ``"auto"``
options of a given model resolved for images), :mod:`.data_kind` (table or image),
:mod:`.scaling` and :mod:`.density` (the statistics the score is built from).
"""

from .data_kind import grid_smoothness_ratio, image_grid, is_tabular
from .default_model import default_model
from .detector import ReconstructionOutlierDetector, scores_by_likelihood

__all__ = [
    "ReconstructionOutlierDetector",
    "default_model",
    "grid_smoothness_ratio",
    "image_grid",
    "is_tabular",
    "scores_by_likelihood",
]
