"""Restricted Boltzmann machines: contrastive divergence in the one training loop, and the
scikit-learn face :class:`RBM`.

RBM training is not gradient descent on a loss, but its update is the gradient of one: the
CD-k update of a batch ``v`` with negative samples ``ṽ`` (``k`` Gibbs steps from the data,
or from a persistent chain) is ``−∇θ [mean F(v) − mean F(ṽ)]`` with ``ṽ`` held fixed, ``F``
the free energy. :func:`contrastive_divergence` returns that surrogate as the "loss" of
:func:`deepae.training.train`, so plain SGD on it (momentum 0) is exactly the classic CD
update ``θ ← θ + lr (⟨·⟩_data − ⟨·⟩_model)`` (scikit-learn's ``BernoulliRBM`` is the
persistent CD-1 case). Its value is a free-energy gap, not a likelihood; the history records
it as ``train_loss``. With SGD (the default) the loss function makes that step itself, in
place (:class:`CDStep`: no autograd graph, no gradient tensors), and the loop goes on to the
next batch.
"""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.validation import check_is_fitted

from . import distributed, modules
from ._base import TorchEstimatorMixin, resolve_device, seed_from
from ._validation import check_option, check_X
from .data import TensorRows, feature_range
from .persistence import SaveMixin
from .training import OPTIMIZERS, TrainingConfig, train


def contrastive_divergence(steps: int = 1, persistent: bool = False,
                           sgd: TrainingConfig | None = None):
    """The loss function of :func:`deepae.training.train` for an RBM: CD-``steps`` (PCD with
    ``persistent``: the chains go on from batch to batch, as many as the first batch's rows,
    starting from zero hidden states, as in scikit-learn).

    Three matrix products a batch for persistent CD-1: the negative particles from the
    chains' hidden states, one pass over data and particles together (whose hidden means
    also give the chains' next states), and the weight update. Without ``sgd`` the loss is
    the free-energy gap with its autograd graph (the loop's optimizer steps on its
    gradient); with ``sgd`` (a config of the SGD optimizer) the loss function makes that
    very step itself, in place, from the CD statistics (:class:`CDStep`), and returns the
    gap without a graph, so the loop skips backward and optimizer: no graph, no gradient
    tensors, one fused product for the weights.
    """
    chain: list[torch.Tensor] = []
    step = None if sgd is None else CDStep(sgd)

    def loss_fn(model, batch, generator):
        v = batch[0]
        rbm = getattr(model, "module", model)
        with torch.no_grad():
            if persistent and not chain:
                chain.append(torch.zeros(len(v), rbm.n_hidden, device=v.device, dtype=v.dtype))
            h = chain[0] if persistent else rbm.sample_hidden(v, generator)
            negative = rbm.sample_visible(h, generator)
            for _ in range(steps - 1):
                negative = rbm.sample_visible(rbm.sample_hidden(negative, generator), generator)
        if step is not None and model.training:
            with torch.no_grad():
                gap, hidden = step(rbm, v, negative)
        else:
            energies, hidden = model(torch.cat([v, negative]), return_hidden=True)
            gap = energies[:len(v)].mean() - energies[len(v):].mean()
        if persistent and model.training:
            chain[0] = modules.draw(hidden[len(v):].detach(), rbm.hidden, generator)
        return gap

    return loss_fn


