"""Deep supervised networks with greedy layer-wise pretraining: scikit-learn faces.

:class:`DeepClassifier` and :class:`DeepRegressor` pretrain their hidden layers on all of
``X`` as a stack of autoencoders or RBMs (:class:`deepae.deep._DeepMixin`), optionally behind
a convolutional encoder, then fine-tune the whole network on the labeled rows with the same
training loop (with a consistency term on the unlabeled ones when asked).
"""

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.utils import check_scalar
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import distributed, modules
from ._base import resolve_device, seed_from
from ._validation import check_X_y
from .checkpoint import checkpointed
from .convnet import ConvNetwork
from .corruption import Corruption
from .deep import _DeepMixin, checked_encoder, first_layer_objective
from .export import ClassifierOutputs, RegressorOutputs
from .persistence import SaveMixin


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
