"""Scores shared by every model with a ``reconstruction_error``: higher means more typical."""

import numpy as np
from sklearn.utils.validation import check_is_fitted


class ReconstructionScoresMixin:
    """``score_samples`` and ``score`` from the model's ``reconstruction_error(X)``."""

    def score_samples(self, X) -> np.ndarray:
        """Minus the reconstruction error: higher means more typical."""
        return -self.reconstruction_error(X)

    def _export_module(self):
        """The torch module of ONNX export: ``transform``, ``reconstruction_error`` and
        ``score_samples`` from the model's ``_coder()`` (a module with encode and decode)."""
        from .export import ReconstructionOutputs

        return ReconstructionOutputs(self._coder())

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples` (minus the mean squared reconstruction error)."""
        return float(np.mean(self.score_samples(X)))


class TrainedCoderScoresMixin(ReconstructionScoresMixin):
    """The scores of a gradient-trained autoencoder whose ``module_`` has ``encode`` and
    ``decode`` (and whose ``_apply`` runs a function of the module and a batch)."""

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample squared error ``‖x − g(x)‖²`` of the (clean) input's reconstruction
        (of a table: the loss per column type summed, see :mod:`deepae.tabular.loss`)."""
        check_is_fitted(self, "module_")
        if getattr(self, "encoder_", None) is not None:
            from .tabular.estimators import table_errors

            return table_errors(self, X)[0].sum(axis=1)
        return self._apply(lambda m, x: (m.decode(m.encode(x)) - x).square().sum(1), X)

    def _coder(self):
        """The trained module (``encode`` and ``decode``), for ONNX export."""
        check_is_fitted(self, "module_")
        return self.module_
