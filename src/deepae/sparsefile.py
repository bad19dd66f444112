"""The rows of a sparse matrix file (``scipy.sparse.save_npz``), read a chunk at a time.

A ``.npz`` file that ``save_npz`` wrote holds a CSR matrix as three arrays, ``indptr``,
``indices`` and ``data``, in a zip archive; :class:`SparseRows` reads them side by side, a
chunk at a time: memory-mapped where they are stored uncompressed
(``save_npz(path, X, compressed=False)``; each chunk's pages are handed back to the operating
system once it is used, as for a ``.npy`` file), else decompressed as a stream. Either way a
pass over the rows holds one chunk's non-zeros in memory, never the file's.
"""

import struct
import zipfile
from collections.abc import Iterator

import numpy as np
import scipy.sparse

from .data import release_pages

#: Row pointers read from the file at a time (the chunks are cut from them by non-zeros).
POINTER_ROWS = 1 << 16


class SparseRows:
    """A CSR matrix saved by ``scipy.sparse.save_npz``, as a re-iterable of CSR row chunks.

    Each pass reads the file again and yields consecutive chunks of whole rows with at most
    ``chunk_size`` non-zeros (a row with more is a chunk of its own) and at most 65,536 rows,
    so memory follows one chunk, not the file. ``fit`` of :class:`deepae.PCA` and
    :class:`deepae.LinearAutoencoder` takes it as it takes a memory-mapped ``.npy`` file:
    ``"auto"`` runs ``"arpack"`` (one pass a Lanczos product) or ``"covariance_eigh"`` (one
    pass) as it would for the matrix in memory, with the same result.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file; its matrix must be CSR (``save_npz(path, X.tocsr())``).
    chunk_size : int, default=2**22
        The most non-zeros a chunk holds (2²² float64 values and int32 indices: 48 MiB).

    Attributes
    ----------
    n_samples, n_features : int
        The matrix's shape (no ``shape`` attribute: ``fit`` reads it as batches).
    """

    def __init__(self, path, chunk_size: int = 1 << 22):
        self.path, self.chunk_size = path, int(chunk_size)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        with np.load(path, allow_pickle=False) as archive:
            missing = {"format", "shape", "indptr", "indices", "data"} - set(archive.files)
            if missing:
                raise ValueError(f"{path} is not a scipy.sparse.save_npz file (no "
                                 f"{', '.join(sorted(missing))})")
            layout = archive["format"].item()
            layout = layout.decode() if isinstance(layout, bytes) else str(layout)
            if layout != "csr":
                raise ValueError(f"{path} holds a {layout.upper()} matrix; rows are read from "
                                 "CSR only: save_npz(path, X.tocsr())")
            self.n_samples, self.n_features = (int(size) for size in archive["shape"])

    def __iter__(self) -> Iterator[scipy.sparse.csr_matrix]:
        with zipfile.ZipFile(self.path) as archive:
            pointers, indices, data = (open_array(archive, name)
                                       for name in ("indptr", "indices", "data"))
            first, pending = int(pointers.read(1)[0]), np.empty(0, np.int64)
            while True:
                if len(pending) < POINTER_ROWS and pointers.left:
                    more = pointers.read(min(POINTER_ROWS, pointers.left)).astype(np.int64)
                    pending = np.concatenate([pending, more])
                if not len(pending):
                    return
                count = int(np.searchsorted(pending, first + self.chunk_size, side="right"))
                count = min(max(count, 1), POINTER_ROWS)
                ends, pending = pending[:count], pending[count:]
                size = int(ends[-1]) - first
                indptr = np.concatenate([[0], ends - first])
                yield scipy.sparse.csr_matrix(
                    (data.read(size), indices.read(size), indptr.astype(indices.dtype)),
                    shape=(count, self.n_features))
                first = int(ends[-1])

    def __repr__(self) -> str:
        return f"SparseRows({str(self.path)!r}, chunk_size={self.chunk_size})"


def open_array(archive: zipfile.ZipFile, name: str):
    """The member ``name.npy`` of ``archive`` as a :class:`MappedArray` when it is stored
    uncompressed and not empty, else as an :class:`ArrayStream`."""
    info = archive.getinfo(f"{name}.npy")
    if info.compress_type == zipfile.ZIP_STORED:
        mapped = MappedArray(archive.filename, info)
        if mapped.left:
            return mapped
    return ArrayStream(archive, name)


def read_header(file) -> tuple[tuple, np.dtype]:
    """The shape and dtype in the ``.npy`` header at ``file``'s position (left after it)."""
    version = np.lib.format.read_magic(file)
    read = {(1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0}[version]
    shape, _, dtype = read(file)
    return shape, dtype


class MappedArray:
    """One uncompressed ``.npy`` member of a zip file, memory-mapped and read front to back:
    :meth:`read` gives views, and hands the pages of the previous one back to the operating
    system."""

    def __init__(self, path: str, info: zipfile.ZipInfo):
        with open(path, "rb") as file:
            file.seek(info.header_offset + 26)  # the local header's name and extra lengths
            name_length, extra_length = struct.unpack("<HH", file.read(4))
            file.seek(info.header_offset + 30 + name_length + extra_length)
            shape, self.dtype = read_header(file)
            offset = file.tell()
        self.left, self.start, self.position = int(np.prod(shape)), 0, 0
        self.array = (np.memmap(path, self.dtype, "r", offset=offset, shape=(self.left,))
                      if self.left else None)

    def read(self, count: int) -> np.ndarray:
        """A view of the next ``count`` items."""
        release_pages(self.array, self.start, self.position)
        view = self.array[self.position : self.position + count]
        self.start, self.position = self.position, self.position + count
        self.left -= count
        return view


class ArrayStream:
    """One ``.npy`` member of a zip archive, read front to back ``count`` items at a time."""

    def __init__(self, archive: zipfile.ZipFile, name: str):
        self.file = archive.open(f"{name}.npy")
        shape, self.dtype = read_header(self.file)
        self.left = int(np.prod(shape))

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` items, in a new (writable) array."""
        buffer = bytearray(count * self.dtype.itemsize)
        view, done = memoryview(buffer), 0
        while done < len(buffer):
            got = self.file.readinto(view[done:])
            if not got:
                raise ValueError(f"{self.file.name} ends before its {self.left} items")
            done += got
        self.left -= count
        return np.frombuffer(buffer, self.dtype)
