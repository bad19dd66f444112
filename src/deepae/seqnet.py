"""Torch modules of the sequence autoencoders (no scikit-learn here).

Rows come in and go out flat: a window of ``n_channels`` channels and ``length`` steps,
channel by channel (``x.reshape(-1, n_channels, length)`` reads it back). Two architectures:
a 1-D convolutional autoencoder (strided convolutions along time, a dense code, transposed
convolutions back to the exact length) and a GRU encoder–decoder (the encoder's last state
gives the code, the decoder unrolls from it for ``length`` steps).
"""

import math

import torch
from torch import nn

from .convnet import halved_sizes
from .modules import glorot_


class Conv1dAutoencoder(nn.Module):
    """Windows ``(n_channels, length)`` → stride-2 1-D convolutions (ReLU) → dense code →
    dense layer → stride-2 transposed convolutions → windows (linear output)."""

    def __init__(self, n_channels: int, length: int, channels: tuple[int, ...],
                 kernel_size: int, code_size: int):
        super().__init__()
        self.n_channels, self.length = n_channels, length
        sizes = [h for h, _ in halved_sizes(length, 1, len(channels))]
        self.feature_shape = (channels[-1], sizes[-1])
        inputs = (n_channels, *channels[:-1])
        pad = kernel_size // 2
        self.encoder = nn.ModuleList(nn.Conv1d(a, b, kernel_size, stride=2, padding=pad)
                                     for a, b in zip(inputs, channels, strict=True))
        self.code = nn.Linear(math.prod(self.feature_shape), code_size)
        self.dense = nn.Linear(code_size, math.prod(self.feature_shape))
        self.decoder = nn.ModuleList(
            nn.ConvTranspose1d(channels[d], inputs[d], kernel_size, stride=2, padding=pad,
                               output_padding=sizes[d] - 2 * sizes[d + 1] + 1)
            for d in reversed(range(len(channels))))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        for layer in (*self.encoder, self.code, self.dense, *self.decoder):
            glorot_(layer.weight.data, "relu", generator)
            nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flat window."""
        h = x.reshape(-1, self.n_channels, self.length)
        for convolution in self.encoder:
            h = torch.relu(convolution(h))
        return self.code(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The flat windows rebuilt from codes."""
        h = torch.relu(self.dense(z)).reshape(-1, *self.feature_shape)
        for depth, convolution in enumerate(self.decoder):
            h = convolution(h)
            if depth < len(self.decoder) - 1:
                h = torch.relu(h)
        return h.flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class RecurrentAutoencoder(nn.Module):
    """A GRU encoder–decoder on flat windows: the encoder's last hidden state → a dense code →
    the decoder's initial state; the decoder GRU reads its own previous output (zeros first)
    and a dense layer maps each state to the channels, ``length`` times."""

    def __init__(self, n_channels: int, length: int, hidden_size: int, code_size: int):
        super().__init__()
        self.n_channels, self.length = n_channels, length
        self.encoder = nn.GRU(n_channels, hidden_size, batch_first=True)
        self.code = nn.Linear(hidden_size, code_size)
        self.state = nn.Linear(code_size, hidden_size)
        self.decoder = nn.GRUCell(n_channels, hidden_size)
        self.output = nn.Linear(hidden_size, n_channels)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Uniform ``±1/sqrt(hidden)`` recurrent weights (torch's rule), Glorot dense ones,
        zero biases."""
        bound = 1 / math.sqrt(self.encoder.hidden_size)
        for rnn in (self.encoder, self.decoder):
            for name, weight in rnn.named_parameters():
                if name.startswith("weight"):
                    nn.init.uniform_(weight, -bound, bound, generator=generator)
                else:
                    nn.init.zeros_(weight)
        for layer in (self.code, self.state, self.output):
            glorot_(layer.weight.data, "tanh", generator)
            nn.init.zeros_(layer.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flat window."""
        steps = x.reshape(-1, self.n_channels, self.length).transpose(1, 2)
        _, last = self.encoder(steps)
        return self.code(last[0])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The flat windows rebuilt from codes."""
        h = torch.tanh(self.state(z))
        previous = z.new_zeros(len(z), self.n_channels)
        outputs = []
        for _ in range(self.length):
            h = self.decoder(previous, h)
            previous = self.output(h)
            outputs.append(previous)
        return torch.stack(outputs, dim=2).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
