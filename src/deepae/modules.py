"""Torch modules of the library (no scikit-learn here): one-layer and deep autoencoders, the
deep feed-forward network of the classifier and regressor, and the variational autoencoder."""

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from .blur import GaussianBlur

ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "linear": lambda x: x,
}
OUTPUT_ACTIVATIONS = ("linear", "sigmoid")
#: Hidden activations with a bounded range, for which a sparsity target makes sense.
SPARSE_ACTIVATIONS = ("sigmoid", "tanh")
LOSSES = ("squared_error", "binary_cross_entropy")


class Autoencoder(nn.Module):
    """A ``d → d̃ → d`` autoencoder: ``Φ(x) = act(W x + b)``, ``g(x) = out(W₂ Φ(x) + c)``.

    With ``tied=True`` the decoder matrix is the encoder's transpose (``W₂ = Wᵀ``, the
    constraint ``w_ij^(1) = w_ji^(2)``). ``activation="linear"``, ``tied=True`` and
    ``bias=False`` give the linear autoencoder ``h(x) = Wᵀ W x`` (rows of ``W`` as code axes).

    Parameters
    ----------
    n_features : int
        Input (and output) size ``d``.
    hidden_size : int
        Code size ``d̃``.
    activation : {"tanh", "sigmoid", "relu", "linear"}
        Hidden activation.
    tied : bool
        Share the encoder matrix with the decoder.
    output_activation : {"linear", "sigmoid"}
        Output activation (``sigmoid`` for data in ``[0, 1]``).
    bias : bool
        Learn the biases ``b`` and ``c``.
    """

    def __init__(
        self,
        n_features: int,
        hidden_size: int,
        activation: str = "tanh",
        tied: bool = True,
        output_activation: str = "linear",
        bias: bool = True,
    ):
        super().__init__()
        self.n_features = n_features
        self.hidden_size = hidden_size
        self.activation = activation
        self.tied = tied
        self.output_activation = output_activation
        self.weight = nn.Parameter(torch.empty(hidden_size, n_features))
        self.decoder_weight = None if tied else nn.Parameter(torch.empty(n_features, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.decoder_bias = nn.Parameter(torch.empty(n_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights (×4 for sigmoid units, as Glorot & Bengio advise); zero biases."""
        for weight in (self.weight, self.decoder_weight):
            if weight is not None:
                glorot_(weight.data, self.activation, generator)
        for bias in (self.bias, self.decoder_bias):
            if bias is not None:
                nn.init.zeros_(bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code ``Φ(x)``."""
        return ACTIVATIONS[self.activation](F.linear(x, self.weight, self.bias))

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder's pre-activation ``W₂ h + c``."""
        weight = self.weight.t() if self.tied else self.decoder_weight
        return F.linear(h, weight, self.decoder_bias)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The reconstruction from a code."""
        return ACTIVATIONS[self.output_activation](self.decode_logits(h))

    def forward(self, x: torch.Tensor, return_code: bool = False):
        """The decoder's pre-activation for input ``x`` (see :func:`reconstruction_loss`);
        with ``return_code``, the pair (pre-activation, code ``Φ(x)``)."""
        code = self.encode(x)
        logits = self.decode_logits(code)
        return (logits, code) if return_code else logits

    def extra_repr(self) -> str:
        return (
            f"n_features={self.n_features}, hidden_size={self.hidden_size}, "
            f"activation={self.activation}, tied={self.tied}, "
            f"output_activation={self.output_activation}, bias={self.bias is not None}"
        )


def reconstruction_loss(
    logits: torch.Tensor, target: torch.Tensor, output_activation: str, loss: str,
    trim_fraction: float = 0.0,
) -> torch.Tensor:
    """Mean over samples of the per-sample loss summed over features.

    ``squared_error`` is the seed's ``Σ_i (g_i(x) − x_i)²``; ``binary_cross_entropy`` is
    computed from the logits (stable) and needs a sigmoid output. With ``trim_fraction`` the
    mean leaves out that fraction of the batch's samples with the largest losses (a trimmed
    loss: outliers in the training data are not fitted, so they keep large errors).
    """
    if loss == "binary_cross_entropy":
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_entry = (ACTIVATIONS[output_activation](logits) - target).square()
    per_sample = per_entry.sum(dim=1)
    if trim_fraction > 0:
        keep = max(1, round((1 - trim_fraction) * len(per_sample)))
        per_sample = per_sample.topk(keep, largest=False, sorted=False).values
    return per_sample.mean()


def sparsity_penalty(code: torch.Tensor, target: float, activation: str) -> torch.Tensor:
    """``Σ_j KL(ρ ‖ ρ̂_j)``: the KL divergence between Bernoulli(``target``) and Bernoulli(ρ̂_j),
    ρ̂_j the mean activation of unit ``j`` over the batch, summed over the units.

    A sigmoid unit's activation is in [0, 1] as it is; a tanh unit's ``h`` in [−1, 1] is
    mapped to ``(h + 1) / 2`` (so ``target=0.05`` asks tanh units to sit near −0.9 on
    average). ρ̂ is clamped to [1e-6, 1 − 1e-6] so the penalty stays finite.
    """
    if activation == "tanh":
        code = (code + 1) / 2
    mean = code.mean(dim=0).clamp(1e-6, 1 - 1e-6)
    return (target * torch.log(target / mean)
            + (1 - target) * torch.log((1 - target) / (1 - mean))).sum()


def activation_derivative(code: torch.Tensor, activation: str) -> torch.Tensor:
    """``act'(a)`` written with the activation ``h = act(a)``."""
    if activation == "tanh":
        return 1 - code.square()
    if activation == "sigmoid":
        return code * (1 - code)
    if activation == "relu":
        return (code > 0).to(code.dtype)
    return torch.ones_like(code)


def contractive_penalty(code: torch.Tensor, weight: torch.Tensor, activation: str) -> torch.Tensor:
    """Mean over the batch of ``‖∂Φ(x)/∂x‖²_F`` for one dense layer ``Φ(x) = act(W x + b)``
    (Rifai et al., 2011), in closed form: ``∂Φ_j/∂x_i = act'(a_j) W_ji``, so the squared
    Frobenius norm is ``Σ_j act'(a_j)² ‖W_j‖²``. ``code`` is ``Φ(x)`` for the batch."""
    slopes = activation_derivative(code, activation).square()
    return (slopes @ weight.square().sum(dim=1)).mean()


def glorot_(weight: torch.Tensor, activation: str, generator: torch.Generator | None) -> None:
    """Glorot-uniform initialization in place (×4 for sigmoid units); a convolution's fans
    count the kernel's positions."""
    receptive = math.prod(weight.shape[2:])
    fan_out, fan_in = weight.shape[0] * receptive, weight.shape[1] * receptive
    bound = math.sqrt(6.0 / (fan_in + fan_out)) * (4.0 if activation == "sigmoid" else 1.0)
    nn.init.uniform_(weight, -bound, bound, generator=generator)


def dropout(x: torch.Tensor, rate: float, generator: torch.Generator | None) -> torch.Tensor:
    """Inverted dropout: a random ``rate`` fraction of the entries zeroed (drawn from
    ``generator``), the others scaled by ``1 / (1 − rate)``; ``x`` itself when ``rate`` is 0."""
    if rate == 0:
        return x
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= rate
    return x * keep / (1 - rate)


class FeedForward(nn.Module):
    """A deep network ``d → h₁ → … → h_L → outputs``: activated hidden layers, linear output.

    The output is a logit (classification, with a softmax in the loss) or a prediction
    (regression). With ``dropout`` a random fraction of each hidden layer's units is zeroed in
    training mode (Srivastava et al., 2014; masks drawn from the ``generator`` given to
    :meth:`forward`); in eval mode the network is deterministic. :meth:`load_encoders` copies
    pretrained autoencoder encoders into the hidden layers.
    """

    def __init__(self, sizes: list[int], activation: str = "tanh", dropout: float = 0.0):
        super().__init__()
        self.activation = activation
        self.dropout = dropout
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        for layer in self.layers:
            glorot_(layer.weight.data, self.activation, generator)
            nn.init.zeros_(layer.bias)

    def hidden(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The last hidden layer's representation (with dropout in training mode)."""
        rate = self.dropout if self.training else 0.0
        for layer in self.layers[:-1]:
            x = dropout(ACTIVATIONS[self.activation](layer(x)), rate, generator)
        return x

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.layers[-1](self.hidden(x, generator))

    def extra_repr(self) -> str:
        return f"activation={self.activation}, dropout={self.dropout}"

    def load_encoders(self, encoders: list[Autoencoder]) -> None:
        """Use pretrained encoders ``W^(l), b^(l)`` as the initial hidden layers."""
        with torch.no_grad():
            for layer, encoder in zip(self.layers, encoders, strict=False):
                layer.weight.copy_(encoder.weight)
                layer.bias.copy_(encoder.bias)


class DeepAutoencoder(nn.Module):
    """A deep autoencoder: encoder ``d → h₁ → … → h_L`` and the mirrored decoder.

    Hidden layers use ``activation``, the innermost code ``code_activation`` (linear by
    default, as in deep autoencoders for dimensionality reduction) and the output
    ``output_activation``. With ``tied=True`` each decoder layer uses its encoder layer's
    matrix transposed. With ``dropout`` a random fraction of the units of every hidden layer
    (not the code, not the output) is zeroed in training mode, the masks drawn from the
    ``generator`` given to :meth:`forward`. :meth:`load_encoders` copies a stack of
    pretrained one-layer autoencoders into both halves.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: list[int],
        activation: str = "tanh",
        code_activation: str = "linear",
        tied: bool = True,
        output_activation: str = "linear",
        dropout: float = 0.0,
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.sizes = sizes
        self.activation = activation
        self.code_activation = code_activation
        self.tied = tied
        self.output_activation = output_activation
        self.dropout = dropout
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.decoder_biases = nn.ParameterList(nn.Parameter(torch.empty(a)) for a in sizes[:-1])
        self.decoder_weights = None if tied else nn.ParameterList(
            nn.Parameter(torch.empty(a, b)) for a, b in pairwise(sizes)
        )
        self.reset_parameters()

    def layer_activations(self) -> list[str]:
        """The activation of each encoder layer (the last one is the code's)."""
        return [self.activation] * (len(self.encoder) - 1) + [self.code_activation]

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        for depth, layer in enumerate(self.encoder):
            glorot_(layer.weight.data, self.layer_activations()[depth], generator)
            nn.init.zeros_(layer.bias)
            nn.init.zeros_(self.decoder_biases[depth])
            if self.decoder_weights is not None:
                glorot_(self.decoder_weights[depth].data, self.activation, generator)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The innermost code (with dropout on the hidden layers in training mode)."""
        rate = self.dropout if self.training else 0.0
        for depth, (layer, activation) in enumerate(zip(self.encoder, self.layer_activations(),
                                                        strict=True)):
            x = ACTIVATIONS[activation](layer(x))
            if depth < len(self.encoder) - 1:
                x = dropout(x, rate, generator)
        return x

    def decode_logits(self, h: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The output layer's pre-activation for a code ``h``."""
        rate = self.dropout if self.training else 0.0
        for depth in reversed(range(len(self.encoder))):
            weight = (self.encoder[depth].weight.t() if self.decoder_weights is None
                      else self.decoder_weights[depth])
            h = F.linear(h, weight, self.decoder_biases[depth])
            if depth > 0:
                h = dropout(ACTIVATIONS[self.activation](h), rate, generator)
        return h

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The reconstruction from a code."""
        return ACTIVATIONS[self.output_activation](self.decode_logits(h))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode_logits(self.encode(x, generator), generator)

    def load_encoders(self, encoders: list[Autoencoder]) -> None:
        """Initialize layer ``l`` of both halves from the ``l``-th pretrained autoencoder."""
        with torch.no_grad():
            for depth, encoder in enumerate(encoders):
                self.encoder[depth].weight.copy_(encoder.weight)
                self.encoder[depth].bias.copy_(encoder.bias)
                self.decoder_biases[depth].copy_(encoder.decoder_bias)
                if self.decoder_weights is not None:
                    decoder = encoder.weight.t() if encoder.tied else encoder.decoder_weight
                    self.decoder_weights[depth].copy_(decoder)

    def extra_repr(self) -> str:
        return (
            f"sizes={self.sizes}, activation={self.activation}, "
            f"code_activation={self.code_activation}, tied={self.tied}, "
            f"output_activation={self.output_activation}, dropout={self.dropout}"
        )


VISIBLE_UNITS = ("bernoulli", "gaussian")
HIDDEN_UNITS = ("bernoulli", "gaussian")


class RBM(nn.Module):
    """A restricted Boltzmann machine: binary or Gaussian (unit variance) hidden units ``h``,
    Bernoulli or Gaussian (unit variance) visible units ``v``, weights ``W`` and biases ``c``
    (hidden), ``b`` (visible).

    The energy is ``E(v, h) = −hᵀWv − cᵀh − bᵀv`` (both binary), with ``½‖v − b‖²`` in
    place of ``−bᵀv`` for Gaussian visible units and ``½‖h − c‖²`` in place of ``−cᵀh``
    for Gaussian hidden units. So ``P(h_j = 1 | v) = σ(W_j v + c_j)`` (binary) or
    ``h | v ~ N(Wv + c, I)`` (Gaussian: a linear code, the top layer of Hinton &
    Salakhutdinov's deep autoencoders), and ``E[v | h] = σ(Wᵀh + b)`` (Bernoulli) or
    ``Wᵀh + b`` (Gaussian). :meth:`forward` is the free energy
    ``F(v) = −log Σ_h exp(−E(v, h))`` (an integral over Gaussian ``h``, up to a constant),
    whose gradient gives contrastive divergence (see
    :func:`deepae.rbm.contrastive_divergence`).
    """

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "bernoulli",
                 hidden: str = "bernoulli"):
        super().__init__()
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.visible = visible
        self.hidden = hidden
        self.weight = nn.Parameter(torch.empty(n_hidden, n_visible))
        self.hidden_bias = nn.Parameter(torch.empty(n_hidden))
        self.visible_bias = nn.Parameter(torch.empty(n_visible))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Weights from ``N(0, 0.01²)`` (as scikit-learn's ``BernoulliRBM``), zero biases."""
        nn.init.normal_(self.weight, 0.0, 0.01, generator=generator)
        nn.init.zeros_(self.hidden_bias)
        nn.init.zeros_(self.visible_bias)

    def hidden_probabilities(self, v: torch.Tensor) -> torch.Tensor:
        """``E[h | v]``: ``P(h = 1 | v)`` for binary hidden units, ``Wv + c`` for Gaussian
        ones."""
        mean = F.linear(v, self.weight, self.hidden_bias)
        return torch.sigmoid(mean) if self.hidden == "bernoulli" else mean

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]``."""
        mean = F.linear(h, self.weight.t(), self.visible_bias)
        return torch.sigmoid(mean) if self.visible == "bernoulli" else mean

    def sample_hidden(self, v: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A draw of ``h`` given ``v``."""
        return draw(self.hidden_probabilities(v), self.hidden, generator)

    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A draw of ``v`` given ``h``."""
        return draw(self.visible_mean(h), self.visible, generator)

    def forward(self, v: torch.Tensor, return_hidden: bool = False):
        """The free energy ``F(v)`` of each row; with ``return_hidden``, the pair (free
        energy, ``E[h | v]``), the hidden means from the same pre-activation."""
        pre = F.linear(v, self.weight, self.hidden_bias)
        if self.hidden == "gaussian":
            hidden = 0.5 * (pre.square().sum(dim=1) - self.hidden_bias.square().sum())
        else:
            hidden = F.softplus(pre).sum(dim=1)
        if self.visible == "gaussian":
            energy = 0.5 * (v - self.visible_bias).square().sum(dim=1) - hidden
        else:
            energy = -(v @ self.visible_bias) - hidden
        if not return_hidden:
            return energy
        return energy, (torch.sigmoid(pre) if self.hidden == "bernoulli" else pre)

    def pseudo_log_likelihood(self, v: torch.Tensor, block: int | None = None) -> torch.Tensor:
        """``Σ_i log P(v_i | v_−i)`` of each row (Bernoulli visible and binary hidden units),
        exactly: flipping ``v_i`` to ``1 − v_i`` gives ``v′`` and
        ``P(v_i | v_−i) = σ(F(v′) − F(v))``.
        ``block`` visible units are flipped at a time (by default about 2²² numbers)."""
        pre = F.linear(v, self.weight, self.hidden_bias)
        base = F.softplus(pre).sum(dim=1, keepdim=True)
        sign = 1 - 2 * v
        block = block or max(1, (1 << 22) // max(1, len(v) * self.n_hidden))
        terms = []
        for start in range(0, self.n_visible, block):
            cols = slice(start, start + block)
            flipped = pre[:, None, :] + sign[:, cols, None] * self.weight.t()[None, cols, :]
            gap = (self.visible_bias[cols] * sign[:, cols]
                   + F.softplus(flipped).sum(dim=2) - base)  # F(v) − F(v′)
            terms.append(F.softplus(gap).sum(dim=1))
        return -torch.stack(terms).sum(dim=0)

    def extra_repr(self) -> str:
        return (f"n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"visible={self.visible}, hidden={self.hidden}")


def draw(mean: torch.Tensor, units: str, generator: torch.Generator | None,
         dtype: torch.dtype | None = None) -> torch.Tensor:
    """A draw of units with this ``mean``: Bernoulli (0 or 1) or Gaussian of unit variance,
    as ``dtype`` (by default the mean's), without gradient."""
    mean = mean.detach()
    out = torch.empty(mean.shape, device=mean.device, dtype=dtype or mean.dtype)
    if units == "gaussian":
        noise = torch.randn(mean.shape, generator=generator, device=mean.device,
                            dtype=mean.dtype)
        return torch.add(mean, noise, out=out)
    uniform = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
    return torch.lt(uniform, mean, out=out)  # 1 with probability mean, written as dtype


class LinearCoder(nn.Module):
    """The closed-form linear autoencoder (or PCA) as a module: ``encode(x) = (x − mean) Wᵀ /
    scale`` and ``decode(z) = (z · scale) W + mean``, with ``W`` the ``components`` (rows)."""

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("components", components)
        self.register_buffer("scale", scale)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of ``x``."""
        return (x - self.mean) @ self.components.t() / self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction from a code."""
        return (z * self.scale) @ self.components + self.mean


DECODERS = ("bernoulli", "gaussian")
LOG_2PI = math.log(2 * math.pi)
#: Floor of the Gaussian decoder's log-variance: a constant feature cannot drive it to −∞.
MIN_LOGVAR = math.log(1e-6)


class VAE(nn.Module):
    """A variational autoencoder (Kingma & Welling 2014): encoder ``d → hidden → (μ, log σ²)``
    of a diagonal Gaussian ``q(z | x)`` over codes of size ``code_size``, prior
    ``p(z) = N(0, I)``, decoder ``code → hidden → d``.

    The decoder ``p(x | z)`` is Bernoulli (its output are logits; data in ``[0, 1]``) or
    Gaussian (its output is the mean; the per-feature log-variance is learned, floored at
    :data:`MIN_LOGVAR`, or fixed). With a ``blur``, the Gaussian is one of correlated
    pixels: ``B (x − μ(z)) ~ N(0, diag σ²)``, ``B`` the blur, so
    ``log p(x | z) = Σ_i log N((B(x − μ))_i; 0, σ_i²) + log |det B|`` — an error spread over
    neighbouring pixels weighs more than one that alternates from pixel to pixel.

    Parameters
    ----------
    n_features : int
        Input size ``d``.
    code_size : int
        Size of the latent code ``z``.
    hidden_size : int
        Units of the encoder's and the decoder's hidden layer.
    activation : {"tanh", "sigmoid", "relu", "linear"}
        Hidden activation.
    decoder : {"bernoulli", "gaussian"}
        The likelihood ``p(x | z)``.
    decoder_variance : float or None
        The Gaussian decoder's fixed variance of every feature; None learns one per feature.
    blur : deepae.blur.GaussianBlur or None
        The Gaussian decoder's blur ``B`` of the residuals (None: independent pixels).
    """

    def __init__(self, n_features: int, code_size: int, hidden_size: int,
                 activation: str = "relu", decoder: str = "bernoulli",
                 decoder_variance: float | None = None, blur: GaussianBlur | None = None):
        super().__init__()
        self.blur = blur
        self.n_features = n_features
        self.code_size = code_size
        self.hidden_size = hidden_size
        self.activation = activation
        self.decoder = decoder
        self.decoder_variance = decoder_variance
        self.encoder_hidden = nn.Linear(n_features, hidden_size)
        self.encoder_mean = nn.Linear(hidden_size, code_size)
        self.encoder_logvar = nn.Linear(hidden_size, code_size)
        self.decoder_hidden = nn.Linear(code_size, hidden_size)
        self.decoder_output = nn.Linear(hidden_size, n_features)
        if decoder == "gaussian" and decoder_variance is not None:
            self.register_buffer("output_logvar", torch.full(
                (n_features,), math.log(decoder_variance)))
        else:
            self.output_logvar = nn.Parameter(torch.empty(n_features)) if (
                decoder == "gaussian") else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights (×4 before sigmoid units), zero biases and learned output
        log-variances (unit variance)."""
        for layer in (self.encoder_hidden, self.decoder_hidden):
            glorot_(layer.weight.data, self.activation, generator)
            nn.init.zeros_(layer.bias)
        for layer in (self.encoder_mean, self.encoder_logvar, self.decoder_output):
            glorot_(layer.weight.data, "linear", generator)
            nn.init.zeros_(layer.bias)
        if isinstance(self.output_logvar, nn.Parameter):
            nn.init.zeros_(self.output_logvar)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of ``q(z | x)``."""
        h = ACTIVATIONS[self.activation](self.encoder_hidden(x))
        return self.encoder_mean(h), self.encoder_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's output: Bernoulli logits or the Gaussian mean."""
        return self.decoder_output(ACTIVATIONS[self.activation](self.decoder_hidden(z)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The mean of ``p(x | z)``."""
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.decoder == "bernoulli" else out

    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` summed over the last axis, from the decoder's output ``out``."""
        if self.decoder == "bernoulli":
            return -F.binary_cross_entropy_with_logits(
                out, x.expand_as(out), reduction="none").sum(-1)
        logvar = self.output_logvar.clamp(min=MIN_LOGVAR)
        residuals = x - out
        if self.blur is not None:
            residuals = self.blur(residuals)
        log_likelihood = -0.5 * (LOG_2PI + logvar + residuals.square() * torch.exp(-logvar)
                                 ).sum(-1)
        if self.blur is None:
            return log_likelihood
        return log_likelihood + self.blur.log_abs_det.to(log_likelihood.dtype)

    def standard_noise(self, x: torch.Tensor, generator: torch.Generator | None,
                       n: int | None = None) -> torch.Tensor:
        """Standard normal draws ``ε`` for the rows of ``x``: shape ``(rows, code_size)``, or
        ``(n, rows, code_size)`` for ``n`` draws per row."""
        shape = (len(x), self.code_size) if n is None else (n, len(x), self.code_size)
        return torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)

    def elbo(self, x: torch.Tensor, generator: torch.Generator | None = None,
             beta: float = 1.0) -> torch.Tensor:
        """Per-sample evidence lower bound ``E_q[log p(x | z)] − β KL(q(z | x) ‖ p(z))``, the
        expectation from one draw of ``z`` for each row, the KL divergence in closed form."""
        return self.elbo_at(x, self.standard_noise(x, generator), beta)

    def elbo_at(self, x: torch.Tensor, noise: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
        """The :meth:`elbo` at given standard normal draws ``noise`` (``z = μ + σ ε``)."""
        mean, logvar = self.encode(x)
        z = mean + torch.exp(0.5 * logvar) * noise
        return self.log_likelihood(x, self.decode_logits(z)) - beta * gaussian_kl(mean, logvar)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                beta: float = 1.0) -> torch.Tensor:
        """The per-sample :meth:`elbo`."""
        return self.elbo(x, generator, beta)

    def importance_weighted(self, x: torch.Tensor, k: int,
                            generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-sample importance-weighted bound (Burda et al. 2016) with ``k`` draws from
        ``q(z | x)`` for each row: ``log (1/k) Σ_i p(x, z_i) / q(z_i | x)``; the draws are
        decoded in chunks of about 2²² output numbers."""
        chunk = max(1, (1 << 22) // max(1, len(x) * self.n_features))
        return self.importance_weighted_at(x, self.standard_noise(x, generator, k), chunk)

    def importance_weighted_at(self, x: torch.Tensor, noise: torch.Tensor,
                               chunk: int | None = None) -> torch.Tensor:
        """The :meth:`importance_weighted` bound at given standard normal draws ``noise`` of
        shape ``(k, rows or 1, code_size)``, decoded ``chunk`` draws at a time (all at once
        when None)."""
        mean, logvar = self.encode(x)
        std, k = torch.exp(0.5 * logvar), noise.shape[0]
        log_weights = []
        for start in range(0, k, chunk or k):
            eps = noise[start:start + (chunk or k)]
            z = mean + std * eps
            log_prior = -0.5 * (LOG_2PI + z.square()).sum(-1)
            log_posterior = -0.5 * (LOG_2PI + logvar + eps.square()).sum(-1)
            log_weights.append(self.log_likelihood(x, self.decode_logits(z))
                               + log_prior - log_posterior)
        return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(k)

    def extra_repr(self) -> str:
        return (f"n_features={self.n_features}, code_size={self.code_size}, "
                f"hidden_size={self.hidden_size}, activation={self.activation}, "
                f"decoder={self.decoder}, decoder_variance={self.decoder_variance}")


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)`` of each row."""
    return 0.5 * (mean.square() + torch.exp(logvar) - 1 - logvar).sum(-1)
