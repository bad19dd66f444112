"""Deep networks with greedy layer-wise (denoising) pretraining: scikit-learn faces.

:class:`StackedAutoencoder` (a deep autoencoder), :class:`DeepClassifier` and
:class:`DeepRegressor` pretrain their hidden layers as a stack of autoencoders
(:func:`deepae.pretraining.pretrain_layers`), then fine-tune the whole network by
backpropagation with the same training loop.
"""

import math
import numbers
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    TransformerMixin,
    clone,
)
from sklearn.utils import check_scalar
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted

from . import distributed, modules
from ._base import TorchEstimatorMixin, output_and_loss, resolve_device, seed_from
from ._validation import FLOAT_DTYPES, check_option, check_X, check_X_y
from .autoencoder import Penalties
from .checkpoint import checkpointed
from .convnet import ConvNetwork
from .convolutional import ConvolutionalAutoencoder
from .corruption import NOISES, Corruption
from .data import TensorRows, feature_range
from .export import ClassifierOutputs, RegressorOutputs
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


class _DeepSupervised(_DeepMixin):
    """A deep tanh network, pretrained on all of ``X``, fine-tuned on the labeled rows."""

    def _new_module(self) -> modules.FeedForward | ConvNetwork:
        """An untrained module of this estimator's architecture (needs ``n_features_in_``
        and the number of outputs): the dense network, or with an ``encoder`` its
        convolutional encoder followed by the dense layers."""
        if self.encoder is None:
            sizes = [self.n_features_in_, *self._sizes(), self._n_outputs()]
            return modules.FeedForward(sizes, self.activation, float(self.dropout))
        encoder = checked_encoder(self.encoder)._new_encoder(self.n_features_in_)
        sizes = [encoder.code_size, *self._sizes(), self._n_outputs()]
        return ConvNetwork(encoder, modules.FeedForward(sizes, self.activation,
                                                        float(self.dropout)))

    def _fit_network(self, X: np.ndarray, labeled: np.ndarray, targets: torch.Tensor,
                     loss, stratify=None, consistency: float = 0.0):
        self._check_deep_params()
        check_scalar(self.input_dropout, "input_dropout", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        seed = seed_from(self.random_state)
        data = torch.tensor(X, dtype=torch.float32, device=resolve_device(self.device))
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(data.device)
        self._pretrain_network(X, data, seed)
        rows = torch.as_tensor(np.flatnonzero(labeled), device=data.device)
        targets = targets.to(data.device)
        if consistency > 0 and not labeled.all():
            others = torch.as_tensor(np.flatnonzero(~labeled), device=data.device)
            unlabeled = (data[others], torch.full((len(others),), -1, dtype=targets.dtype,
                                                  device=data.device))
            n_train = len(rows) - (int(np.ceil(self.validation_fraction * len(rows)))
                                   if self.early_stopping else 0) + len(others)
            rampup = float(self.consistency_rampup) * np.ceil(n_train / int(self.batch_size))
            objective = self._consistency_objective(consistency, rampup)
            self._fine_tune(objective, (data[rows], targets), seed, stratify, unlabeled)
        else:
            objective = self._supervised_objective(loss)
            self._fine_tune(objective, (data[rows], targets), seed, stratify)
        return self

    def _pretrain_network(self, X: np.ndarray, data: torch.Tensor, seed: int) -> None:
        """Pretrain the network's layers on all rows and load them into ``module_``: with an
        ``encoder``, a copy of it is fitted first (:meth:`_pretrain_encoder`) and the dense
        layers are pretrained on its codes."""
        head, inputs, encoder_history = self.module_, data, []
        if self.encoder is not None:
            head = self.module_.head
            if self.pretraining is not None:
                inputs, encoder_history = self._pretrain_encoder(X, data, seed)
        pretrained = self._pretrain(inputs, [self.activation] * len(self._sizes()), seed,
                                    *first_layer_objective(inputs))
        self.pretraining_history_ = encoder_history + self.pretraining_history_
        if pretrained is not None:
            head.load_encoders(pretrained)

    def _pretrain_encoder(self, X: np.ndarray, data: torch.Tensor,
                          seed: int) -> tuple[torch.Tensor, list[list[dict]]]:
        """Fit a copy of ``encoder`` on all rows (on this estimator's device and verbosity,
        seeded from this estimator when it has no ``random_state``), load its encoder into
        the network; return the codes of ``data`` and the autoencoder's history."""
        autoencoder = clone(self.encoder).set_params(device=self.device,
                                                     verbose=self.verbose)
        if autoencoder.random_state is None:
            autoencoder.set_params(random_state=seed)
        autoencoder.fit(X)
        encoder = self.module_.encoder
        encoder.load_state_dict(autoencoder.module_.encoder.state_dict())
        with torch.no_grad():
            codes = torch.cat([encoder(chunk) for chunk in data.split(4096)])
        return codes, [autoencoder.history_]

    def _perturbation(self):
        """Input dropout: a random ``input_dropout`` fraction of the inputs zeroed and the
        rest scaled up (the identity when the rate is 0)."""
        rate = float(self.input_dropout)
        if rate == 0:
            return lambda inputs, generator: inputs
        dropout = Corruption("masking", rate)
        return lambda inputs, generator: dropout(inputs, generator) / (1 - rate)

    def _supervised_objective(self, loss):
        """``loss(network(x), target)``, with input dropout while training."""
        module, perturb = self.module_, self._perturbation()

        def loss_fn(model, batch, generator):
            inputs, target = batch
            if module.training:
                inputs = perturb(inputs, generator)
            return loss(model(inputs, generator), target)

        return loss_fn

    def _consistency_objective(self, weight: float, rampup_steps: float):
        """Semi-supervised fine-tuning (the Π-model of Laine & Aila, 2017): cross-entropy on
        the batch's labeled rows (target ≥ 0) plus ``weight`` times the squared difference
        of the class probabilities under two independent input-dropout draws, averaged over
        all rows (labeled or not). The weight ramps up as ``exp(−5 (1 − t)²)`` over
        ``rampup_steps`` steps. On held-out rows (eval mode) it is the plain cross-entropy."""
        module, perturb = self.module_, self._perturbation()
        steps = [0]

        def loss_fn(model, batch, generator):
            inputs, target = batch
            if not module.training:
                return F.cross_entropy(model(inputs), target)
            progress = min(1.0, steps[0] / rampup_steps) if rampup_steps > 0 else 1.0
            steps[0] += 1
            first, second = model(torch.cat([perturb(inputs, generator),
                                             perturb(inputs, generator)]), generator).chunk(2)
            has_label = target >= 0
            supervised = (F.cross_entropy(first, target.clamp(min=0), reduction="none")
                          * has_label).sum() / has_label.sum().clamp(min=1)
            agreement = (first.softmax(1) - second.softmax(1)).square().sum(1).mean()
            return supervised + weight * math.exp(-5.0 * (1.0 - progress) ** 2) * agreement

        loss_fn.state_dict = lambda: {"steps": torch.tensor(steps[0])}  # for checkpoints
        loss_fn.load_state_dict = lambda state: steps.__setitem__(0, int(state["steps"]))
        return loss_fn

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module(x), X)


