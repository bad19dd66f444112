"""Reading rows that may not fit in memory: chunks of (memory-mapped) arrays and iterables of
batches.

A memory-mapped ``.npy`` file (``np.load(path, mmap_mode="r")``) is read chunk by chunk, and
the pages of each chunk are handed back to the operating system once the chunk is used, so the
resident memory stays at a few chunks whatever the file's size (the file stays in the page
cache, which the kernel frees as it needs). An *iterable of batches* is anything that yields
arrays or tensors (or tuples whose first item is one, as a torch ``DataLoader`` over a
``TensorDataset`` does) and is not itself array-like.
"""

import mmap
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from . import distributed


def is_batches(X) -> bool:
    """True when ``X`` is an iterable of batches rather than one array-like."""
    array_like = (np.ndarray, torch.Tensor, list, tuple, str, bytes)
    return (isinstance(X, Iterable) and not isinstance(X, array_like)
            and not hasattr(X, "__array__") and not hasattr(X, "shape"))


def batch_items(batch) -> tuple:
    """The items of one batch as a tuple: ``(X,)`` or ``(X, y, …)``."""
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def first_item(batch):
    """The features of one batch: the batch itself, or the first item of a tuple."""
    return batch_items(batch)[0]


def iter_chunks(X: np.ndarray, n_rows: int) -> Iterator[np.ndarray]:
    """Yield consecutive row blocks of at most ``n_rows`` rows (views, no copies).

    For a memory-mapped array, each block's pages are released when the next block is asked
    for (see :func:`release_pages`), so a pass over a large file keeps little resident.
    """
    for start in range(0, len(X), n_rows):
        yield X[start : start + n_rows]
        release_pages(X, start, start + n_rows)


def chunk_rows(n_features: int, n_elements: int = 1 << 21) -> int:
    """Rows per chunk so that a chunk holds about ``n_elements`` numbers (8 MiB in float32)."""
    return max(1, n_elements // max(1, n_features))


def read_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """A copy in memory of ``X[rows]`` (``rows``: sorted indices), releasing the mapped pages
    read."""
    block = np.asarray(X[rows])
    if len(rows):
        release_pages(X, int(rows[0]), int(rows[-1]) + 1)
    return block


def release_pages(X: np.ndarray, start: int, stop: int) -> None:
    """Tell the operating system that rows ``start:stop`` of a memory-mapped ``X`` are not
    needed now (``MADV_DONTNEED``): they leave this process's resident memory and are read
    back from the file when touched again.

    Only read-only or shared mappings of C-ordered rows qualify (a copy-on-write mapping
    would lose its changes); for any other array this does nothing.
    """
    mapping = _shared_mapping(X)
    if mapping is None or not X.flags.c_contiguous or not hasattr(mmap, "MADV_DONTNEED"):
        return
    origin = np.frombuffer(mapping, np.uint8).ctypes.data
    stop = min(stop, len(X))
    if stop <= start:
        return
    first = X.ctypes.data - origin + start * X.strides[0]
    last = X.ctypes.data - origin + stop * X.strides[0]
    first -= first % mmap.PAGESIZE
    mapping.madvise(mmap.MADV_DONTNEED, first, min(last, len(mapping)) - first)


def _shared_mapping(X) -> mmap.mmap | None:
    """The read-only or shared file mapping under ``X``, if there is one."""
    base = X
    while base is not None:
        if isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap):
            return base.base if base.mode in ("r", "r+", "readonly", "readwrite") else None
        base = getattr(base, "base", None)
    return None


def is_memmap(X) -> bool:
    """True when ``X`` is (a view of) a memory-mapped file."""
    return _shared_mapping(X) is not None


# --- training sources: what the training loop iterates over each epoch ---------------------

Batch = tuple[torch.Tensor, ...]
WINDOW_NUMBERS = 1 << 22  # numbers read from a file at a time (16 MiB in float32)
WINDOW_BLOCKS = 16  # blocks of consecutive rows mixed into one window


