"""Deep networks with greedy layer-wise (denoising) pretraining, and the deep autoencoder.

:class:`_DeepMixin` holds what every deep estimator shares: its parameters' checks, the
pretraining of the hidden layers as a stack of autoencoders or RBMs
(:func:`deepae.pretraining.pretrain_layers`) and the fine-tuning of the whole network by
backpropagation with the one training loop. :class:`StackedAutoencoder` (a deep autoencoder)
is here; the supervised networks are in :mod:`deepae.supervised`.
"""

import numbers
from dataclasses import replace

import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array, check_is_fitted

from . import modules
from ._base import TorchEstimatorMixin, output_and_loss, resolve_device, seed_from
from ._validation import FLOAT_DTYPES, check_option, check_X
from .autoencoder import Penalties
from .checkpoint import checkpointed
from .convolutional import ConvolutionalAutoencoder
from .corruption import NOISES
from .data import TensorRows, feature_range
from .persistence import SaveMixin
from .pretraining import RBM_ACTIVATIONS, pretrain_layers, pretrain_rbms
from .scores import TrainedCoderScoresMixin
from .tabular import estimators as tables
from .training import train

PRETRAININGS = ("denoising", "autoencoder", "sparse", "contractive", "rbm", None)
#: Epochs per pretrained layer with ``pretrain_epochs="auto"`` (DeepClassifier,
#: DeepRegressor; StackedAutoencoder's are in :data:`STACKED_AUTO`). CD's updates are small and
#: noisy: on MNIST-5k, DeepClassifier((500, 500)) with 500 labels (consistency off, seeds
#: 0-2) erred 12.7% after 10 RBM epochs a layer, 11.4% after 30, against 11.3% after 10
#: epochs of denoising autoencoders (30 gained those nothing).
AUTO_PRETRAIN_EPOCHS = {"autoencoder": 10, "rbm": 30}
#: StackedAutoencoder's ``"auto"`` parameters by pretraining, measured best on MNIST-5k
#: ((256, 64, 30), seeds 0-2, ``benchmarks/results.md``). ReLU units with autoencoders
#: (0.56× PCA-30's test error with denoising ones). Sigmoid units where the pretraining
#: needs units in (0, 1): RBMs (binary hidden units) and sparse autoencoders (a target mean
#: activation). With RBMs, Hinton & Salakhutdinov's network trained longer: 60 CD epochs a
#: layer, fine-tuning at 3e-3 with weight decay 1e-3 for at most 600 epochs, patience 25
#: (0.495×; with the autoencoders' settings and that weight decay 0.60×, without it 1.00×).
STACKED_AUTO = {
    "autoencoder": dict(activation="relu", pretrain_epochs=30, learning_rate=1e-3,
                        weight_decay=0.0, max_epochs=300, patience=10),
    "rbm": dict(activation="sigmoid", pretrain_epochs=60, learning_rate=3e-3,
                weight_decay=1e-3, max_epochs=600, patience=25),
}
STACKED_AUTO["sparse"] = {**STACKED_AUTO["autoencoder"], "activation": "sigmoid"}