_SUPERVISED_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(500, 500)
    activation : {{"tanh", "sigmoid", "relu", "linear"}}, default="tanh"
    pretraining : {{"denoising", "autoencoder", "sparse", "contractive", "rbm", None}}, \
default="denoising"
        Initialize the hidden layers from stacked denoising, plain, sparse or contractive
        autoencoders (see :class:`deepae.Autoencoder` for the penalties), from a stack of
        RBMs trained by CD-1 (sigmoid or tanh units; see
        :func:`deepae.pretraining.pretrain_rbms`), or at random (``None``: the same network
        without pretraining).
    noise : {{"masking", "gaussian", "salt_and_pepper"}}, default="masking"
    noise_level : float, default=0.25
    sparsity_target, sparsity_weight : float, default=0.05, 1.0
        Target mean activation and penalty weight with ``pretraining="sparse"``.
    contractive_weight : float, default=0.1
        Penalty weight with ``pretraining="contractive"``.
    pretrain_epochs : int or "auto", default="auto"
        Epochs per pretrained layer (at most: early stopping as for fine-tuning; RBMs
        train all of them). ``auto``: 10 for autoencoders, 30 for RBMs (see
        :data:`AUTO_PRETRAIN_EPOCHS`).
    pretrain_learning_rate : float, default=1e-3
    input_dropout : float, default={dropout}
        Fraction of the inputs zeroed at random (the rest scaled by ``1/(1 − rate)``) in
        each fine-tuning mini-batch: masking noise as a regularizer; 0 turns it off.
    dropout : float, default=0.0
        Fraction of each hidden layer's units zeroed at random (the rest scaled by
        ``1/(1 − rate)``) in each fine-tuning mini-batch (Srivastava et al., 2014); off in
        ``predict``; 0 turns it off.{params}
    patience : int, default=20
    encoder : ConvolutionalAutoencoder or None, default=None
        A convolutional first stage for rows that are images: the network is this
        autoencoder's encoder (its convolutions and its code) followed by
        ``hidden_layer_sizes`` dense layers and the output layer. With ``pretraining`` set,
        a copy of it is fitted on all rows of ``X`` (labeled or not; on this estimator's
        ``device``, seeded from ``random_state`` when it has none), its encoder becomes the
        network's first stage, and the dense layers are pretrained on its codes; then the
        whole network is fine-tuned. ``None``: a dense network on the raw features. On
        MNIST-5k with 500 labels (+3,500 unlabeled, seed 0), ``hidden_layer_sizes=(256,)``
        and ``ConvolutionalAutoencoder((1, 28, 28), code_size=64, max_epochs=30)``: 4.6%
        test error with ``consistency=10`` (5.7% with 3; the dense (500, 500) default:
        7.3% over seeds 0–2); see ``benchmarks/results.md``.
    optimizer, learning_rate, weight_decay, batch_size, max_epochs, early_stopping, \
