"""``deepae info``: a model file described from its header alone (checked, checksum
included), without importing torch."""

import os

import numpy as np


def info_command(path: str) -> None:
    """Describe a model file from its header alone (checked, checksum included): no torch."""
    from .. import modelfile

    try:
        header = modelfile.read_header(path)
        modelfile.verify_checksum(path, header)
        config = modelfile.parse_config(header.metadata["config"])
    except modelfile.FormatError as error:
        raise ValueError(f"{path}: not a valid deepae model file: {error}") from None
    body = config.get("$estimator") if isinstance(config, dict) else None
    if not isinstance(body, dict):
        raise ValueError(f"{path}: not a valid deepae model file: its configuration does not "
                         "describe an estimator")
    metadata, size = header.metadata, os.path.getsize(path)
    print(f"{path}: deepae model file, format {metadata['format_version']}, {size:,} bytes")
    print(f"written by deepae {metadata.get('deepae_version', '?')} "
          f"(torch {metadata.get('torch_version', '?')}, "
          f"numpy {metadata.get('numpy_version', '?')})")
    print(f"class: deepae.{body.get('class')}")
    for line in describe_estimator(body, ModelFileValues(path, header.tensors), indent="  "):
        print(line)


class ModelFileValues:
    """Short descriptions of the values of a model file's configuration (see
    :mod:`deepae.persistence` for their JSON), reading small arrays from the file."""

    def __init__(self, path: str, tensors: dict):
        self.path = path
        self.tensors = tensors

    def array(self, name: str) -> str:
        entry = self.tensors.get(name)
        if entry is None:
            return "(missing tensor)"
        dtype = entry.dtype.removeprefix("torch.")
        if np.prod(entry.shape) > 6 or dtype == "bfloat16":
            return f"{dtype} array of shape {entry.shape}"
        with open(self.path, "rb") as file:
            file.seek(entry.start)
            values = np.frombuffer(file.read(entry.end - entry.start), dtype=dtype)
        return f"{dtype} array {np.array2string(values, precision=4)}"

    def module(self, body: dict) -> str:
        state = body.get("state", {}) if isinstance(body, dict) else {}
        entries = [self.tensors[key] for key in state.values() if key in self.tensors]
        n = sum(int(np.prod(entry.shape)) for entry in entries)
        return f"torch module ({n:,} parameters)"

    def plain(self, obj):
        """The JSON value as the Python value it stands for, arrays and modules as text."""
        if isinstance(obj, list):
            return [self.plain(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) != 1 or not next(iter(obj)).startswith("$"):
            return {k: self.plain(v) for k, v in obj.items()}
        tag, body = next(iter(obj.items()))
        if tag == "$tuple":
            return tuple(self.plain(v) for v in body)
        if tag == "$float":
            return float(body)
        if tag == "$scalar":
            return self.plain(body[1])
        if tag == "$array":
            return Text(self.array(body))
        if tag == "$module":
            return Text(self.module(body))
        if tag == "$ndarray":
            dtype = np.dtype(body.get("dtype")).name if isinstance(body, dict) else "?"
            return Text(f"{dtype} array of shape {tuple(body.get('shape', ()))}")
        if tag == "$estimator":
            return Text(str(body.get("class")))
        return Text(tag[1:].replace("_", " "))


class Text(str):
    """A description standing for a value (shown without quotes)."""

    def __repr__(self) -> str:
        return str(self)


def describe_estimator(body: dict, values: ModelFileValues, indent: str) -> list[str]:
    """Lines describing an estimator's JSON: its parameters and fitted attributes."""
    lines = []
    for title, part in (("params", body.get("params", {})),
                        ("fitted", body.get("attributes", {}))):
        lines.append(f"{indent[:-2]}{title}:{' no' if title == 'fitted' and not part else ''}")
        for name in sorted(part) if title == "fitted" else part:
            value = part[name]
            nested = value.get("$estimator") if isinstance(value, dict) else None
            if isinstance(nested, dict):
                lines.append(f"{indent}{name} = {nested.get('class')}")
                lines.extend(describe_estimator(nested, values, indent + "    "))
            else:
                lines.append(f"{indent}{name} = {summarize(values.plain(value))}")
    return lines


def summarize(value) -> str:
    """A short description of a value."""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) for v in value) and "epoch" in value[-1]:
            last = value[-1]
            loss = ", ".join(f"{k}={v:.4g}" for k, v in last.items()
                             if k.endswith("loss") and isinstance(v, float))
            return f"{len(value)} epochs (last: {loss or last})"
        if value and all(isinstance(v, Text) and "torch module" in v for v in value):
            return f"{len(value)} torch modules"
        if len(value) > 6 or any(isinstance(v, (list, tuple, dict)) for v in value):
            return f"{type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
