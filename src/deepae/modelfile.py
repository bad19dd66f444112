"""The framing of a deepae model file, read without torch: header, limits, checksum.

A model file is a safetensors file (see :mod:`deepae.persistence` for what it holds). This
module reads and checks everything about it that needs no torch: the header (within
:data:`MAX_HEADER_BYTES`), the tensors' dtypes, shapes and places (each one inside the file,
its size that of its shape), the checksum over the configuration and the tensors' bytes
(read a chunk at a time), and the configuration JSON (nested at most :data:`MAX_DEPTH`
deep). So ``deepae info`` answers without importing torch, and :func:`deepae.load` knows
that the file is sound before it builds anything.
"""

import hashlib
import json
import math
import os
from dataclasses import dataclass

FORMAT = "deepae"
FORMAT_VERSION = 1
#: The largest header (JSON: configuration and tensor table) a model file may have. Parsed
#: and decoded JSON takes up to about 36 times its text in memory (a 4 MiB list of empty
#: lists: 145 MiB), so this bounds that cost too.
MAX_HEADER_BYTES = 4 * 2**20
#: The deepest nesting of lists and objects a configuration may have.
MAX_DEPTH = 32
#: safetensors dtype -> (torch's name for it, as written into the checksum; bytes per item).
DTYPES = {
    "F64": ("torch.float64", 8), "F32": ("torch.float32", 4), "F16": ("torch.float16", 2),
    "BF16": ("torch.bfloat16", 2), "I64": ("torch.int64", 8), "I32": ("torch.int32", 4),
    "I16": ("torch.int16", 2), "I8": ("torch.int8", 1), "U64": ("torch.uint64", 8),
    "U32": ("torch.uint32", 4), "U16": ("torch.uint16", 2), "U8": ("torch.uint8", 1),
    "BOOL": ("torch.bool", 1),
}
_CHUNK = 2**20


class FormatError(ValueError):
    """The file is not a sound deepae model file; callers add its path."""


@dataclass(frozen=True)
class TensorEntry:
    """Where a tensor lies in the file, with its dtype (torch's name) and shape."""

    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute offsets in the file
    end: int


@dataclass(frozen=True)
class Header:
    """The metadata strings and the tensor table of a model file."""

    metadata: dict[str, str]
    tensors: dict[str, TensorEntry]


