"""deepae: deep learning with autoencoders on PyTorch, with the scikit-learn estimator API.

The public names are imported on first use (module ``__getattr__``), so that ``import
deepae`` and the command line's ``--help``, ``--version`` and ``info`` need neither torch nor
scikit-learn; ``from deepae import PCA`` works as usual.
"""

import importlib

#: The version of the installed deepae (PEP 440).
__version__ = "0.1.0"

#: Public name -> the module that defines it.
_HOMES = {
    "PCA": "linear",
    "LinearAutoencoder": "linear",
    "Autoencoder": "autoencoder",
    "DenoisingAutoencoder": "autoencoder",
    "StackedAutoencoder": "deep",
    "DeepClassifier": "supervised",
    "DeepRegressor": "supervised",
    "ReconstructionOutlierDetector": "outliers",
    "RBM": "rbm",
    "VariationalAutoencoder": "vae",
    "ConvolutionalAutoencoder": "convolutional",
    "CheckpointError": "checkpoint",
    "TableEncoder": "tabular",
    "TableImputer": "imputer",
    "ConvolutionalSequenceAutoencoder": "sequence",
    "RecurrentSequenceAutoencoder": "sequence",
    "TimeSeriesOutlierDetector": "timeseries",
    "SparseRows": "sparsefile",
    "load": "persistence",
    "report": "model_report",
}

__all__ = [
    "PCA",
    "RBM",
    "Autoencoder",
    "CheckpointError",
    "ConvolutionalAutoencoder",
    "ConvolutionalSequenceAutoencoder",
    "DeepClassifier",
    "DeepRegressor",
    "DenoisingAutoencoder",
    "LinearAutoencoder",
    "ReconstructionOutlierDetector",
    "RecurrentSequenceAutoencoder",
    "SparseRows",
    "StackedAutoencoder",
    "TableEncoder",
    "TableImputer",
    "TimeSeriesOutlierDetector",
    "VariationalAutoencoder",
    "__version__",
    "distributed",
    "load",
    "report",
]


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    elif name == "distributed":
        value = importlib.import_module(".distributed", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
