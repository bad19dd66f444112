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

import functools
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.validation import check_is_fitted

from . import distributed, modules
from ._base import TorchEstimatorMixin, resolve_device, seed_from
from ._validation import check_option, check_X
from .checkpoint import checkpointed
from .data import TensorRows, feature_range
from .persistence import SaveMixin
from .training import OPTIMIZERS, TrainingConfig, train


def contrastive_divergence(steps: int = 1, persistent: bool = False,
                           sgd: TrainingConfig | None = None, precision: str = "float32"):
    """The loss function of :func:`deepae.training.train` for an RBM: CD-``steps`` (PCD with
    ``persistent``: the chains go on from batch to batch, as many as the first batch's rows,
    starting from zero hidden states, as in scikit-learn).

    Without ``sgd`` the loss is the free-energy gap with its autograd graph (the loop's
    optimizer steps on its gradient); with ``sgd`` (a config of the SGD optimizer) the loss
    function makes that very step itself, in place, from the CD statistics
    (:class:`CDStep`, whose matrix products take ``precision`` operands), and returns the
    gap without a graph, so the loop skips backward and optimizer.
    """
    chain: list[torch.Tensor] = []
    step = None if sgd is None else CDStep(sgd, steps, persistent, precision)

    def loss_fn(model, batch, generator):
        v = batch[0]
        rbm = getattr(model, "module", model)
        if step is not None and model.training:
            with torch.no_grad():
                return step(rbm, v, chain, generator)
        with torch.no_grad():
            if persistent and not chain:
                chain.append(torch.zeros(len(v), rbm.n_hidden, device=v.device, dtype=v.dtype))
            h = chain[0] if persistent else rbm.sample_hidden(v, generator)
            negative = rbm.sample_visible(h, generator)
            for _ in range(steps - 1):
                negative = rbm.sample_visible(rbm.sample_hidden(negative, generator), generator)
        energies, hidden = model(torch.cat([v, negative]), return_hidden=True)
        gap = energies[:len(v)].mean() - energies[len(v):].mean()
        if persistent and model.training:
            chain[0] = modules.draw(hidden[len(v):].detach(), rbm.hidden, generator)
        return gap

    def state_dict() -> dict:  # for checkpoints: the chains and the momentum buffers
        state = {"chain": chain[0]} if chain else {}
        if step is not None:
            state.update({f"buffer{i}": t for i, t in enumerate(step.buffers)})
        return state

    def load_state_dict(state: dict) -> None:
        chain[:] = [state["chain"]] if "chain" in state else []
        if step is not None:
            step.buffers = [state[f"buffer{i}"] for i in range(3) if f"buffer{i}" in state]

    loss_fn.state_dict, loss_fn.load_state_dict = state_dict, load_state_dict
    return loss_fn


#: Operand types of :class:`CDStep`'s matrix products.
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