def read_header(path) -> Header:
    """The checked header of the model file ``path`` (only the header is read).

    Raises ``FileNotFoundError`` and :class:`FormatError` (a ``ValueError``).
    """
    with open(path, "rb") as file:
        file_size = os.fstat(file.fileno()).st_size
        start = file.read(10)
        size = int.from_bytes(start[:8], "little") if len(start) >= 8 else 0
        if len(start) < 10 or start[8:9] != b"{" or size > MAX_HEADER_BYTES:
            raise FormatError(_what_is_it(start, size))
        if size > file_size - 8:
            raise FormatError("it is truncated (the header is cut off)")
        file.seek(8)
        text = file.read(size)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise FormatError(f"its header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise FormatError("its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise FormatError("it is a safetensors file without deepae metadata")
    check_metadata(metadata)
    tensors = {name: _entry(name, value, 8 + size, file_size) for name, value in header.items()}
    return Header(metadata, tensors)


def check_metadata(metadata: dict) -> None:
    """Raise :class:`FormatError` unless the deepae metadata is complete and readable here."""
    for key in ("format_version", "config", "sha256", "class"):
        if not isinstance(metadata.get(key), str):
            raise FormatError(f"its metadata has no {key!r}")
    version = metadata["format_version"]
    if not version.isdigit():
        raise FormatError(f"format_version={version!r} is not a number")
    if int(version) > FORMAT_VERSION:
        raise FormatError(
            f"it has format version {version} (deepae {metadata.get('deepae_version', '?')}); "
            f"this deepae reads up to version {FORMAT_VERSION}: upgrade deepae"
        )


def _entry(name: str, value, data_start: int, file_size: int) -> TensorEntry:
    """A tensor's table entry, checked against the file's size."""
    if not isinstance(value, dict):
        raise FormatError(f"tensor {name!r} has a malformed header entry")
    dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
    if dtype not in DTYPES:
        raise FormatError(f"tensor {name!r} has an unsupported dtype {dtype!r}")
    if not (isinstance(shape, list) and len(shape) <= 8
            and all(type(n) is int and n >= 0 for n in shape)):
        raise FormatError(f"tensor {name!r} has a malformed shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(n) is int for n in offsets) and 0 <= offsets[0] <= offsets[1]):
        raise FormatError(f"tensor {name!r} has malformed data offsets {offsets!r}")
    torch_name, itemsize = DTYPES[dtype]
    start, end = data_start + offsets[0], data_start + offsets[1]
    if end - start != math.prod(shape) * itemsize:
        raise FormatError(f"tensor {name!r} of shape {shape} does not fill its "
                          f"{end - start} bytes")
    if end > file_size:
        raise FormatError(f"it is truncated (tensor {name!r} ends at byte {end} of "
                          f"{file_size})")
    return TensorEntry(torch_name, tuple(shape), start, end)


def _what_is_it(start: bytes, size: int) -> str:
    """Why a file starting with ``start`` (not framed as a model file) is not one."""
    if start[:1] == b"\x80" or start[:2] in (b"(d", b"(l", b"}q", b"]q", b"(c", b"cb", b"cp"):
        return "it looks like a pickle, which deepae never loads"
    if start[:4] == b"PK\x03\x04":
        return "it is a zip archive (a torch.save file?), not a safetensors file"
    if len(start) < 10:
        return f"it is truncated or empty ({len(start)} bytes)"
    if start[8:9] == b"{" and size > MAX_HEADER_BYTES:
        return (f"its header of {size:,} bytes is larger than a model file's may be "
                f"({MAX_HEADER_BYTES:,})")
    return "it does not start with a safetensors header"


def digest(config: str, tensors) -> str:
    """SHA-256 of ``config`` and of every tensor: ``tensors`` yields ``(name, dtype, shape,
    chunks)`` in name order, ``chunks`` an iterable of the tensor's bytes."""
    sha = hashlib.sha256(config.encode("utf-8"))
    for name, dtype, shape, chunks in tensors:
        sha.update(f"\0{name}\0{dtype}\0{list(shape)}\0".encode())
        for chunk in chunks:
            sha.update(chunk)
    return sha.hexdigest()


def verify_checksum(path, header: Header, buffers: dict | None = None) -> None:
    """Raise :class:`FormatError` unless the file's contents match their checksum.

    ``buffers`` maps each tensor's name to its bytes when they have been read already;
    otherwise the file is read a chunk at a time.
    """
    with open(path, "rb") as file:
        def chunks(name: str, entry: TensorEntry):
            if buffers is not None:
                yield buffers[name]
                return
            file.seek(entry.start)
            for offset in range(entry.start, entry.end, _CHUNK):
                yield file.read(min(_CHUNK, entry.end - offset))

        entries = ((name, e.dtype, e.shape, chunks(name, e))
                   for name, e in sorted(header.tensors.items()))
        if digest(header.metadata["config"], entries) != header.metadata["sha256"]:
            raise FormatError("its contents do not match their checksum (corrupt or modified)")


def parse_config(text: str):
    """The configuration JSON, refused when nested deeper than :data:`MAX_DEPTH`."""
    try:
        config = json.loads(text)
    except RecursionError:
        raise FormatError("its configuration is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise FormatError(f"its configuration is not valid JSON ({error})") from None
    level, depth = [config], 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise FormatError(f"its configuration is nested more than {MAX_DEPTH} deep")
        level = [child for value in level if isinstance(value, (list, dict))
                 for child in (value.values() if isinstance(value, dict) else value)]
    return config
