"""The one training loop of the library: mini-batch gradient descent with early stopping.

Every gradient-trained estimator (autoencoders, layer-wise pretraining, fine-tuning of deep
classifiers and regressors) calls :func:`train` with its module, a loss function and its
data (tensors, or a source from :mod:`deepae.data`). The loop shuffles with a seeded
generator, keeps a per-epoch history, stops early on a held-out loss and restores the best
weights, refuses to go on with a non-finite loss, and on Ctrl-C keeps the best weights so far.
In a fit with checkpoints (see :mod:`deepae.checkpoint`) it hands its state to a checkpoint
stage at epoch ends (and now and then between batches) and resumes from the saved one; there
Ctrl-C stops the fit, keeping the checkpoints to resume from.

Under a process group (see :mod:`deepae.distributed`) each rank passes its shard: the module
is wrapped in ``DistributedDataParallel`` (gradients averaged over ranks, so the global batch
is the sum of the ranks' batches; uneven shards are handled by ``Join``), the losses are
averaged over ranks, so every rank makes the same early-stopping decision and ends with the
same weights, and only rank 0 shows progress.
"""

import contextlib
import itertools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.distributed.algorithms.join import Join
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from . import checkpoint, distributed
from .checkpoint import Progress
from .data import Batch, Rows, TensorRows

LossFunction = Callable[[Callable, Batch, torch.Generator], torch.Tensor]
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


def undecorated(method: Callable) -> Callable:
    """``method`` without the wrapper torch.optim puts on it for ``torch.compile``: that
    wrapper imports ``torch._dynamo`` on its first call (about 1 s, once per process, most of
    a small fit's time on the command line); the library never compiles its optimizers."""
    return getattr(method, "__wrapped__", method)


class EagerOptimizer(torch.optim.Optimizer):
    """The methods of :class:`torch.optim.Optimizer` without their ``torch._dynamo`` import."""

    add_param_group = undecorated(torch.optim.Optimizer.add_param_group)
    zero_grad = undecorated(torch.optim.Optimizer.zero_grad)
    state_dict = undecorated(torch.optim.Optimizer.state_dict)  # checkpoints
    load_state_dict = undecorated(torch.optim.Optimizer.load_state_dict)


class Adam(EagerOptimizer, torch.optim.Adam):
    """:class:`torch.optim.Adam`, stepping under ``no_grad`` as its own wrapper does."""

    step = torch.no_grad()(undecorated(torch.optim.Adam.step))


class SGD(EagerOptimizer, torch.optim.SGD):
    """:class:`torch.optim.SGD`, stepping under ``no_grad`` as its own wrapper does."""

    step = torch.no_grad()(undecorated(torch.optim.SGD.step))