class _DeepMixin(TorchEstimatorMixin):
    """Parameters and pretraining shared by the deep estimators."""

    #: The parameters that name the units of the pretrained layers.
    _unit_parameters = ("activation",)
    #: A table (strings, missing cells) is read through a fitted ``TableEncoder``
    #: (``encoder_``; see :func:`deepae.tabular.estimators.table_numbers`).
    _reads_tables = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # tables (deepae.tabular)
        return tags

    def _auto(self) -> dict:
        """The values of this estimator's ``auto`` parameters, for its pretraining."""
        return {"pretrain_epochs": AUTO_PRETRAIN_EPOCHS[
            "rbm" if self.pretraining == "rbm" else "autoencoder"]}

    def _check_deep_params(self) -> None:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            sizes = (sizes,)
        if len(sizes) == 0:
            raise ValueError("hidden_layer_sizes must name at least one layer, got ().")
        for size in sizes:
            check_scalar(size, "hidden_layer_sizes entry", numbers.Integral, min_val=1)
        check_option("pretraining", self.pretraining, PRETRAININGS)
        check_option("activation", self._setting("activation"), tuple(modules.ACTIVATIONS))
        if self.pretraining == "rbm":
            for name in self._unit_parameters:
                if self._setting(name) not in RBM_ACTIVATIONS:
                    raise ValueError(
                        f"pretraining='rbm' needs sigmoid, tanh or linear units, got "
                        f"{name}={getattr(self, name)!r}: set {name}='sigmoid' (or 'tanh', "
                        f"'linear'){self._auto_hint(name)}.")
        if self.pretraining == "denoising":
            check_option("noise", self.noise, NOISES)
        check_scalar(self._setting("pretrain_epochs"), "pretrain_epochs", numbers.Integral,
                     min_val=1)
        check_scalar(self.pretrain_learning_rate, "pretrain_learning_rate", numbers.Real,
                     min_val=0, include_boundaries="neither")
        check_scalar(self.dropout, "dropout", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        if getattr(self, "encoder", None) is not None:
            checked_encoder(self.encoder)
        self._check_training_params()

    def _auto_hint(self, name: str) -> str:
        """How the ``auto`` value of the parameter ``name`` would fix its error, if it has
        one."""
        return f", or {name}='auto'" if name in self._auto() else ""

    def _sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        return [int(sizes)] if isinstance(sizes, numbers.Integral) else [int(s) for s in sizes]

    def _pretrain(self, data: torch.Tensor, activations: list[str], seed: int,
                  output_activation: str = "linear", loss: str = "squared_error"):
        """Pretrained autoencoders (or None); sets ``pretraining_history_``."""
        self.pretraining_history_ = []
        if self.pretraining is None:
            return None
        _, valid_rows = self._split(len(data), seed)
        config = replace(self._training_config(seed, "pretraining"),
                         max_epochs=int(self._setting("pretrain_epochs")),
                         learning_rate=float(self.pretrain_learning_rate))
        if self.pretraining == "rbm":
            autoencoders, self.pretraining_history_ = pretrain_rbms(
                data, self._sizes(), activations, config, output_activation)
            return autoencoders
        denoising = self.pretraining == "denoising"
        penalties = None
        if self.pretraining in ("sparse", "contractive"):
            sparse = self.pretraining == "sparse"
            if sparse and not set(activations) & set(modules.SPARSE_ACTIVATIONS):
                raise ValueError(f"pretraining='sparse' needs sigmoid or tanh hidden units, "
                                 f"got activation={self.activation!r}: set "
                                 f"activation='sigmoid' (or 'tanh')"
                                 f"{self._auto_hint('activation')}.")
            penalties = Penalties.checked(
                self.sparsity_target, self.sparsity_weight if sparse else 0.0,
                0.0 if sparse else self.contractive_weight, [])
        autoencoders, self.pretraining_history_ = pretrain_layers(
            data, self._sizes(), activations, config,
            None if valid_rows is None else torch.as_tensor(valid_rows, device=data.device),
            noise=self.noise if denoising else None,
            noise_level=self.noise_level if denoising else 0.0,
            output_activation=output_activation, loss=loss, penalties=penalties,
        )
        return autoencoders

    def _fine_tune(self, loss_fn, tensors: tuple[torch.Tensor, ...], seed: int,
                   stratify=None, unlabeled: tuple[torch.Tensor, ...] | None = None) -> None:
        """Train the whole network; ``unlabeled`` rows join the training rows only."""
        train_rows, valid_rows = self._split(len(tensors[0]), seed, stratify)
        train_data = tuple(t[train_rows] for t in tensors)
        if unlabeled is not None:
            train_data = tuple(torch.cat(pair) for pair in zip(train_data, unlabeled,
                                                               strict=True))
        self.history_ = train(
            self.module_, loss_fn, train_data,
            self._training_config(seed, f"fine-tuning {type(self).__name__}"),
            None if valid_rows is None else tuple(t[valid_rows] for t in tensors),
        )
        self.n_epochs_ = len(self.history_)


class StackedAutoencoder(SaveMixin, TrainedCoderScoresMixin, ClassNamePrefixFeaturesOutMixin,
                         TransformerMixin,
                         _DeepMixin, BaseEstimator):
    """Deep autoencoder: greedy layer-wise (denoising) pretraining, then fine-tuning.

    The encoder ``d → h₁ → … → h_L`` and the mirrored decoder are initialized from a stack
    of one-layer autoencoders trained bottom up (denoising ones by default), then the whole
    network is trained end to end to reconstruct its (clean) input. The innermost code is
    linear by default, as in deep autoencoders for dimensionality reduction.

    The defaults were chosen on MNIST-5k (4,000 training / 1,000 test images, seeds 0-2, see
    ``benchmarks/results.md``): with ReLU hidden units and, for these [0, 1] pixels, a
    sigmoid output trained with cross-entropy, a (256, 64, 30) model's test reconstruction
    error is 0.56× PCA-30's (tanh with a linear output and squared error: 0.74×; ReLU with a
    linear output: 0.69×; tanh with a sigmoid output: 0.89×), and it trains in less than half
    the time. The ``auto`` parameters take the values measured best for the pretraining
    (:data:`STACKED_AUTO`): ``StackedAutoencoder(pretraining="rbm")`` is Hinton &
    Salakhutdinov's sigmoid network pretrained as a stack of RBMs, 0.495× PCA-30's error.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 64, 30)
        Encoder sizes; the last is the code size.
    activation : {"auto", "relu", "tanh", "sigmoid", "linear"}, default="auto"
        Units of the hidden layers but the code. ``auto``: ``sigmoid`` with
        ``pretraining="rbm"`` or ``"sparse"`` (units in (0, 1)), else ``relu``.
    code_activation : {"linear", "tanh", "sigmoid", "relu"}, default="linear"
    tied : bool, default=False
        Each decoder layer uses its encoder layer's matrix transposed. Untied decoders
        (initialized from the pretrained, tied, autoencoders) reconstruct better: on
        MNIST-5k a tanh (256, 64, 30) model reached 0.74× PCA-30's test error untied, 0.85×
        tied.
    output_activation : {"auto", "linear", "sigmoid"}, default="auto"
        ``auto``: ``sigmoid`` when all the training data lie in [0, 1], else ``linear``.
    loss : {"auto", "squared_error", "binary_cross_entropy"}, default="auto"
        ``auto``: cross-entropy with a sigmoid output on data in [0, 1], else the squared
        error. ``reconstruction_error`` is the squared error whatever the training loss.
    pretraining : {"denoising", "autoencoder", "sparse", "contractive", "rbm", None}, \
default="denoising"
        How the layers are initialized (None: at random): stacked denoising, plain, sparse
        or contractive autoencoders (see :class:`deepae.Autoencoder` for the penalties;
        the sparsity penalty goes on the sigmoid or tanh layers only), or a stack of RBMs
        trained by CD-1 and unrolled into both halves (needs sigmoid or tanh ``activation``;
        a linear ``code_activation`` makes the top RBM's hidden units Gaussian, as in
        Hinton & Salakhutdinov's deep autoencoders; see
        :func:`deepae.pretraining.pretrain_rbms`). On MNIST-5k the (256, 64, 30) network
        pretrained so, with its ``auto`` parameters, reached 0.495× PCA-30's test error
        (the same sigmoid network at random init 0.79×, with denoising pretraining 0.77×;
        the defaults 0.56×).
    noise : {"masking", "gaussian", "salt_and_pepper"}, default="masking"
    noise_level : float, default=0.25
        Corruption during denoising pretraining.
    sparsity_target, sparsity_weight : float, default=0.05, 1.0
        Target mean activation and penalty weight with ``pretraining="sparse"``.
    contractive_weight : float, default=0.1
        Penalty weight with ``pretraining="contractive"``.
    pretrain_epochs : int or "auto", default="auto"
        Most epochs per pretrained layer (early stopping as for fine-tuning; RBMs train
        all of them). ``auto``: 30 for autoencoders, 60 for RBMs.
    pretrain_learning_rate : float, default=1e-3
    fine_tune : bool, default=True
        Train the whole network after pretraining.
    dropout : float, default=0.0
        Fraction of the units of each hidden layer (encoder and decoder, not the code)
        zeroed at random during fine-tuning, the rest scaled by ``1/(1 − rate)``; off in
        ``transform`` and ``inverse_transform``.
    learning_rate : float or "auto", default="auto"
        Fine-tuning's learning rate. ``auto``: 0.003 with ``pretraining="rbm"``, else 0.001.
    max_epochs : int or "auto", default="auto"
        Most fine-tuning epochs (early stopping usually ends it sooner: about 170 epochs
        on MNIST-5k). ``auto``: 600 with ``pretraining="rbm"``, else 300.
    patience : int or "auto", default="auto"
        ``auto``: 25 with ``pretraining="rbm"``, else 10.
    weight_decay : float or "auto", default="auto"
        L2 penalty on the weight matrices in fine-tuning and pretraining. ``auto``: 0.001
        with ``pretraining="rbm"``, else 0. Fine-tuning an unrolled RBM stack without it
        overfits 4,000 MNIST images (1.00× PCA-30's error instead of 0.60× with the other
        settings of autoencoders).
    optimizer, batch_size, early_stopping, validation_fraction, random_state, device, \
verbose, checkpoint
        As for :class:`deepae.Autoencoder`; they drive fine-tuning (and pretraining, except
        for its epochs and learning rate).

    Attributes
    ----------
    module_ : deepae.modules.DeepAutoencoder
    output_activation_, loss_ : str
        The output activation and loss used (``auto`` resolved).
    pretraining_history_ : list of list of dict
        One training history per pretrained layer.
    history_ : list of dict
        Fine-tuning history.
    n_epochs_, n_features_in_
    """

    def __init__(
        self,
        hidden_layer_sizes=(256, 64, 30),
        activation="auto",
        code_activation="linear",
        tied=False,
        output_activation="auto",
        loss="auto",
        pretraining="denoising",
        noise="masking",
        noise_level=0.25,
        sparsity_target=0.05,
        sparsity_weight=1.0,
        contractive_weight=0.1,
        pretrain_epochs="auto",
        pretrain_learning_rate=1e-3,
        fine_tune=True,
        dropout=0.0,
        optimizer="adam",
        learning_rate="auto",
        weight_decay="auto",
        batch_size=64,
        max_epochs="auto",
        early_stopping=True,
        validation_fraction=0.1,
        patience="auto",
        random_state=None,
        device="auto",
        verbose=0,
        checkpoint=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.code_activation = code_activation
        self.tied = tied
        self.output_activation = output_activation
        self.loss = loss
        self.pretraining = pretraining
        self.noise = noise
        self.noise_level = noise_level
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.contractive_weight = contractive_weight
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.fine_tune = fine_tune
        self.dropout = dropout
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

    _unit_parameters = ("activation", "code_activation")

    def _auto(self) -> dict:
        """The values of the ``auto`` parameters: :data:`STACKED_AUTO` for the pretraining."""
        return STACKED_AUTO.get(self.pretraining, STACKED_AUTO["autoencoder"])

    def _new_module(self) -> modules.DeepAutoencoder:
        """An untrained module of this estimator's architecture (needs ``n_features_in_``)."""
        return modules.DeepAutoencoder(
            self.n_features_in_, self._sizes(), self._setting("activation"),
            self.code_activation,
            bool(self.tied), self.output_activation_, float(self.dropout),
        )

    @checkpointed
    def fit(self, X, y=None):
        """Pretrain layer by layer, then fine-tune on reconstructing ``X``; ``y`` is ignored."""
        X = check_X(self, X, reset=True)
        check_option("code_activation", self.code_activation, tuple(modules.ACTIVATIONS))
        self._check_deep_params()
        check_option("output_activation", self.output_activation,
                     ("auto", *modules.OUTPUT_ACTIVATIONS))
        check_option("loss", self.loss, ("auto", *modules.LOSSES))
        if self.pretraining is None and not self.fine_tune:
            raise ValueError("pretraining=None with fine_tune=False would leave the network "
                             "untrained.")
        seed = seed_from(self.random_state)
        data = torch.tensor(X, dtype=torch.float32, device=resolve_device(self.device))
        self.output_activation_, self.loss_ = output_and_loss(
            self.output_activation, self.loss, (TensorRows(data),))
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(data.device)
        pretrained = self._pretrain(data, module.layer_activations(), seed,
                                    self.output_activation_, self.loss_)
        if pretrained is not None:
            self.module_.load_encoders(pretrained)
        self.history_, self.n_epochs_ = [], 0
        if self.fine_tune:
            self._fine_tune(fine_tuning_objective(self.output_activation_, self.loss_),
                            (data,), seed)
        return self

    def transform(self, X):
        """The innermost code of each row."""
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module.encode(x), X)

    def inverse_transform(self, X):
        """Decode codes of shape (n_samples, code size) to reconstructions (fitted on a table:
        a DataFrame of its columns, each category its most likely level)."""
        check_is_fitted(self, "module_")
        codes = check_array(X, dtype=FLOAT_DTYPES)
        if codes.shape[1] != self._sizes()[-1]:
            raise ValueError(f"X has {codes.shape[1]} code columns, but the code size of "
                             f"{type(self).__name__} is {self._sizes()[-1]}.")
        return tables.decoded(self, self._run(lambda module, z: module.decode(z), codes))

    @property
    def _n_features_out(self):
        return self._sizes()[-1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def fine_tuning_objective(output_activation: str, loss: str):
    """The loss function of :func:`train` for a deep autoencoder: rebuild the input through
    the whole network (hidden dropout, if any, drawn from the loop's generator)."""
    def loss_fn(model, batch, generator):
        clean = batch[0]
        return modules.reconstruction_loss(model(clean, generator), clean, output_activation,
                                           loss)

    return loss_fn


def first_layer_objective(data: torch.Tensor) -> tuple[str, str]:
    """Output activation and loss of the first pretrained layer: sigmoid and cross-entropy
    for data in [0, 1] (pixel intensities, as in stacked denoising autoencoders; on all
    ranks), else linear and squared error."""
    low, high = feature_range(TensorRows(data))
    if low.min() >= 0 and high.max() <= 1:
        return "sigmoid", "binary_cross_entropy"
    return "linear", "squared_error"


def checked_encoder(encoder) -> ConvolutionalAutoencoder:
    """``encoder`` when it is a :class:`deepae.ConvolutionalAutoencoder` (a TypeError
    otherwise)."""
    if not isinstance(encoder, ConvolutionalAutoencoder):
        raise TypeError(f"encoder must be a ConvolutionalAutoencoder or None, got "
                        f"{type(encoder).__name__}.")
    return encoder
