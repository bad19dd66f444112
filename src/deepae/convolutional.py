"""Scikit-learn face of the convolutional autoencoder: images kept as images inside, flat rows
of pixels in and out."""

import numbers

import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array, check_is_fitted

from . import convnet, modules
from ._base import TorchEstimatorMixin, output_and_loss, resolve_device, seed_from
from ._validation import FLOAT_DTYPES, check_option, resolve_image_shape
from .autoencoder import make_corruption, reconstruction_objective
from .checkpoint import checkpointed
from .persistence import SaveMixin
from .scores import TrainedCoderScoresMixin
from .training import train


def check_architecture(channels, kernel_size, code_size) -> tuple[int, ...]:
    """The checked ``channels`` as a tuple; ``kernel_size`` must be odd, ``code_size`` ≥ 1."""
    if isinstance(channels, numbers.Integral):
        channels = (channels,)
    if not isinstance(channels, (tuple, list)) or len(channels) == 0:
        raise ValueError(f"channels must name at least one convolution, got {channels!r}.")
    for count in channels:
        check_scalar(count, "channels entry", numbers.Integral, min_val=1)
    check_scalar(kernel_size, "kernel_size", numbers.Integral, min_val=1)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (each stride-2 convolution then halves "
                         f"the image, rounding up), got {kernel_size}.")
    check_scalar(code_size, "code_size", numbers.Integral, min_val=1)
    return tuple(int(c) for c in channels)


