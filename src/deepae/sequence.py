"""Scikit-learn faces of the sequence autoencoders: flat windows in and out.

A row is a window of ``n_channels`` channels (``n_features / n_channels`` steps), channel by
channel, as :func:`deepae.timeseries.sliding_windows` cuts it. Both models train with the
library's one training loop on the squared error, with early stopping, and are scored by the
squared reconstruction error (``reconstruction_error``), so each serves alone or as the
window model of :class:`deepae.TimeSeriesOutlierDetector`.
"""

import numbers

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array, check_is_fitted

from . import seqnet
from ._base import TorchEstimatorMixin, resolve_device, seed_from
from ._validation import FLOAT_DTYPES
from .autoencoder import reconstruction_objective
from .checkpoint import checkpointed
from .convolutional import check_architecture
from .persistence import SaveMixin
from .scores import TrainedCoderScoresMixin
from .training import train


class _SequenceAutoencoder(SaveMixin, TrainedCoderScoresMixin, ClassNamePrefixFeaturesOutMixin,
                           TransformerMixin, TorchEstimatorMixin, BaseEstimator):
    """The fit, codes and checks the two sequence autoencoders share."""

    def _check_params(self) -> None:
        check_scalar(self.n_channels, "n_channels", numbers.Integral, min_val=1)
        check_scalar(self.code_size, "code_size", numbers.Integral, min_val=1)
        self._check_training_params()

    def _length(self) -> int:
        if self.n_features_in_ % self.n_channels:
            raise ValueError(f"X has {self.n_features_in_} features, not a multiple of "
                             f"n_channels={self.n_channels}.")
        return self.n_features_in_ // self.n_channels

    @checkpointed
    def fit(self, X, y=None):
        """Train on windows ``X`` of shape (n_windows, n_channels × length)."""
        seed = seed_from(self.random_state)
        device = resolve_device(self.device)
        train_data, valid_data = self._training_sources(X, seed, device)
        self._check_params()
        self.length_ = self._length()
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(device)
        self.history_ = train(self.module_,
                              reconstruction_objective(None, "linear", "squared_error"),
                              train_data, self._training_config(seed, type(self).__name__),
                              valid_data)
        self.n_epochs_ = len(self.history_)
        return self

    def transform(self, X):
        """The code of each window."""
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module.encode(x), X)

    def inverse_transform(self, X):
        """The windows rebuilt from codes of shape (n_windows, code_size)."""
        check_is_fitted(self, "module_")
        codes = check_array(X, dtype=FLOAT_DTYPES)
        return self._run(lambda module, z: module.decode(z), codes)

    @property
    def _n_features_out(self):
        return self.code_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


TRAINING_DOC = """
    optimizer : {"adam", "sgd"}, default="adam"
    learning_rate : float, default=1e-3
    weight_decay : float, default=0.0
    batch_size : int, default=64
    max_epochs : int, default=50
    early_stopping : bool, default=True
    validation_fraction : float, default=0.1
    patience : int, default=5
    random_state : int, RandomState or None, default=None
    device : str or torch.device, default="auto"
    verbose : int, default=0
    checkpoint : str, path or None, default=None
        The training loop's settings and checkpoints, as for :class:`deepae.Autoencoder`.

    Attributes
    ----------
    module_ : torch module
    length_ : int
        Steps per window.
    history_ : list of dict
    n_epochs_, n_features_in_ : int
"""


class ConvolutionalSequenceAutoencoder(_SequenceAutoencoder):
    __doc__ = """1-D convolutional autoencoder of windows, channels as channels.

    Stride-2 convolutions along time (ReLU), a dense code, and the mirrored transposed
    convolutions back to the window's exact length (:class:`deepae.seqnet.Conv1dAutoencoder`).

    Parameters
    ----------
    n_channels : int, default=1
        Channels per window; a row holds ``n_channels × length`` values, channel by channel.
    code_size : int, default=16
    channels : tuple of int, default=(32, 32)
        Output channels of each strided convolution.
    kernel_size : int, default=5
        Odd kernel length.""" + TRAINING_DOC

    def __init__(self, n_channels=1, code_size=16, channels=(32, 32), kernel_size=5,
                 optimizer="adam", learning_rate=1e-3, weight_decay=0.0, batch_size=64,
                 max_epochs=50, early_stopping=True, validation_fraction=0.1, patience=5,
                 random_state=None, device="auto", verbose=0, checkpoint=None):
        self.n_channels = n_channels
        self.code_size = code_size
        self.channels = channels
        self.kernel_size = kernel_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.checkpoint = checkpoint

    def _check_params(self) -> None:
        check_architecture(self.channels, self.kernel_size, self.code_size)
        super()._check_params()

    def _new_module(self) -> seqnet.Conv1dAutoencoder:
        channels = check_architecture(self.channels, self.kernel_size, self.code_size)
        return seqnet.Conv1dAutoencoder(int(self.n_channels), self._length(), channels,
                                        int(self.kernel_size), int(self.code_size))


class RecurrentSequenceAutoencoder(_SequenceAutoencoder):
    __doc__ = """GRU encoder–decoder of windows.

    The encoder GRU reads the window step by step; a dense layer maps its last state to the
    code; the decoder GRU unrolls from the code for the window's length, feeding back its
    own output (:class:`deepae.seqnet.RecurrentAutoencoder`).

    Parameters
    ----------
    n_channels : int, default=1
        Channels per window; a row holds ``n_channels × length`` values, channel by channel.
    code_size : int, default=16
    hidden_size : int, default=32
        Units of both GRUs.""" + TRAINING_DOC

    def __init__(self, n_channels=1, code_size=16, hidden_size=32, optimizer="adam",
                 learning_rate=1e-3, weight_decay=0.0, batch_size=64, max_epochs=50,
                 early_stopping=True, validation_fraction=0.1, patience=5, random_state=None,
                 device="auto", verbose=0, checkpoint=None):
        self.n_channels = n_channels
        self.code_size = code_size
        self.hidden_size = hidden_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.checkpoint = checkpoint

    def _check_params(self) -> None:
        check_scalar(self.hidden_size, "hidden_size", numbers.Integral, min_val=1)
        super()._check_params()

    def _new_module(self) -> seqnet.RecurrentAutoencoder:
        return seqnet.RecurrentAutoencoder(int(self.n_channels), self._length(),
                                           int(self.hidden_size), int(self.code_size))
