"""deepae: deep learning with autoencoders on PyTorch, with the scikit-learn estimator API."""

from .linear import PCA, LinearAutoencoder

__version__ = "0.1.0"

__all__ = ["PCA", "LinearAutoencoder", "__version__"]