validation_fraction, random_state, device, verbose
        As for :class:`deepae.Autoencoder`; they drive fine-tuning (and pretraining, except
        for its epochs and learning rate).

    Attributes
    ----------
    module_ : deepae.modules.FeedForward or deepae.convnet.ConvNetwork
    pretraining_history_ : list of list of dict
        One training history per pretrained stage (the encoder's first, when there is one).
    history_ : list of dict
    n_epochs_, n_features_in_{extra}
"""


def checked_encoder(encoder) -> ConvolutionalAutoencoder:
    """``encoder`` when it is a :class:`deepae.ConvolutionalAutoencoder` (a TypeError
    otherwise)."""
    if not isinstance(encoder, ConvolutionalAutoencoder):
        raise TypeError(f"encoder must be a ConvolutionalAutoencoder or None, got "
                        f"{type(encoder).__name__}.")
    return encoder


def marks_unlabeled(labels: np.ndarray) -> bool:
    """True when the label -1 marks unlabeled rows (scikit-learn's convention) among the
    distinct ``labels`` (of all ranks): only when the other labels still hold at least two
    classes; otherwise -1 is a class (as in labels ``{-1, +1}``)."""
    if labels.dtype.kind not in "iuf" or -1 not in labels:
        return False
    return np.count_nonzero(labels != -1) >= 2


class DeepClassifier(SaveMixin, ClassifierMixin, _DeepSupervised, BaseEstimator):
    __doc__ = """Deep classifier: a tanh network pretrained layer by layer, then fine-tuned.

    Semi-supervised: rows whose label is ``-1`` (scikit-learn's mark of unlabeled data) take
    part in pretraining, and in fine-tuning through a consistency term (the Π-model): the
    network's class probabilities under two independent input-dropout draws should agree.
    Only labeled rows enter the cross-entropy, the output layer's labels and the validation
    split. (When the other labels hold fewer than two classes, ``-1`` is taken as a class,
    so labels ``{-1, +1}`` work as usual.)

    The defaults were chosen on MNIST-5k (4,000 training / 1,000 test images,
    ``hidden_layer_sizes=(500, 500)``, seeds 0-2, see ``benchmarks/results.md``): denoising
    pretraining with masking noise 0.25, 10 Adam epochs per layer (30 gained nothing), the
    first layer rebuilding pixels with a sigmoid output and cross-entropy; fine-tuning with
    Adam at 1e-3, input dropout 0.5 and early stopping with patience 20. With 4,000 labels:
    4.1% test error (input dropout 0.3: 5.0%). With 500 labels (+3,500 unlabeled): 6.6% with
    the consistency term of weight 3 ramped up over 10 epochs (weight 1: 8.2%, 10: 8.1%,
    30: 12.7%; no ramp-up: 7.3%; KL divergence instead of squared difference: 10.3%;
    pseudo-labels: 12.3%; entropy minimization: 14.5%), against 11.3% when unlabeled rows
    serve in pretraining only (``consistency=0``); a fit takes about 6× longer.
""" + _SUPERVISED_DOC.format(
        dropout=0.5, extra="\n    classes_ : ndarray of shape (n_classes,)", params="""
    consistency : float, default=3.0
        Weight of the consistency term on all fine-tuning rows when some are unlabeled
        (0: unlabeled rows serve in pretraining only). Fully labeled data trains without it.
    consistency_rampup : float, default=10
        Epochs over which the consistency weight ramps up from about 0 (as
        ``exp(−5 (1 − t)²)``).""")

    def __init__(
        self,
        hidden_layer_sizes=(500, 500),
        activation="tanh",
        pretraining="denoising",
        noise="masking",
        noise_level=0.25,
        sparsity_target=0.05,
        sparsity_weight=1.0,
        contractive_weight=0.1,
        pretrain_epochs="auto",
        pretrain_learning_rate=1e-3,
        input_dropout=0.5,
        dropout=0.0,
        consistency=3.0,
        consistency_rampup=10,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        batch_size=64,
        max_epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        patience=20,
        random_state=None,
        device="auto",
        verbose=0,
        encoder=None,
        checkpoint=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.pretraining = pretraining
        self.noise = noise
        self.noise_level = noise_level
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.contractive_weight = contractive_weight
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.input_dropout = input_dropout
        self.dropout = dropout
        self.consistency = consistency
        self.consistency_rampup = consistency_rampup
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
        self.encoder = encoder

    def _n_outputs(self) -> int:
        return len(self.classes_)

    @checkpointed
    def fit(self, X, y):
        """Pretrain on all rows of ``X``, then fine-tune on the rows whose label is not -1."""
        X, y = check_X_y(self, X, y, regression=False)
        check_classification_targets(y)
        labels = np.unique(np.concatenate(distributed.gather_objects(np.unique(y))))
        unlabeled = marks_unlabeled(labels)
        labeled = y != -1 if unlabeled else np.ones(len(y), dtype=bool)
        self.classes_ = labels[labels != -1] if unlabeled else labels
        if len(self.classes_) < 2:
            raise ValueError(f"DeepClassifier needs at least 2 classes among the labeled rows, "
                             f"got {len(self.classes_)} class.")
        check_scalar(self.consistency, "consistency", numbers.Real, min_val=0)
        check_scalar(self.consistency_rampup, "consistency_rampup", numbers.Real, min_val=0)
        codes = np.searchsorted(self.classes_, y[labeled])
        targets = torch.as_tensor(codes, dtype=torch.long)
        return self._fit_network(
            X, labeled, targets,
            F.cross_entropy,
            stratify=codes,
            consistency=float(self.consistency),
        )

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (softmax of the output layer), columns in ``classes_`` order."""
        logits = self._outputs(X)
        logits = logits - logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def _export_module(self) -> ClassifierOutputs:
        """The torch module of ONNX export: ``predict_proba``."""
        check_is_fitted(self, "module_")
        return ClassifierOutputs(self.module_)

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        logits = self._outputs(X)
        shifted = logits - logits.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class DeepRegressor(SaveMixin, RegressorMixin, _DeepSupervised, BaseEstimator):
    __doc__ = """Deep regressor: a tanh network pretrained layer by layer, then fine-tuned.

    The targets are standardized internally (mean 0, variance 1 per column) for training and
    predictions are mapped back, so targets of any scale train alike.
""" + _SUPERVISED_DOC.format(
        dropout=0.0, params="", extra="\n    n_outputs_ : int\n    y_mean_, y_scale_ : ndarray\n"
        "        The targets' mean and standard deviation."
    )

    def __init__(
        self,
        hidden_layer_sizes=(500, 500),
        activation="tanh",
        pretraining="denoising",
        noise="masking",
        noise_level=0.25,
        sparsity_target=0.05,
        sparsity_weight=1.0,
        contractive_weight=0.1,
        pretrain_epochs="auto",
        pretrain_learning_rate=1e-3,
        input_dropout=0.0,
        dropout=0.0,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        batch_size=64,
        max_epochs=100,
        early_stopping=True,
        validation_fraction=0.1,
        patience=20,
        random_state=None,
        device="auto",
        verbose=0,
        encoder=None,
        checkpoint=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.pretraining = pretraining
        self.noise = noise
        self.noise_level = noise_level
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.contractive_weight = contractive_weight
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.input_dropout = input_dropout
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
        self.encoder = encoder

    def _n_outputs(self) -> int:
        return self.n_outputs_

    @checkpointed
    def fit(self, X, y):
        """Pretrain on ``X``, then fine-tune on predicting ``y`` (squared error)."""
        X, y = check_X_y(self, X, y, regression=True)
        Y = y.reshape(len(y), -1).astype(np.float64)
        self.n_outputs_ = Y.shape[1]
        n = distributed.all_reduce(np.array([len(Y)]))[0]
        mean = distributed.all_reduce(Y.sum(axis=0)) / n
        scale = np.sqrt(distributed.all_reduce(np.square(Y - mean).sum(axis=0)) / n)
        scale[scale == 0] = 1.0
        targets = torch.as_tensor((Y - mean) / scale, dtype=torch.float32)
        self.y_mean_, self.y_scale_ = mean.reshape(y.shape[1:]), scale.reshape(y.shape[1:])
        return self._fit_network(
            X, np.ones(len(X), bool), targets,
            F.mse_loss,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _export_module(self) -> RegressorOutputs:
        """The torch module of ONNX export: ``predict`` (targets mapped back to their scale)."""
        check_is_fitted(self, "module_")
        mean, scale = (torch.tensor(a, dtype=torch.float32) for a in (self.y_mean_,
                                                                       self.y_scale_))
        return RegressorOutputs(self.module_, mean, scale)

    def predict(self, X) -> np.ndarray:
        """Predicted targets, shaped like the ``y`` given to fit."""
        outputs = self._outputs(X)
        return outputs.reshape(len(outputs), *self.y_mean_.shape) * self.y_scale_ + self.y_mean_