class CDStep:
    """The SGD step of :class:`torch.optim.SGD` (momentum, no dampening; weight decay on the
    weight matrix only, as :func:`deepae.training.make_optimizer` sets it) on the gradient
    of the free-energy gap ``mean F(v) − mean F(ṽ)``, computed in closed form and applied
    in place (call it under ``torch.no_grad()``).

    With ``V`` the data rows over the negative particles and ``S`` their hidden means
    scaled by ``−1/n`` (data) and ``+1/ñ`` (particles), the gradients are ``Sᵀ V`` (weights),
    the column sums of ``S`` (hidden biases) and ``mean ṽ − mean v`` (visible biases), for
    every kind of units.
    """

    def __init__(self, config: TrainingConfig):
        self.learning_rate = config.learning_rate
        self.momentum = config.momentum
        self.weight_decay = config.weight_decay
        self.buffers: list[torch.Tensor] = []

    def __call__(self, rbm: modules.RBM, v: torch.Tensor,
                 negative: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Update ``rbm`` from data ``v`` and particles ``negative``; return the free-energy
        gap and the hidden means of data and particles (stacked)."""
        rows = torch.cat([v, negative])
        energies, hidden = rbm(rows, return_hidden=True)
        gap = energies[:len(v)].mean() - energies[len(v):].mean()
        scaled = hidden.clone()
        scaled[:len(v)] *= -1 / len(v)
        scaled[len(v):] *= 1 / len(negative)
        self.apply(rbm, scaled, rows, negative.mean(0) - v.mean(0))
        return gap, hidden

    def apply(self, rbm: modules.RBM, scaled: torch.Tensor, rows: torch.Tensor,
              visible_gradient: torch.Tensor) -> None:
        """``θ ← θ − lr · buffer``, ``buffer ← momentum · buffer + gradient`` (the gradient
        itself without momentum), the weight gradient ``scaledᵀ rows`` (+ decay)."""
        weight, hidden_bias, visible_bias = rbm.weight, rbm.hidden_bias, rbm.visible_bias
        lr = self.learning_rate
        if self.momentum == 0 and self.weight_decay == 0:
            weight.addmm_(scaled.t(), rows, alpha=-lr)
            hidden_bias.add_(scaled.sum(0), alpha=-lr)
            visible_bias.add_(visible_gradient, alpha=-lr)
            return
        if not self.buffers:
            self.buffers = [torch.zeros_like(p) for p in (weight, hidden_bias, visible_bias)]
        weight_buffer, hidden_buffer, visible_buffer = self.buffers
        weight_buffer.addmm_(scaled.t(), rows, beta=self.momentum)
        if self.weight_decay:
            weight_buffer.add_(weight, alpha=self.weight_decay)
        hidden_buffer.mul_(self.momentum).add_(scaled.sum(0))
        visible_buffer.mul_(self.momentum).add_(visible_gradient)
        for parameter, buffer in zip((weight, hidden_bias, visible_bias), self.buffers,
                                     strict=True):
            parameter.add_(buffer, alpha=-lr)


def visible_units(data) -> str:
    """Bernoulli visible units for data in [0, 1], Gaussian ones otherwise."""
    low, high = feature_range(data)
    return "bernoulli" if low.min() >= 0 and high.max() <= 1 else "gaussian"


def train_rbm(module: modules.RBM, data: torch.Tensor, config: TrainingConfig,
              steps: int, persistent: bool) -> list[dict]:
    """Train ``module`` on ``data`` by CD-``steps`` through the one training loop (no
    held-out data: the surrogate is no measure of fit). With SGD in one process the CD
    step is made in place (:class:`CDStep`); Adam, or data-parallel training (whose
    gradients the wrapper averages over processes), goes through autograd and the loop's
    optimizer."""
    in_place = config.optimizer == "sgd" and not distributed.active()
    loss_fn = contrastive_divergence(steps, persistent, config if in_place else None)
    return train(module, loss_fn, (data,), config)


class RBM(SaveMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, TorchEstimatorMixin,
          BaseEstimator):
    """Restricted Boltzmann machine trained by contrastive divergence (CD-k or persistent CD).

    Binary hidden units; Bernoulli visible units for data in [0, 1] (pixel intensities are
    used as probabilities, as in scikit-learn's ``BernoulliRBM``), Gaussian visible units of
    unit variance otherwise (standardize such data first). The defaults of the learning
    rate, batch size and epochs are ``BernoulliRBM``'s; ``persistent=True`` with
    ``cd_steps=1`` is its algorithm.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    visible : {"auto", "bernoulli", "gaussian"}, default="auto"
        ``auto``: Bernoulli when all the training data lie in [0, 1].
    cd_steps : int, default=1
        Gibbs steps ``k`` per negative sample.
    persistent : bool, default=False
        Persistent CD: the negative chains continue across mini-batches and epochs.
    optimizer : {"sgd", "adam"}, default="sgd"
        SGD: the CD step is made in place (:class:`CDStep`, the same step as
        ``torch.optim.SGD``'s, without the autograd graph); Adam goes through autograd.
    learning_rate : float, default=0.1
    momentum : float, default=0.0
        SGD momentum (0: the classic CD update).
    weight_decay : float, default=0.0
    batch_size : int, default=10
    max_epochs : int, default=10
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, shuffling, the Gibbs samples and :meth:`gibbs`.
    device : str or torch.device, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    module_ : deepae.modules.RBM
    visible_ : str
        The visible units used (``auto`` resolved).
    components_ : ndarray of shape (n_components, n_features)
    intercept_hidden_, intercept_visible_ : ndarray
    history_ : list of dict
        Per epoch: ``train_loss`` (the CD surrogate, a free-energy gap) and ``seconds``.
    random_state_ : numpy.random.RandomState
        Draws the seeds of :meth:`gibbs`.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_components=256,
        visible="auto",
        cd_steps=1,
        persistent=False,
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.0,
        weight_decay=0.0,
        batch_size=10,
        max_epochs=10,
        random_state=None,
        device="auto",
        verbose=0,
    ):
        self.n_components = n_components
        self.visible = visible
        self.cd_steps = cd_steps
        self.persistent = persistent
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        check_scalar(self.n_components, "n_components", numbers.Integral, min_val=1)
        check_option("visible", self.visible, ("auto", *modules.VISIBLE_UNITS))
        check_scalar(self.cd_steps, "cd_steps", numbers.Integral, min_val=1)
        check_option("optimizer", self.optimizer, OPTIMIZERS)
        check_scalar(self.learning_rate, "learning_rate", numbers.Real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self.momentum, "momentum", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.max_epochs, "max_epochs", numbers.Integral, min_val=1)
        check_scalar(self.verbose, "verbose", numbers.Integral)

    def fit(self, X, y=None):
        """Train on ``X`` by contrastive divergence; ``y`` is ignored."""
        X = check_X(self, X, reset=True)
        self._check_params()
        seed = seed_from(self.random_state)
        data = torch.tensor(X, dtype=torch.float32, device=resolve_device(self.device))
        self.visible_ = (visible_units(TensorRows(data)) if self.visible == "auto"
                         else self.visible)
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(data.device)
        config = TrainingConfig(
            optimizer=self.optimizer, learning_rate=float(self.learning_rate),
            momentum=float(self.momentum), weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size), max_epochs=int(self.max_epochs), seed=seed,
            verbose=int(self.verbose), description="RBM",
        )
        self.history_ = train_rbm(self.module_, data, config, int(self.cd_steps),
                                  bool(self.persistent))
        self.random_state_ = check_random_state(seed)
        return self

    def _new_module(self) -> modules.RBM:
        """An untrained module of this estimator's architecture (needs ``n_features_in_``)."""
        return modules.RBM(self.n_features_in_, int(self.n_components), self.visible_)

    def transform(self, X):
        """The hidden units' probabilities ``P(h = 1 | x)``."""
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module.hidden_probabilities(x), X)

    def score_samples(self, X) -> np.ndarray:
        """Pseudo-log-likelihood ``Σ_i log P(x_i | x_−i)`` of each row (Bernoulli units).

        Exact: the sum over all features, where scikit-learn's ``BernoulliRBM`` estimates it
        from one randomly flipped feature (times the number of features), so the two agree in
        expectation. For Gaussian visible units, the negative free energy ``−F(x)`` (the log
        density up to a constant).
        """
        check_is_fitted(self, "module_")
        if self.visible_ == "gaussian":
            return self._apply(lambda module, x: -module(x), X)
        return self._apply(lambda module, x: module.pseudo_log_likelihood(x), X)

    def _export_module(self):
        """The torch module of ONNX export: ``transform`` and ``score_samples``."""
        from .export import RBMOutputs

        return RBMOutputs(self.module_)

    def gibbs(self, X) -> np.ndarray:
        """One Gibbs step from each row: ``h ~ P(h | x)``, then ``x′ ~ P(x | h)``."""
        check_is_fitted(self, "module_")
        generator = torch.Generator(device=self.module_.weight.device)
        generator.manual_seed(int(self.random_state_.randint(np.iinfo(np.int32).max)))
        return self._apply(lambda module, x: module.sample_visible(
            module.sample_hidden(x, generator), generator), X)

    @property
    def components_(self) -> np.ndarray:
        return self.module_.weight.detach().cpu().numpy()

    @property
    def intercept_hidden_(self) -> np.ndarray:
        return self.module_.hidden_bias.detach().cpu().numpy()

    @property
    def intercept_visible_(self) -> np.ndarray:
        return self.module_.visible_bias.detach().cpu().numpy()

    @property
    def _n_features_out(self):
        return int(self.n_components)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
