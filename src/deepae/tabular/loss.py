"""The reconstruction loss per column type of an encoded table (see :class:`TableEncoder`).

A numeric column costs its squared error ``(g(x) − x)²``, a categorical column (and a
missing indicator) the softmax cross-entropy of its block of logits against the observed
slot; a missing numeric cell (NaN) and an all-zero block cost nothing.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .encoder import Layout


@dataclass(frozen=True)
class Segments:
    """A layout's encoded positions as tensors, built once per fit (:func:`segments`).

    ``numeric``/``numeric_columns``: the numeric positions and their columns; ``slots``: the
    positions inside softmax blocks; ``block``: the block of each of them; ``membership``:
    the ``(len(slots), n_blocks)`` 0/1 matrix that sums a block's slots; ``block_columns``:
    the column of each block."""

    numeric: torch.Tensor
    numeric_columns: torch.Tensor
    slots: torch.Tensor
    block: torch.Tensor
    membership: torch.Tensor
    block_columns: torch.Tensor
    n_columns: int


def segments(layout: Layout, device=None) -> Segments:
    """The tensors of ``layout`` (on ``device``) that :func:`type_losses` reads."""
    widths = [stop - start for start, stop in layout.blocks]
    slots = np.concatenate([np.arange(start, stop) for start, stop in layout.blocks]
                           or [np.zeros(0, np.int64)])
    block = np.repeat(np.arange(len(widths)), widths)
    membership = np.zeros((len(slots), len(widths)), dtype=np.float32)
    membership[np.arange(len(slots)), block] = 1
    return Segments(*(torch.as_tensor(a, device=device) for a in (
        layout.numeric, layout.numeric_columns, slots, block, membership,
        layout.block_columns)), layout.n_columns)


def type_losses(logits: torch.Tensor, target: torch.Tensor,
                parts: Segments) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared errors of the numeric cells ``(n_rows, n_numeric)`` (0 where missing) and
    cross-entropies of the blocks ``(n_rows, n_blocks)`` (0 for an all-zero block).

    ``target`` is the encoded table (NaN for missing numeric cells); ``logits`` the
    network's linear output for it. Each block's log-sum-exp is shifted by the block's
    largest logit and summed over the block's slots by one product with ``membership``."""
    values = target[:, parts.numeric]
    present = ~torch.isnan(values)
    squared = torch.where(present, (logits[:, parts.numeric] - torch.where(present, values, 0))
                          .square(), 0)
    block_logits, observed = logits[:, parts.slots], target[:, parts.slots]
    membership = parts.membership.to(logits.dtype)
    index = parts.block.expand(len(logits), -1)
    top = logits.new_full((len(logits), membership.shape[1]), -torch.inf).scatter_reduce(
        1, index, block_logits.detach(), "amax")
    sum_exp = torch.exp(block_logits - top.gather(1, index)) @ membership
    log_sum_exp = torch.log(sum_exp) + top
    cross_entropy = (log_sum_exp * (observed @ membership)
                     - (block_logits * observed) @ membership)
    return squared, cross_entropy


def column_losses(logits: torch.Tensor, target: torch.Tensor, layout: Layout,
                  parts: Segments | None = None) -> torch.Tensor:
    """Per-row, per-original-column losses, shape ``(n_rows, layout.n_columns)``
    (see :func:`type_losses`; ``parts``: the layout's :func:`segments`, built if None)."""
    parts = segments(layout, logits.device) if parts is None else parts
    squared, cross_entropy = type_losses(logits, target, parts)
    losses = logits.new_zeros(len(logits), layout.n_columns)
    losses = losses.index_add(1, parts.numeric_columns, squared)
    return losses.index_add(1, parts.block_columns, cross_entropy)


def slot_columns(layout: Layout) -> np.ndarray:
    """The original column of each encoded position."""
    columns = np.zeros(max([int(p) + 1 for p in layout.numeric]
                           + [stop for _, stop in layout.blocks]), dtype=np.int64)
    columns[layout.numeric] = layout.numeric_columns
    for (start, stop), column in zip(layout.blocks, layout.block_columns, strict=True):
        columns[start:stop] = column
    return columns


def mask_cells(inputs: torch.Tensor, layout: Layout, fraction: float,
               generator: torch.Generator) -> torch.Tensor:
    """``inputs`` with a random ``fraction`` of the cells blanked: all the encoded positions
    of a cell (a number and its missing indicator, a category's block) set to 0."""
    cells = torch.rand(len(inputs), layout.n_columns, generator=generator,
                       device=inputs.device) < fraction
    slots = torch.as_tensor(slot_columns(layout), device=inputs.device)
    return inputs.masked_fill(cells[:, slots], 0)


def fill_objective(layout: Layout, noise_level: float):
    """The loss function of :func:`deepae.training.train` for a network that fills missing
    cells, on batches ``(encoded rows, missing cells)``: each row has a random
    ``noise_level`` of its cells blanked (as :func:`mask_cells` does) and its missing cells
    blanked too (so a network reads them as a fill will), and costs the per-column losses
    of the blanked observed cells only, summed (mean over the batch)."""
    def loss_fn(model, batch, generator):
        target, missing = batch
        cells = torch.rand(len(target), layout.n_columns, generator=generator,
                           device=target.device) < noise_level
        blanked = (cells | missing)[:, columns.to(target.device)]
        inputs = torch.nan_to_num(target).masked_fill(blanked, 0)
        losses = column_losses(model(inputs), target, layout, parts_on(target.device))
        return torch.where(cells & ~missing, losses, 0).sum(dim=1).mean()

    parts_on = segments_cache(layout)
    columns = torch.as_tensor(slot_columns(layout))
    return loss_fn


def table_objective(layout: Layout, trim_fraction: float = 0.0, corruption=None):
    """The loss function of :func:`deepae.training.train` for an autoencoder of an encoded
    table: the mean over the batch's rows (leaving out the ``trim_fraction`` worst-rebuilt)
    of the per-column losses summed; the network reads missing numeric cells as 0. A
    ``corruption`` of the input: masking noise blanks whole cells (:func:`mask_cells`),
    Gaussian noise is added to the encoded values."""
    def loss_fn(model, batch, generator):
        target = batch[0]
        inputs = torch.nan_to_num(target)
        if corruption is not None and corruption.kind == "masking":
            inputs = mask_cells(inputs, layout, corruption.level, generator)
        elif corruption is not None:
            inputs = corruption(inputs, generator)
        squared, cross_entropy = type_losses(model(inputs), target, parts_on(target.device))
        per_row = squared.sum(dim=1) + cross_entropy.sum(dim=1)
        if trim_fraction > 0:
            keep = max(1, round((1 - trim_fraction) * len(per_row)))
            per_row = per_row.topk(keep, largest=False, sorted=False).values
        return per_row.mean()

    parts_on = segments_cache(layout)
    return loss_fn


def segments_cache(layout: Layout):
    """A function of a device giving ``segments(layout, device)``, built once per device."""
    built = {}

    def parts_on(device) -> Segments:
        if device not in built:
            built[device] = segments(layout, device)
        return built[device]

    return parts_on