def make_optimizer(module: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """Adam or SGD with momentum (fused kernels); weight decay on weight matrices only."""
    matrices = [p for p in module.parameters() if p.requires_grad and p.dim() > 1]
    vectors = [p for p in module.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [
        {"params": matrices, "weight_decay": config.weight_decay},
        {"params": vectors, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return SGD(groups, lr=config.learning_rate, momentum=config.momentum, fused=True)
    return Adam(groups, lr=config.learning_rate, fused=True)


def evaluate(module: nn.Module, loss_fn: LossFunction, data: Batch | Rows, seed: int) -> float:
    """Mean loss over ``data`` (over all ranks' data under a process group), without
    gradients; corruption drawn from a fixed seed."""
    data = as_source(data)
    generator = torch.Generator(device=data.device).manual_seed(seed + distributed.rank())
    total, n = torch.zeros((), device=data.device), 0
    was_training = module.training
    module.eval()
    with torch.no_grad():
        for batch in data.batches(4096, None):
            total += loss_fn(module, batch, generator) * len(batch[0])
            n += len(batch[0])
    module.train(was_training)
    return mean_over_ranks(float(total), n)


def mean_over_ranks(total: float, n: int) -> float:
    """``total / n`` with both summed over ranks."""
    total, n = distributed.all_reduce(np.array([total, n]))
    return total / n if n else float("nan")


def as_source(data: Batch | Rows) -> Rows:
    """A training source: tensors are wrapped in :class:`deepae.data.TensorRows`."""
    return TensorRows(*data) if isinstance(data, tuple) else data


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the module's weights."""
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def train(
    module: nn.Module,
    loss_fn: LossFunction,
    train_data: Batch | Rows,
    config: TrainingConfig,
    valid_data: Batch | Rows | None = None,
) -> list[dict]:
    """Fit ``module`` by mini-batch gradient descent on ``loss_fn``; return the history.

    ``loss_fn(model, batch, generator)`` returns the mean loss of a batch, calling ``model``
    (the module, or its distributed wrapper) for the forward pass; ``generator`` drives any
    randomness inside it (corruption). A loss function with a state of its own (a count of
    steps, persistent chains) exposes it as ``state_dict()`` and ``load_state_dict(state)``
    (tensors), for checkpoints. A loss returned without an autograd graph means the
    loss function updated the module itself (the in-place step of contrastive divergence,
    :class:`deepae.rbm.CDStep`): the loop then skips backward and optimizer for that batch.
    ``train_data`` and ``valid_data`` are tuples of tensors or sources from
    :mod:`deepae.data`. With ``valid_data`` the loop stops after
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
    train_data = as_source(train_data)
    stage = checkpoint.stage(config.description)
    if stage is not None and stage.finished is not None:
        return stage.result(module)  # trained before the fit was interrupted
    generator = torch.Generator(device=train_data.device)
    generator.manual_seed(config.seed + 7919 * distributed.rank())
    model = module
    if distributed.active():
        on_gpu = train_data.device.type == "cuda"
        model = DistributedDataParallel(module, device_ids=[train_data.device] if on_gpu else None)
    optimizer = make_optimizer(module, config)
    progress = Progress(best_weights=snapshot(module))
    state = (progress, module, optimizer, generator, loss_fn)
    if stage is not None:
        stage.load(*state)
    history = progress.history
    module.train()
    epochs = tqdm(
        range(progress.epoch + 1, config.max_epochs + 1),
        desc=config.description,
        initial=progress.epoch,
        total=config.max_epochs,
        disable=config.verbose <= 0 or not distributed.is_main(),
        leave=False,
    )
    mid_epoch = stage if isinstance(train_data, TensorRows) and not distributed.active() else (
        None)
    try:
        for epoch in epochs:
            start = time.perf_counter()
            train_loss = run_epoch(model, loss_fn, train_data, optimizer, generator, config,
                                   progress, mid_epoch and (lambda: mid_epoch.after_batch(*state)))
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
            progress.epoch = epoch
            monitored = train_loss if valid_loss is None else valid_loss
            if not torch.isfinite(torch.tensor([train_loss, monitored])).all():
                module.load_state_dict(progress.best_weights)
                raise FloatingPointError(
                    f"{config.description}: the loss became {train_loss} at epoch {epoch}; "
                    f"the learning rate ({config.learning_rate}) is probably too high."
                )
            epochs.set_postfix(loss=f"{monitored:.4g}")
            if valid_data is not None:
                if monitored < progress.best_loss * (1 - RELATIVE_TOLERANCE):
                    progress.best_loss, progress.stale = monitored, 0
                    progress.best_weights = snapshot(module)
                else:
                    progress.stale += 1
                    if progress.stale >= config.patience:
                        break
            if stage is not None and epoch < config.max_epochs:
                stage.after_epoch(*state)
    except KeyboardInterrupt:
        if stage is not None:
            raise  # the checkpoints stay: running the fit again resumes it
        warnings.warn(
            f"{config.description}: interrupted after {len(history)} epochs; "
            "keeping the best weights so far.",
            stacklevel=2,
        )
    finally:
        epochs.close()
    if valid_data is not None and history:
        module.load_state_dict(progress.best_weights)
    module.eval()
    if stage is not None:
        stage.finish(module, history)
    return history


def run_epoch(
    model: nn.Module,
    loss_fn: LossFunction,
    data: Rows,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    config: TrainingConfig,
    progress: Progress,
    after_batch: Callable[[], None] | None = None,
) -> float:
    """One pass over shuffled mini-batches; the mean training loss (over all ranks).

    It starts at batch ``progress.batch`` (a resumed epoch: the order is drawn again from the
    generator's state at the epoch's start, then the generator goes on from its saved state)
    and calls ``after_batch`` after each batch."""
    resumed = None
    if progress.batch:
        resumed = generator.get_state()
        generator.set_state(progress.epoch_rng)
    else:
        progress.total, progress.n = torch.zeros((), device=data.device), 0
        progress.epoch_rng = generator.get_state()
    joining = Join([model]) if isinstance(model, DistributedDataParallel) else (
        contextlib.nullcontext())
    with joining:
        batches = data.batches(config.batch_size, generator)
        for batch in itertools.islice(batches, progress.batch, None):
            if resumed is not None:  # the order is drawn: go on from the saved state
                generator.set_state(resumed)
                resumed = None
            loss = loss_fn(model, batch, generator)
            if loss.requires_grad:  # else the loss function made its own update (CD)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            progress.total += loss.detach() * len(batch[0])
            progress.n += len(batch[0])
            progress.batch += 1
            if after_batch is not None:
                after_batch()
    if resumed is not None:  # the epoch had no batches left
        generator.set_state(resumed)
    progress.batch = 0
    return mean_over_ranks(float(progress.total), progress.n)
