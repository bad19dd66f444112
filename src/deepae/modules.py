"""Torch modules of the library (no scikit-learn here): one-layer and deep autoencoders, and
the deep feed-forward network of the classifier and regressor."""

import math
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "linear": lambda x: x,
}
OUTPUT_ACTIVATIONS = ("linear", "sigmoid")
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's pre-activation for input ``x`` (see :func:`reconstruction_loss`)."""
        return self.decode_logits(self.encode(x))

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


def glorot_(weight: torch.Tensor, activation: str, generator: torch.Generator | None) -> None:
    """Glorot-uniform initialization in place (×4 for sigmoid units)."""
    fan_out, fan_in = weight.shape
    bound = math.sqrt(6.0 / (fan_in + fan_out)) * (4.0 if activation == "sigmoid" else 1.0)
    nn.init.uniform_(weight, -bound, bound, generator=generator)


class FeedForward(nn.Module):
    """A deep network ``d → h₁ → … → h_L → outputs``: activated hidden layers, linear output.

    The output is a logit (classification, with a softmax in the loss) or a prediction
    (regression). :meth:`load_encoders` copies pretrained autoencoder encoders into the hidden
    layers.
    """

    def __init__(self, sizes: list[int], activation: str = "tanh"):
        super().__init__()
        self.activation = activation
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        for layer in self.layers:
            glorot_(layer.weight.data, self.activation, generator)
            nn.init.zeros_(layer.bias)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's representation."""
        for layer in self.layers[:-1]:
            x = ACTIVATIONS[self.activation](layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[-1](self.hidden(x))

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
    matrix transposed. :meth:`load_encoders` copies a stack of pretrained one-layer
    autoencoders into both halves.
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: list[int],
        activation: str = "tanh",
        code_activation: str = "linear",
        tied: bool = True,
        output_activation: str = "linear",
    ):
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes]
        self.sizes = sizes
        self.activation = activation
        self.code_activation = code_activation
        self.tied = tied
        self.output_activation = output_activation
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

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The innermost code."""
        for layer, activation in zip(self.encoder, self.layer_activations(), strict=True):
            x = ACTIVATIONS[activation](layer(x))
        return x

    def decode_logits(self, h: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation for a code ``h``."""
        for depth in reversed(range(len(self.encoder))):
            weight = (self.encoder[depth].weight.t() if self.decoder_weights is None
                      else self.decoder_weights[depth])
            h = F.linear(h, weight, self.decoder_biases[depth])
            if depth > 0:
                h = ACTIVATIONS[self.activation](h)
        return h

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """The reconstruction from a code."""
        return ACTIVATIONS[self.output_activation](self.decode_logits(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(self.encode(x))

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
            f"output_activation={self.output_activation}"
        )


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
