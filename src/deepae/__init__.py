"""deepae: deep learning with autoencoders on PyTorch, with the scikit-learn estimator API."""

from .autoencoder import Autoencoder, DenoisingAutoencoder
from .linear import PCA, LinearAutoencoder

__version__ = "0.1.0"

__all__ = ["PCA", "Autoencoder", "DenoisingAutoencoder", "LinearAutoencoder", "__version__"]