@functools.cache
def fast_bfloat16_products() -> bool:
    """Whether this CPU multiplies bfloat16 matrices faster than float32 ones at an RBM's
    shapes, from its features: AVX512-BF16 dot products without AMX tiles (on an AMD Zen 4
    core, CD with 500 hidden units on MNIST ran 1.3× (batch 10) to 2.4× (batch 100) as fast
    in bfloat16; on an Intel Xeon core with AMX 0.7× to 1.15×; on a CPU without either,
    where torch emulates bfloat16, 0.2× to 0.1×)."""
    return torch.cpu._is_avx512_bf16_supported() and not torch.cpu._is_amx_tile_supported()


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision``, ``auto`` resolved: ``bfloat16`` on a CPU with fast bfloat16 products
    (:func:`fast_bfloat16_products`), else ``float32`` (GPUs included)."""
    if precision != "auto":
        return precision
    return "bfloat16" if device.type == "cpu" and fast_bfloat16_products() else "float32"


class CDStep:
    """One CD-k step made in place (call it under ``torch.no_grad()``): the Gibbs chain and
    the SGD step of :class:`torch.optim.SGD` (momentum, no dampening; weight decay on the
    weight matrix only, as :func:`deepae.training.make_optimizer` sets it) on the gradient
    of the free-energy gap ``mean F(v) − mean F(ṽ)``, in closed form, with the same random
    draws as the autograd path of :func:`contrastive_divergence`.

    With ``V`` the data rows over the negative particles ``ṽ`` and ``S`` their hidden
    means scaled by ``−1/n`` (data) and ``+1/ñ`` (particles), the gradients are ``Sᵀ V``
    (weights), the column sums of ``S`` (hidden biases) and ``mean ṽ − mean v`` (visible
    biases), for every kind of units. Three matrix products a batch for persistent CD-1:
    the particles from the chains' hidden states, one pass over data and particles
    together (whose hidden means also give the chains' next states), and the weight
    update. With ``precision="bfloat16"`` the products take bfloat16 operands (the
    weights, data, samples and scaled means rounded to 8 significant bits, products
    accumulated in float32 by the kernel); the weights, their updates and everything
    else stay in float32.
    """

    def __init__(self, config: TrainingConfig, steps: int = 1, persistent: bool = False,
                 precision: str = "float32"):
        self.learning_rate = config.learning_rate
        self.momentum = config.momentum
        self.weight_decay = config.weight_decay
        self.steps, self.persistent = steps, persistent
        self.operands = PRECISIONS[precision]
        self.buffers: list[torch.Tensor] = []
        self.sign_columns: dict[tuple[int, int], torch.Tensor] = {}

    def __call__(self, rbm: modules.RBM, v: torch.Tensor, chain: list[torch.Tensor],
                 generator: torch.Generator) -> torch.Tensor:
        """Update ``rbm`` from the data ``v`` (and ``chain``, the persistent chains' hidden
        states, which it advances); return the free-energy gap."""
        operands = self.operands or v.dtype
        weight = rbm.weight.to(operands)
        if self.persistent and not chain:
            chain.append(torch.zeros(len(v), rbm.n_hidden, device=v.device, dtype=operands))
        data = v.to(operands)
        h = chain[0] if self.persistent else self.draw_hidden(rbm, data, weight, generator)
        negative = self.draw_visible(rbm, h, weight, generator)
        for _ in range(self.steps - 1):
            h = self.draw_hidden(rbm, negative, weight, generator)
            negative = self.draw_visible(rbm, h, weight, generator)
        rows = torch.cat([data, negative])
        pre = self.affine(rows, weight.t(), rbm.hidden_bias)
        hidden = pre if rbm.hidden == "gaussian" else torch.sigmoid(pre)
        signs = self.signs(len(v), len(negative), v)
        visible_gradient = negative.mean(0, dtype=v.dtype) - v.mean(0)
        gap = free_energy_gap(rbm, pre, signs, visible_gradient, rows)
        self.apply(rbm, hidden * signs, rows, visible_gradient)
        if self.persistent:
            chain[0] = modules.draw(hidden[len(v):], rbm.hidden, generator, operands)
        return gap

    def affine(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``x @ weight + bias``, in the bias's type."""
        if self.operands is None:
            return torch.addmm(bias, x, weight)
        return torch.add(x @ weight, bias)  # promoted to the bias's type

    def signs(self, n_data: int, n_negative: int, like: torch.Tensor) -> torch.Tensor:
        """The column of ``−1/n`` (data rows) and ``+1/ñ`` (particles), cached."""
        key = (n_data, n_negative)
        if key not in self.sign_columns:
            signs = torch.full((n_data + n_negative, 1), 1 / n_negative, device=like.device,
                               dtype=like.dtype)
            signs[:n_data] = -1 / n_data
            self.sign_columns[key] = signs
        return self.sign_columns[key]

    def draw_hidden(self, rbm: modules.RBM, v: torch.Tensor, weight: torch.Tensor,
                    generator: torch.Generator) -> torch.Tensor:
        """``h ~ P(h | v)`` (as the products' operand type)."""
        pre = self.affine(v, weight.t(), rbm.hidden_bias)
        mean = pre if rbm.hidden == "gaussian" else torch.sigmoid(pre)
        return modules.draw(mean, rbm.hidden, generator, v.dtype)

    def draw_visible(self, rbm: modules.RBM, h: torch.Tensor, weight: torch.Tensor,
                     generator: torch.Generator) -> torch.Tensor:
        """``v ~ P(v | h)`` (as the products' operand type)."""
        pre = self.affine(h, weight, rbm.visible_bias)
        mean = pre if rbm.visible == "gaussian" else torch.sigmoid(pre)
        return modules.draw(mean, rbm.visible, generator, h.dtype)

    def apply(self, rbm: modules.RBM, scaled: torch.Tensor, rows: torch.Tensor,
              visible_gradient: torch.Tensor) -> None:
        """``θ ← θ − lr · buffer``, ``buffer ← momentum · buffer + gradient`` (the gradient
        itself without momentum), the weight gradient ``scaledᵀ rows`` (+ decay)."""
        weight, hidden_bias, visible_bias = rbm.weight, rbm.hidden_bias, rbm.visible_bias
        lr = self.learning_rate
        hidden_gradient = scaled.sum(0)
        scaled = scaled.to(rows.dtype)
        if self.momentum == 0 and self.weight_decay == 0:
            if self.operands is None:
                weight.addmm_(scaled.t(), rows, alpha=-lr)
            else:
                weight.add_(scaled.t() @ rows, alpha=-lr)
            hidden_bias.add_(hidden_gradient, alpha=-lr)
            visible_bias.add_(visible_gradient, alpha=-lr)
            return
        if not self.buffers:
            self.buffers = [torch.zeros_like(p) for p in (weight, hidden_bias, visible_bias)]
        weight_buffer, hidden_buffer, visible_buffer = self.buffers
        if self.operands is None:
            weight_buffer.addmm_(scaled.t(), rows, beta=self.momentum)
        else:
            weight_buffer.mul_(self.momentum).add_(scaled.t() @ rows)
        if self.weight_decay:
            weight_buffer.add_(weight, alpha=self.weight_decay)
        hidden_buffer.mul_(self.momentum).add_(hidden_gradient)
        visible_buffer.mul_(self.momentum).add_(visible_gradient)
        for parameter, buffer in zip((weight, hidden_bias, visible_bias), self.buffers,
                                     strict=True):
            parameter.add_(buffer, alpha=-lr)


def free_energy_gap(rbm: modules.RBM, pre: torch.Tensor, signs: torch.Tensor,
                    visible_gradient: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``mean F(v) − mean F(ṽ)`` from the hidden pre-activations ``pre`` of data and
    particles, their ``signs`` (``−1/n``, ``+1/ñ``) and ``visible_gradient``
    (``mean ṽ − mean v``), without another pass over the visible units (for Bernoulli
    ones)."""
    if rbm.hidden == "gaussian":
        hidden = 0.5 * pre.square().sum(dim=1, keepdim=True)  # the −½‖c‖² terms cancel
    else:
        hidden = F.softplus(pre).sum(dim=1, keepdim=True)
    gap = (hidden * signs).sum()  # −Σ sign · hidden = mean F(v) − mean F(ṽ), hidden part
    if rbm.visible == "gaussian":
        visible = 0.5 * (rows.to(pre.dtype) - rbm.visible_bias).square().sum(dim=1, keepdim=True)
        return gap - (visible * signs).sum()
    return gap + visible_gradient @ rbm.visible_bias  # −(v·b) per row


def visible_units(data) -> str:
    """Bernoulli visible units for data in [0, 1], Gaussian ones otherwise."""
    low, high = feature_range(data)
    return "bernoulli" if low.min() >= 0 and high.max() <= 1 else "gaussian"


def train_rbm(module: modules.RBM, data: torch.Tensor, config: TrainingConfig,
              steps: int, persistent: bool, precision: str = "float32") -> list[dict]:
    """Train ``module`` on ``data`` by CD-``steps`` through the one training loop (no
    held-out data: the surrogate is no measure of fit). With SGD in one process the CD
    step is made in place (:class:`CDStep`, its products with ``precision`` operands);
    Adam, or data-parallel training (whose gradients the wrapper averages over processes),
    goes through autograd and the loop's optimizer, in float32."""
    in_place = config.optimizer == "sgd" and not distributed.active()
    loss_fn = contrastive_divergence(steps, persistent, config if in_place else None,
                                     precision)
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
    precision : {"auto", "float32", "bfloat16"}, default="auto"
        Operands of the in-place CD step's matrix products (SGD in one process).
        ``bfloat16``: weights, data, samples and hidden means are rounded to bfloat16 (8
        significant bits) for the products, which accumulate in float32; the weights,
        their updates and the rest stay float32. It trains to the same pseudo-likelihood
        within the spread between seeds. ``auto``: ``bfloat16`` on a CPU with
        AVX512-BF16 and no AMX (as AMD Zen 4; 1.3× to 2.4× as fast as float32 on MNIST-5k
        with 500 hidden units), ``float32`` on other CPUs (slower or emulated bfloat16) and
        on GPUs; see :func:`fast_bfloat16_products` and ``benchmarks/results.md``.
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
    checkpoint : str, path or None, default=None
        A directory for checkpoints of the fit: a killed fit run again resumes from the last
        one and ends as the uninterrupted fit would; removed when the fit succeeds (see
        :mod:`deepae.checkpoint`).

    Attributes
    ----------
    module_ : deepae.modules.RBM
    visible_ : str
        The visible units used (``auto`` resolved).
    precision_ : str
        The products' precision (``auto`` resolved).
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
        precision="auto",
        learning_rate=0.1,
        momentum=0.0,
        weight_decay=0.0,
        batch_size=10,
        max_epochs=10,
        random_state=None,
        device="auto",
        verbose=0,
        checkpoint=None,
    ):
        self.n_components = n_components
        self.visible = visible
        self.cd_steps = cd_steps
        self.persistent = persistent
        self.optimizer = optimizer
        self.precision = precision
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.checkpoint = checkpoint

    def _check_params(self) -> None:
        check_scalar(self.n_components, "n_components", numbers.Integral, min_val=1)
        check_option("visible", self.visible, ("auto", *modules.VISIBLE_UNITS))
        check_scalar(self.cd_steps, "cd_steps", numbers.Integral, min_val=1)
        check_option("optimizer", self.optimizer, OPTIMIZERS)
        check_option("precision", self.precision, ("auto", *PRECISIONS))
        check_scalar(self.learning_rate, "learning_rate", numbers.Real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self.momentum, "momentum", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.max_epochs, "max_epochs", numbers.Integral, min_val=1)
        check_scalar(self.verbose, "verbose", numbers.Integral)

    @checkpointed
    def fit(self, X, y=None):
        """Train on ``X`` by contrastive divergence; ``y`` is ignored."""
        X = check_X(self, X, reset=True)
        self._check_params()
        seed = seed_from(self.random_state)
        data = torch.tensor(X, dtype=torch.float32, device=resolve_device(self.device))
        self.visible_ = (visible_units(TensorRows(data)) if self.visible == "auto"
                         else self.visible)
        self.precision_ = resolve_precision(self.precision, data.device)
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
                                  bool(self.persistent), self.precision_)
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
