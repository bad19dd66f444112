"""Greedy layer-wise pretraining: a stack of one-layer (denoising) autoencoders.

For each layer ``l`` an autoencoder with ``d̃ = d^(l)`` is trained on the representations
``x^(l−1)`` of the layer below; its encoder becomes the initial ``W^(l)`` and encoding the
data gives ``x^(l)``. Every autoencoder is trained by the library's one training loop.
"""

from dataclasses import replace

import torch

from . import modules
from .autoencoder import Penalties, make_corruption, reconstruction_objective
from .data import TensorRows
from .training import TrainingConfig, train


def pretrain_layers(
    data: torch.Tensor,
    hidden_layer_sizes: list[int],
    activations: list[str],
    config: TrainingConfig,
    valid_rows: torch.Tensor | None = None,
    noise: str | None = None,
    noise_level: float = 0.0,
    output_activation: str = "linear",
    loss: str = "squared_error",
    penalties: Penalties | None = None,
) -> tuple[list[modules.Autoencoder], list[list[dict]]]:
    """Train one tied autoencoder per layer, bottom up; return them and their histories.

    Parameters
    ----------
    data : tensor of shape (n_samples, n_features)
        The inputs ``x^(0)``, on the device to train on.
    hidden_layer_sizes : list of int
        ``d^(1), …, d^(L)``.
    activations : list of str
        Hidden activation of each layer's autoencoder.
    config : TrainingConfig
        Settings of the training loop; layer ``l`` uses seed ``config.seed + l``.
    valid_rows : tensor of int, optional
        Rows held out for early stopping (the rest are trained on).
    noise, noise_level : corruption of each layer's input (``None``: plain autoencoders).
    output_activation, loss : str
        Output and loss of the first layer; a higher layer reconstructs the activated codes
        of the layer below, so its output activation is that layer's activation and its
        loss the squared error.
    penalties : Penalties, optional
        Sparsity and contractive penalties added to each layer's loss (sparse and
        contractive autoencoders); the sparsity penalty only on layers with sigmoid or tanh
        units (a linear code layer, say, is trained without it).
    """
    autoencoders, histories = [], []
    current = data
    train_rows = None
    if valid_rows is not None:
        keep = torch.ones(len(data), dtype=torch.bool, device=data.device)
        keep[valid_rows] = False
        train_rows = keep.nonzero().squeeze(1)
    for depth, (size, activation) in enumerate(zip(hidden_layer_sizes, activations, strict=True)):
        output = output_activation if depth == 0 else activations[depth - 1]
        layer_loss = loss if depth == 0 else "squared_error"
        autoencoder = modules.Autoencoder(current.shape[1], size, activation, True, output)
        autoencoder.reset_parameters(torch.Generator().manual_seed(config.seed + depth))
        autoencoder.to(data.device)
        layer_penalties = penalties
        if penalties is not None and activation not in modules.SPARSE_ACTIVATIONS:
            layer_penalties = replace(penalties, sparsity_weight=0.0)
        objective = reconstruction_objective(
            make_corruption(noise, noise_level, TensorRows(current)), output, layer_loss,
            penalties=layer_penalties,
        )
        layer_config = replace(config, seed=config.seed + depth,
                               description=f"pretraining layer {depth + 1}")
        if train_rows is None:
            history = train(autoencoder, objective, (current,), layer_config)
        else:
            history = train(autoencoder, objective, (current[train_rows],), layer_config,
                            (current[valid_rows],))
        with torch.no_grad():
            current = autoencoder.encode(current)
        autoencoders.append(autoencoder)
        histories.append(history)
    return autoencoders, histories

