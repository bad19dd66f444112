"""Torch modules of the convolutional autoencoder (no scikit-learn here).

Rows of flat pixels come in and go out; inside, each row is an image of shape ``(channels,
height, width)``. The encoder is a stack of strided convolutions (stride 2, an odd kernel
with "same" padding, so each one halves the height and width, rounding up) followed by one
dense layer to the code; the decoder mirrors it with a dense layer and transposed
convolutions whose output padding restores the exact image size, so any image size works.
"""

import math

import torch
from torch import nn

from .modules import ACTIVATIONS, FeedForward, glorot_


def halved_sizes(height: int, width: int, depth: int) -> list[tuple[int, int]]:
    """The image size before and after each of ``depth`` stride-2 convolutions (``ceil(n/2)``
    per convolution): ``depth + 1`` pairs, the input's first."""
    sizes = [(height, width)]
    for _ in range(depth):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class ConvEncoder(nn.Module):
    """Flat rows → images ``(c, h, w)`` → stride-2 convolutions → dense code.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of each row's image (row-major: channel, row, column).
    channels : tuple of int
        Output channels of each convolution.
    kernel_size : int
        Odd side of the square kernels.
    code_size : int
        Units of the code.
    activation : {"relu", "tanh", "sigmoid", "linear"}
        Activation after each convolution.
    code_activation : {"linear", "relu", "tanh", "sigmoid"}
        Activation of the code.
    """

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 kernel_size: int, code_size: int, activation: str = "relu",
                 code_activation: str = "linear"):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.channels = tuple(channels)
        self.kernel_size = kernel_size
        self.code_size = code_size
        self.activation = activation
        self.code_activation = code_activation
        inputs = (self.image_shape[0], *self.channels[:-1])
        self.convolutions = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size, stride=2, padding=kernel_size // 2)
            for a, b in zip(inputs, self.channels, strict=True))
        h, w = halved_sizes(*self.image_shape[1:], len(self.channels))[-1]
        self.feature_shape = (self.channels[-1], h, w)
        self.code = nn.Linear(math.prod(self.feature_shape), code_size)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        for convolution in self.convolutions:
            glorot_(convolution.weight.data, self.activation, generator)
            nn.init.zeros_(convolution.bias)
        glorot_(self.code.weight.data, self.code_activation, generator)
        nn.init.zeros_(self.code.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flat row."""
        h = x.reshape(-1, *self.image_shape)
        for convolution in self.convolutions:
            h = ACTIVATIONS[self.activation](convolution(h))
        return ACTIVATIONS[self.code_activation](self.code(h.flatten(1)))

    def extra_repr(self) -> str:
        return (f"image_shape={self.image_shape}, activation={self.activation}, "
                f"code_activation={self.code_activation}")


class ConvDecoder(nn.Module):
    """Code → dense layer → images → stride-2 transposed convolutions → flat rows of logits
    (the mirror of a :class:`ConvEncoder` with the same arguments)."""

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 kernel_size: int, code_size: int, activation: str = "relu"):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.activation = activation
        sizes = halved_sizes(*self.image_shape[1:], len(channels))
        self.feature_shape = (channels[-1], *sizes[-1])
        self.dense = nn.Linear(code_size, math.prod(self.feature_shape))
        outputs = (self.image_shape[0], *channels[:-1])
        self.convolutions = nn.ModuleList()
        for depth in reversed(range(len(channels))):
            (h_out, w_out), (h_in, w_in) = sizes[depth], sizes[depth + 1]
            self.convolutions.append(nn.ConvTranspose2d(
                channels[depth], outputs[depth], kernel_size, stride=2,
                padding=kernel_size // 2, output_padding=(h_out - 2 * h_in + 1,
                                                          w_out - 2 * w_in + 1)))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases."""
        glorot_(self.dense.weight.data, self.activation, generator)
        nn.init.zeros_(self.dense.bias)
        for convolution in self.convolutions:
            glorot_(convolution.weight.data, self.activation, generator)
            nn.init.zeros_(convolution.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation, as flat rows."""
        h = ACTIVATIONS[self.activation](self.dense(z)).reshape(-1, *self.feature_shape)
        last = len(self.convolutions) - 1
        for depth, convolution in enumerate(self.convolutions):
            h = convolution(h)
            if depth < last:
                h = ACTIVATIONS[self.activation](h)
        return h.flatten(1)


class ConvAutoencoder(nn.Module):
    """A convolutional autoencoder on flat rows: a :class:`ConvEncoder` and the mirrored
    :class:`ConvDecoder`, the output activated by ``output_activation``."""

    def __init__(self, image_shape: tuple[int, int, int], channels: tuple[int, ...],
                 kernel_size: int, code_size: int, activation: str = "relu",
                 code_activation: str = "linear", output_activation: str = "sigmoid"):
        super().__init__()
        self.output_activation = output_activation
        self.encoder = ConvEncoder(image_shape, channels, kernel_size, code_size, activation,
                                   code_activation)
        self.decoder = ConvDecoder(image_shape, channels, kernel_size, code_size, activation)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases (encoder first)."""
        self.encoder.reset_parameters(generator)
        self.decoder.reset_parameters(generator)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flat row."""
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation for codes ``z`` (flat rows)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The reconstruction (flat rows) from codes."""
        return ACTIVATIONS[self.output_activation](self.decoder(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The output pre-activation for flat rows ``x`` (see
        :func:`deepae.modules.reconstruction_loss`)."""
        return self.decoder(self.encoder(x))

    def extra_repr(self) -> str:
        return f"output_activation={self.output_activation}"


class ConvNetwork(nn.Module):
    """A convolutional encoder as the first stage of a deep network: the code of a
    :class:`ConvEncoder` feeds a :class:`deepae.modules.FeedForward` head (hidden layers and
    the output layer). Has the head's ``forward(x, generator)`` and ``reset_parameters``."""

    def __init__(self, encoder: ConvEncoder, head: FeedForward):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights, zero biases (encoder first)."""
        self.encoder.reset_parameters(generator)
        self.head.reset_parameters(generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.head(self.encoder(x), generator)
