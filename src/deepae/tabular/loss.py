"""The reconstruction loss per column type of an encoded table (see :class:`TableEncoder`).

A numeric column costs its squared error ``(g(x) − x)²``, a categorical column (and a
missing indicator) the softmax cross-entropy of its block of logits against the observed
slot; a missing numeric cell (NaN) and an all-zero block cost nothing.
"""

import numpy as np
import torch

from .encoder import Layout


def column_losses(logits: torch.Tensor, target: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Per-row, per-original-column losses, shape ``(n_rows, layout.n_columns)``.

    ``target`` is the encoded table (NaN for missing numeric cells); ``logits`` the
    network's linear output for it. The blocks are gathered into one padded
    ``(n_rows, n_blocks, widest)`` tensor (padding: logits of −inf), so that every block's
    cross-entropy is one ``logsumexp``."""
    losses = logits.new_zeros(len(logits), layout.n_columns)
    device = logits.device
    if len(layout.numeric):
        numeric = torch.as_tensor(layout.numeric, device=device)
        values = target[:, numeric]
        present = ~torch.isnan(values)
        squared = (logits[:, numeric] - torch.where(present, values, 0)).square()
        columns = torch.as_tensor(layout.numeric_columns, device=device)
        losses = losses.index_add(1, columns, torch.where(present, squared, 0))
    if layout.blocks:
        slots = torch.as_tensor(block_slots(layout), device=device)
        padded = torch.cat([logits, logits.new_full((len(logits), 1), -torch.inf)], dim=1)
        block_logits = padded[:, slots]
        observed = torch.cat([target, target.new_zeros(len(target), 1)], dim=1)[:, slots]
        observed = torch.nan_to_num(observed)
        cross_entropy = (torch.logsumexp(block_logits, dim=2) * observed.sum(dim=2)
                         - (torch.where(observed > 0, block_logits, 0) * observed).sum(dim=2))
        columns = torch.as_tensor(layout.block_columns, device=device)
        losses = losses.index_add(1, columns, cross_entropy)
    return losses


def block_slots(layout: Layout) -> np.ndarray:
    """``(n_blocks, widest)`` encoded positions of each block's slots, padded with the
    position one past the encoded row (where :func:`column_losses` puts −inf)."""
    widest = max(stop - start for start, stop in layout.blocks)
    end = max(stop for _, stop in layout.blocks)
    end = max(end, int(layout.numeric.max()) + 1 if len(layout.numeric) else 0)
    slots = np.full((len(layout.blocks), widest), end, dtype=np.int64)
    for i, (start, stop) in enumerate(layout.blocks):
        slots[i, :stop - start] = np.arange(start, stop)
    return slots


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
        per_row = column_losses(model(inputs), target, layout).sum(dim=1)
        if trim_fraction > 0:
            keep = max(1, round((1 - trim_fraction) * len(per_row)))
            per_row = per_row.topk(keep, largest=False, sorted=False).values
        return per_row.mean()

    return loss_fn
