"""Torch modules of the library (no scikit-learn here): the one-hidden-layer autoencoder."""

import math

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
        bound = math.sqrt(6.0 / (self.n_features + self.hidden_size))
        if self.activation == "sigmoid":
            bound *= 4.0
        for weight in (self.weight, self.decoder_weight):
            if weight is not None:
                nn.init.uniform_(weight, -bound, bound, generator=generator)
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
    logits: torch.Tensor, target: torch.Tensor, output_activation: str, loss: str
) -> torch.Tensor:
    """Mean over samples of the per-sample loss summed over features.

    ``squared_error`` is the seed's ``Σ_i (g_i(x) − x_i)²``; ``binary_cross_entropy`` is
    computed from the logits (stable) and needs a sigmoid output.
    """
    if loss == "binary_cross_entropy":
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_entry = (ACTIVATIONS[output_activation](logits) - target).square()
    return per_entry.sum(dim=1).mean()
