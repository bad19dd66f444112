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
from .rbm import train_rbm, visible_units
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


#: SGD learning rate of an RBM by the kind of its units (Hinton & Salakhutdinov's code: 0.1
#: for binary units, 0.001 for the linear top layer; 0.01 for Gaussian visible units).
RBM_LEARNING_RATES = {("bernoulli", "bernoulli"): 0.1, ("gaussian", "bernoulli"): 0.01,
                      ("bernoulli", "gaussian"): 0.001, ("gaussian", "gaussian"): 0.001}
RBM_ACTIVATIONS = ("sigmoid", "tanh", "linear")


def pretrain_rbms(
    data: torch.Tensor,
    hidden_layer_sizes: list[int],
    activations: list[str],
    config: TrainingConfig,
    output_activation: str = "linear",
    cd_steps: int = 1,
    persistent: bool = False,
) -> tuple[list[modules.Autoencoder], list[list[dict]]]:
    """Train a stack of RBMs greedily by CD (a deep belief network's recipe, Hinton &
    Salakhutdinov 2006); return them unrolled as tied autoencoders, and their histories.

    The first RBM has Bernoulli visible units for data in [0, 1], Gaussian ones otherwise;
    each higher one is trained on the hidden means of the one below. Sigmoid and tanh layers
    are RBMs with binary hidden units, linear layers (a linear code, say) RBMs with
    Gaussian hidden units of unit variance, as the top layer of Hinton & Salakhutdinov's
    deep autoencoders; the RBM above a linear layer has Gaussian visible units. An RBM's
    mean-field pass is a tied autoencoder (``σ(Wv + c)`` or ``Wv + c`` up, ``σ(Wᵀh + b)``
    or ``Wᵀh + b`` down), so sigmoid and linear layers take ``W, c, b`` as they are; tanh
    layers take the exactly equivalent weights, since ``tanh(a / 2) = 2σ(a) − 1`` (a tanh
    layer's units are ``2h − 1``, so its weights are halved and the layer above absorbs the
    shift in its biases). Every layer must be sigmoid, tanh or linear. All rows are trained
    on for ``config.max_epochs`` epochs (CD has no held-out loss to stop on) in
    ``config``'s batches, by SGD with momentum 0.9 at the rates of
    :data:`RBM_LEARNING_RATES`, as Hinton's practical guide to RBMs advises, whatever
    ``config``'s optimizer (Adam at the autoencoders' rate barely moves CD's weights: on
    bundled digits a 32-unit RBM's pseudo-likelihood was −24.5 after 5 Adam epochs, −18.6
    after 5 such SGD epochs).
    """
    for activation in activations:
        if activation not in RBM_ACTIVATIONS:
            raise ValueError(f"pretraining='rbm' needs sigmoid, tanh or linear units in every "
                             f"layer, got {tuple(activations)}.")
    autoencoders, histories = [], []
    current = data
    for depth, (size, activation) in enumerate(zip(hidden_layer_sizes, activations, strict=True)):
        below = activations[depth - 1] if depth > 0 else None
        visible = (visible_units(TensorRows(current)) if depth == 0
                   else "gaussian" if below == "linear" else "bernoulli")
        hidden = "gaussian" if activation == "linear" else "bernoulli"
        rbm = modules.RBM(current.shape[1], size, visible, hidden).to(data.device)
        rbm.reset_parameters(torch.Generator(device=data.device).manual_seed(config.seed + depth))
        layer_config = replace(
            config, optimizer="sgd", momentum=0.9,
            learning_rate=RBM_LEARNING_RATES[visible, hidden], seed=config.seed + depth,
            description=f"RBM layer {depth + 1}")
        histories.append(train_rbm(rbm, current, layer_config, cd_steps, persistent))
        output = output_activation if depth == 0 else below
        autoencoders.append(unrolled(rbm, activation, below == "tanh", output))
        with torch.no_grad():
            current = rbm.hidden_probabilities(current)
    return autoencoders, histories


def unrolled(rbm: modules.RBM, activation: str, tanh_input: bool,
             output_activation: str) -> modules.Autoencoder:
    """The tied autoencoder computing ``rbm``'s mean-field pass for ``activation`` units,
    whose input is ``2v − 1`` when ``tanh_input`` (a tanh layer below)."""
    weight, hidden_bias, visible_bias = rbm.weight, rbm.hidden_bias, rbm.visible_bias
    if tanh_input:  # v = (t + 1) / 2
        hidden_bias = hidden_bias + weight.sum(dim=1) / 2
        weight = weight / 2
    if activation == "tanh":  # tanh(a / 2) = 2σ(a) − 1, and h = (t + 1) / 2 below
        visible_bias = visible_bias + rbm.weight.sum(dim=0) / 2
        weight, hidden_bias = weight / 2, hidden_bias / 2
    if output_activation == "tanh":
        visible_bias = visible_bias / 2
    autoencoder = modules.Autoencoder(rbm.n_visible, rbm.n_hidden, activation, True,
                                      output_activation).to(weight.device)
    with torch.no_grad():
        autoencoder.weight.copy_(weight)
        autoencoder.bias.copy_(hidden_bias)
        autoencoder.decoder_bias.copy_(visible_bias)
    return autoencoder