class ConvolutionalAutoencoder(SaveMixin, TrainedCoderScoresMixin,
                               ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                               TorchEstimatorMixin, BaseEstimator):
    """Convolutional autoencoder: rows of flat pixels in and out, images inside.

    Each row is read as an image of ``image_shape = (channels, height, width)`` (row-major,
    as ``X.reshape(-1, channels, height, width)`` reads it). The encoder is a stack of
    strided convolutions (stride 2, each halving the height and width, rounding up) and one
    dense layer to a code of ``code_size`` units; the decoder mirrors it with a dense layer
    and transposed convolutions back to the image's exact size. It trains with the library's
    one training loop, with the regularizers of the other models: corruption of the inputs
    (a denoising autoencoder), weight decay and early stopping.

    The defaults were chosen on MNIST-5k (4,000 training / 1,000 test images, code size 30,
    test reconstruction error against PCA-30's, see ``benchmarks/results.md``): channels
    (32, 64) with 5×5 kernels, Adam at 2e-3 in batches of 32, early stopping: 0.34× (about
    35 epochs, 50 s of one CPU core). With 3×3 kernels: 0.38× (40 epochs); batches of 64:
    0.36×; masking noise 0.1: no gain; three convolutions (32, 64, 128) with 3×3 kernels:
    0.35× after 60 epochs (2.5× the time); (16, 32): 0.39×. As the model of
    :class:`deepae.ReconstructionOutlierDetector` (which scores an image model by its
    residual blurred by 1 pixel, relative to the image's energy) on images, its ``"auto"``
    options become ``image_shape`` the pixel grid found, ``code_size=16``, 60 epochs
    without early stopping (:mod:`deepae.outliers.named_models`): a small code rebuilds
    the strokes of the other digits less well; one-class MNIST-5k figures in
    ``benchmarks/results.md`` (section ``conv``).

    Parameters
    ----------
    image_shape : tuple of int, "auto" or None, default="auto"
        ``(channels, height, width)``, or ``(height, width)`` for one channel; its pixels
        must number the features of ``X``. ``None``: one square channel when the number of
        features is a square (784 → ``(1, 28, 28)``), else a ``1 × n_features`` strip.
        ``"auto"``: as ``None``; as the model of :class:`deepae.ReconstructionOutlierDetector`,
        the pixel grid the detector finds.
    code_size : int or "auto", default="auto"
        Units of the (dense) code. ``"auto"``: 30; as the detector's model on images, the
        detector sets it (see ``image_shape``).
    channels : tuple of int, default=(32, 64)
        Output channels of each strided convolution (the decoder mirrors them).
    kernel_size : int, default=5
        Odd side of the square kernels.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default="relu"
        Activation after each convolution and the decoder's dense layer.
    code_activation : {"linear", "relu", "tanh", "sigmoid"}, default="linear"
    output_activation : {"auto", "linear", "sigmoid"}, default="auto"
        ``auto``: ``sigmoid`` when all the training data lie in [0, 1], else ``linear``.
    loss : {"auto", "squared_error", "binary_cross_entropy"}, default="auto"
        ``auto``: cross-entropy with a sigmoid output on data in [0, 1], else the squared
        error. ``reconstruction_error`` is the squared error whatever the training loss.
    noise : {None, "masking", "gaussian", "salt_and_pepper"}, default=None
        Corruption of the training inputs (a denoising autoencoder).
    noise_level : float, default=0.0
        As for :class:`deepae.Autoencoder`.
    optimizer : {"adam", "sgd"}, default="adam"
    learning_rate : float, default=2e-3
    weight_decay : float, default=0.0
        L2 penalty on the weights (convolution kernels and dense matrices, not the biases).
    batch_size : int, default=32
    max_epochs : int or "auto", default="auto"
        ``"auto"``: 100; as the detector's model on images, the detector sets it.
    early_stopping : bool or "auto", default="auto"
        ``"auto"``: True; as the detector's model on images, the detector sets it.
    validation_fraction : float, default=0.1
    patience : int, default=10
    random_state : int, RandomState or None, default=None
    device : str or torch.device, default="auto"
    verbose : int, default=0
    checkpoint : str, path or None, default=None
        See :class:`deepae.Autoencoder` for the training parameters and the data sources
        ``fit`` accepts (arrays, memory-mapped ``.npy``, re-iterable batches).

    Attributes
    ----------
    module_ : deepae.convnet.ConvAutoencoder
        The trained torch module.
    image_shape_ : tuple of int
        ``(channels, height, width)`` used (``None`` resolved).
    output_activation_, loss_ : str
        The output activation and loss used (``auto`` resolved).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``seconds``.
    n_epochs_ : int
    n_features_in_ : int
    """

    def __init__(
        self,
        image_shape="auto",
        code_size="auto",
        channels=(32, 64),
        kernel_size=5,
        activation="relu",
        code_activation="linear",
        output_activation="auto",
        loss="auto",
        noise=None,
        noise_level=0.0,
        optimizer="adam",
        learning_rate=2e-3,
        weight_decay=0.0,
        batch_size=32,
        max_epochs="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        patience=10,
        random_state=None,
        device="auto",
        verbose=0,
        checkpoint=None,
    ):
        self.image_shape = image_shape
        self.code_size = code_size
        self.channels = channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.noise = noise
        self.noise_level = noise_level
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
        check_architecture(self.channels, self.kernel_size, self._code_size())
        check_option("activation", self.activation, tuple(modules.ACTIVATIONS))
        check_option("code_activation", self.code_activation, tuple(modules.ACTIVATIONS))
        check_option("output_activation", self.output_activation,
                     ("auto", *modules.OUTPUT_ACTIVATIONS))
        check_option("loss", self.loss, ("auto", *modules.LOSSES))
        self._check_training_params()

    @checkpointed
    def fit(self, X, y=None):
        """Train on ``X`` of shape (n_samples, channels × height × width); ``y`` is ignored.

        ``X`` may be an array, a memory-mapped ``.npy`` or a re-iterable of batches, as for
        :meth:`deepae.Autoencoder.fit`; under a process group it is this rank's shard.
        """
        seed = seed_from(self.random_state)
        device = resolve_device(self.device)
        train_data, valid_data = self._training_sources(X, seed, device)
        self._check_params()
        self.image_shape_ = resolve_image_shape(self.image_shape, self.n_features_in_)
        self.output_activation_, self.loss_ = output_and_loss(
            self.output_activation, self.loss, (train_data, valid_data))
        corruption = make_corruption(self.noise, self.noise_level, train_data)
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(device)
        self.history_ = train(
            self.module_,
            reconstruction_objective(corruption, self.output_activation_, self.loss_),
            train_data,
            self._training_config(seed, type(self).__name__),
            valid_data,
        )
        self.n_epochs_ = len(self.history_)
        return self

    def _new_module(self) -> convnet.ConvAutoencoder:
        """An untrained module of this estimator's architecture (needs ``image_shape_`` and
        ``output_activation_``)."""
        return convnet.ConvAutoencoder(
            resolve_image_shape(self.image_shape_, self.n_features_in_),
            check_architecture(self.channels, self.kernel_size, self._code_size()),
            int(self.kernel_size), int(self._code_size()), self.activation,
            self.code_activation, self.output_activation_,
        )

    def _code_size(self):
        """``code_size`` with ``"auto"`` resolved."""
        return 30 if isinstance(self.code_size, str) and self.code_size == "auto" \
            else self.code_size

    def _auto(self) -> dict:
        """``max_epochs="auto"``: 100 (the detector sets its own on images)."""
        return {"max_epochs": 100}

    def _new_encoder(self, n_features: int) -> convnet.ConvEncoder:
        """An untrained encoder of this architecture for rows of ``n_features`` pixels (the
        first stage of a :class:`deepae.DeepClassifier` or :class:`deepae.DeepRegressor`)."""
        self._check_params()
        return convnet.ConvEncoder(
            resolve_image_shape(self.image_shape, n_features),
            check_architecture(self.channels, self.kernel_size, self._code_size()),
            int(self.kernel_size), int(self._code_size()), self.activation,
            self.code_activation,
        )

    def transform(self, X):
        """The code of each row."""
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module.encode(x), X)

    def inverse_transform(self, X):
        """Decode codes of shape (n_samples, code_size) to reconstructed rows of pixels."""
        check_is_fitted(self, "module_")
        codes = check_array(X, dtype=FLOAT_DTYPES)
        if codes.shape[1] != self.module_.encoder.code_size:
            raise ValueError(f"X has {codes.shape[1]} code columns, but {type(self).__name__} "
                             f"has code_size={self.module_.encoder.code_size}.")
        return self._run(lambda module, z: module.decode(z), codes)

    @property
    def _n_features_out(self):
        return self.module_.encoder.code_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
