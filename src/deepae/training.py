"""The one training loop of the library: mini-batch gradient descent with early stopping.

Every gradient-trained estimator (autoencoders, layer-wise pretraining, fine-tuning of deep
classifiers and regressors) calls :func:`train` with its module, a loss function and its
tensors. The loop shuffles with a seeded generator, keeps a per-epoch history, stops early on
a held-out loss and restores the best weights, refuses to go on with a non-finite loss, and
on Ctrl-C keeps the best weights so far.
"""

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

Batch = tuple[torch.Tensor, ...]
LossFunction = Callable[[Batch, torch.Generator], torch.Tensor]
OPTIMIZERS = ("adam", "sgd")
RELATIVE_TOLERANCE = 1e-4  # an epoch improves when it lowers the best loss by this fraction


@dataclass
class TrainingConfig:
    """What :func:`train` needs besides the module, the loss and the data."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    max_epochs: int = 100
    patience: int = 10
    seed: int = 0
    verbose: int = 0
    description: str = "training"


def make_optimizer(module: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """Adam or SGD with momentum (fused kernels); weight decay on weight matrices only."""
    matrices = [p for p in module.parameters() if p.requires_grad and p.dim() > 1]
    vectors = [p for p in module.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum,
                               fused=True)
    return torch.optim.Adam(groups, lr=config.learning_rate, fused=True)


def iterate_batches(
    tensors: Batch, batch_size: int, generator: torch.Generator | None
) -> Iterator[Batch]:
    """Mini-batches of in-memory tensors: one shuffled gather per epoch, then slices."""
    n = len(tensors[0])
    if generator is not None:
        order = torch.randperm(n, generator=generator, device=generator.device)
        tensors = tuple(t[order.to(t.device)] for t in tensors)
    for start in range(0, n, batch_size):
        yield tuple(t[start : start + batch_size] for t in tensors)


def evaluate(module: nn.Module, loss_fn: LossFunction, tensors: Batch, seed: int) -> float:
    """Mean loss over ``tensors`` without gradients; corruption drawn from a fixed seed."""
    generator = torch.Generator(device=tensors[0].device).manual_seed(seed)
    total, n = 0.0, len(tensors[0])
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for batch in iterate_batches(tensors, 4096, None):
            total += float(loss_fn(batch, generator)) * len(batch[0])
    module.train(was_training)
    return total / n


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the module's weights."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def train(
    module: nn.Module,
    loss_fn: LossFunction,
    train_data: Batch,
    config: TrainingConfig,
    valid_data: Batch | None = None,
) -> list[dict]:
    """Fit ``module`` by mini-batch gradient descent on ``loss_fn``; return the history.

    ``loss_fn(batch, generator)`` returns the mean loss of a batch; ``generator`` drives any
    randomness inside it (corruption). With ``valid_data`` the loop stops after
    ``config.patience`` epochs without improvement of the validation loss and restores the
    weights of the best epoch; without it, it runs ``config.max_epochs`` epochs.

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss`` (or None), ``seconds``.

    Raises
    ------
    FloatingPointError
        When a loss becomes NaN or infinite; the weights are left at their best values.
    """
    device = train_data[0].device
    generator = torch.Generator(device=device).manual_seed(config.seed)
    optimizer = make_optimizer(module, config)
    history: list[dict] = []
    best_loss, best_weights, stale = float("inf"), snapshot(module), 0
    module.train()
    epochs = tqdm(
        range(1, config.max_epochs + 1),
        desc=config.description,
        disable=config.verbose <= 0,
        leave=False,
    )
    try:
        for epoch in epochs:
            start = time.perf_counter()
            train_loss = run_epoch(module, loss_fn, train_data, optimizer, generator, config)
            valid_loss = None
            if valid_data is not None:
                valid_loss = evaluate(module, loss_fn, valid_data, config.seed + 1)
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "valid_loss": valid_loss,
                    "seconds": time.perf_counter() - start,
                }
            )
            monitored = train_loss if valid_loss is None else valid_loss
            if not torch.isfinite(torch.tensor([train_loss, monitored])).all():
                module.load_state_dict(best_weights)
                raise FloatingPointError(
                    f"{config.description}: the loss became {train_loss} at epoch {epoch}; "
                    f"the learning rate ({config.learning_rate}) is probably too high."
                )
            epochs.set_postfix(loss=f"{monitored:.4g}")
            if valid_data is None:
                continue
            if monitored < best_loss * (1 - RELATIVE_TOLERANCE):
                best_loss, best_weights, stale = monitored, snapshot(module), 0
            else:
                stale += 1
                if stale >= config.patience:
                    break
    except KeyboardInterrupt:
        warnings.warn(
            f"{config.description}: interrupted after {len(history)} epochs; "
            "keeping the best weights so far.",
            stacklevel=2,
        )
    finally:
        epochs.close()
    if valid_data is not None and history:
        module.load_state_dict(best_weights)
    module.eval()
    return history


def run_epoch(
    module: nn.Module,
    loss_fn: LossFunction,
    tensors: Batch,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: TrainingConfig,
) -> float:
    """One pass over shuffled mini-batches; the mean training loss."""
    total = torch.zeros((), device=tensors[0].device)
    for batch in iterate_batches(tensors, config.batch_size, generator):
        loss = loss_fn(batch, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(batch[0])
    return float(total) / len(tensors[0])
