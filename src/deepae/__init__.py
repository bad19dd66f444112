"""deepae: deep learning with autoencoders on PyTorch, with the scikit-learn estimator API."""

from . import distributed
from .autoencoder import Autoencoder, DenoisingAutoencoder
from .deep import DeepClassifier, DeepRegressor, StackedAutoencoder
from .linear import PCA, LinearAutoencoder
from .outliers import ReconstructionOutlierDetector
from .persistence import load
from .rbm import RBM

__version__ = "0.1.0"

__all__ = [
    "PCA",
    "RBM",
    "Autoencoder",
    "DeepClassifier",
    "DeepRegressor",
    "DenoisingAutoencoder",
    "LinearAutoencoder",
    "ReconstructionOutlierDetector",
    "StackedAutoencoder",
    "__version__",
    "distributed",
    "load",
]