class TensorRows:
    """In-memory tensors (on the training device); shuffled batches are gathered one at a
    time (no shuffled copy of the whole data)."""

    def __init__(self, *tensors: torch.Tensor):
        self.tensors = tensors
        self.device = tensors[0].device

    def __len__(self) -> int:
        return len(self.tensors[0])

    def batches(self, batch_size: int, generator: torch.Generator | None) -> Iterator[Batch]:
        """Mini-batches, shuffled when a ``generator`` is given."""
        if generator is None:
            for start in range(0, len(self), batch_size):
                yield tuple(t[start : start + batch_size] for t in self.tensors)
            return
        order = torch.randperm(len(self), generator=generator, device=generator.device)
        order = order.to(self.device)
        for start in range(0, len(self), batch_size):
            rows = order[start : start + batch_size]
            yield tuple(torch.index_select(t, 0, rows) for t in self.tensors)

    def column_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature minimum and maximum of the first tensor."""
        return column_range([self.tensors[0]])


class ArrayRows:
    """Selected rows of an array too large for memory (a memory-mapped ``.npy`` file).

    Shuffling is by blocks: each epoch takes the selected rows in blocks of consecutive rows,
    visits the blocks in random order, reads ``WINDOW_BLOCKS`` of them at a time (about
    ``WINDOW_NUMBERS`` numbers), shuffles the rows of that window in memory and cuts it into
    mini-batches. Resident memory is about two windows, whatever the file's size.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Float rows, usually memory-mapped.
    rows : ndarray of int
        The sorted indices of the rows to use.
    device : torch.device
        Where batches go (as float32).
    """

    def __init__(self, X: np.ndarray, rows: np.ndarray, device: torch.device):
        self.X, self.rows, self.device = X, rows, device
        window_rows = max(1, WINDOW_NUMBERS // X.shape[1])
        self.block_rows = max(1, window_rows // WINDOW_BLOCKS)

    def __len__(self) -> int:
        return len(self.rows)

    def batches(self, batch_size: int, generator: torch.Generator | None) -> Iterator[Batch]:
        """Mini-batches of a window at a time (blocks and rows shuffled with a ``generator``)."""
        blocks = [self.rows[i : i + self.block_rows]
                  for i in range(0, len(self.rows), self.block_rows)]
        order = list(range(len(blocks)))
        if generator is not None:
            order = torch.randperm(len(blocks), generator=generator,
                                   device=generator.device).tolist()
        for start in range(0, len(blocks), WINDOW_BLOCKS):
            chosen = sorted(order[start : start + WINDOW_BLOCKS])
            window = self._read(np.concatenate([blocks[i] for i in chosen]))
            yield from TensorRows(window).batches(batch_size, generator)

    def _read(self, rows: np.ndarray) -> torch.Tensor:
        block = torch.from_numpy(read_rows(self.X, rows)).to(self.device, torch.float32)
        if not torch.isfinite(block).all():
            raise ValueError("X contains NaN or infinity.")
        return block

    def column_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature minimum and maximum over the selected rows (one pass)."""
        return column_range(x for (x,) in self.batches(self.block_rows * WINDOW_BLOCKS, None))


class IterableRows:
    """The user's re-iterable batches (a ``DataLoader``, say), in their own order and sizes,
    moved to the device as float32; ``batch_size`` and the generator are not used."""

    def __init__(self, batches: Iterable, device: torch.device):
        self.source, self.device = batches, device

    def batches(self, batch_size: int, generator: torch.Generator | None) -> Iterator[Batch]:
        for batch in self.source:
            yield tuple(torch.as_tensor(item).to(self.device, torch.float32)
                        for item in batch_items(batch))

    def column_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-feature minimum and maximum of the first item (one pass)."""
        return column_range(batch[0] for batch in self.batches(0, None))


def feature_range(rows) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature minimum and maximum of a training source's features, over all ranks."""
    low, high = rows.column_range()
    return (distributed.all_reduce(low.cpu().numpy(), "min"),
            distributed.all_reduce(high.cpu().numpy(), "max"))


def column_range(blocks: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature minimum and maximum over row blocks."""
    low = high = None
    for x in blocks:
        low = x.amin(0) if low is None else torch.minimum(low, x.amin(0))
        high = x.amax(0) if high is None else torch.maximum(high, x.amax(0))
    return low, high


Rows = TensorRows | ArrayRows | IterableRows  # the sources the training loop accepts
