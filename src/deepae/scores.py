"""Scores shared by every model with a ``reconstruction_error``: higher means more typical."""

import numpy as np


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
