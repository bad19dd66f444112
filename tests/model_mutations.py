"""Mutated model files for fuzzing :func:`deepae.load` (hypothesis strategies), shared by
``tests/test_fuzz.py`` (a small fixed-seed slice) and ``benchmarks/bench_fuzz.py`` (10,000+).

A mutation takes a sound model file's bytes and returns other bytes: bit flips and truncation
(which the checksum and framing catch), and edits made behind the checksum's back — the
configuration, a tensor's shape or dtype in the header, NaN weights — with the checksum
recomputed, so that the loader's own checks must refuse (or load) them.
"""

import json
import math

import numpy as np
from hypothesis import strategies as st

from deepae import modelfile


def fitted_models() -> dict[str, object]:
    """One small fitted model of every estimator class, by class name."""
    import deepae
    from deepae.supervised import DeepRegressor

    rng = np.random.default_rng(0)
    X = rng.random((60, 16)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    small = dict(max_epochs=1, random_state=0, device="cpu")
    models = [
        deepae.PCA(3), deepae.LinearAutoencoder(3), deepae.Autoencoder(3, **small),
        deepae.DenoisingAutoencoder(3, **small),
        deepae.StackedAutoencoder((4, 2), pretrain_epochs=1, **small),
        deepae.DeepClassifier((4,), pretrain_epochs=1, **small),
        DeepRegressor((4,), pretrain_epochs=1, **small),
        deepae.ReconstructionOutlierDetector(deepae.Autoencoder(3, **small)),
        deepae.RBM(n_components=3, **small),
        deepae.VariationalAutoencoder(code_size=2, hidden_size=4, **small),
        deepae.ConvolutionalAutoencoder((1, 4, 4), channels=(2,), code_size=2, **small),
    ]
    fitted = {}
    for model in models:
        name = type(model).__name__
        fitted[name] = model.fit(X, y) if name == "DeepClassifier" else (
            model.fit(X, X[:, 0]) if name == "DeepRegressor" else model.fit(X))
    return fitted


def split(data: bytes) -> tuple[dict, bytes]:
    """A safetensors file's header (JSON object) and its data bytes."""
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def join(header: dict, body: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    return len(text).to_bytes(8, "little") + text + body


def resealed(header: dict, body: bytes) -> bytes:
    """The file of ``header`` and ``body`` with its checksum recomputed."""
    entries = []
    for name in sorted(k for k in header if k != "__metadata__"):
        entry = header[name]
        dtype = modelfile.DTYPES.get(entry.get("dtype"), ("?", 1))[0]
        start, end = entry.get("data_offsets", [0, 0])
        entries.append((name, dtype, entry.get("shape"), [body[start:end]]))
    metadata = header["__metadata__"]
    try:
        metadata["sha256"] = modelfile.digest(metadata["config"], entries)
    except (TypeError, ValueError):
        pass  # an entry the checksum cannot take: the framing check refuses it first
    return join(header, body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=8,
)
SPECIAL_VALUES = st.sampled_from([
    2**40, -1, 0, 10**9, 2**63, [2**30, 2**30], {"$tensor": "nope"}, {"$array": "missing"},
    {"$estimator": {"class": "os.system"}}, {"$float": "nan"}, {"$module": {"state": {}}},
    {"$tuple": [1] * 10}, {"$ndarray": {"dtype": "<U4", "shape": [10**9], "items": []}},
    {"$random_state": {"keys": 1}}, {"$moments": {}}, "x" * 1000, [[[[[]]]]] * 3, 1e308,
])


def paths(value, prefix=()):
    """Every path into a JSON value (keys and indices)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


def replaced(value, path, new):
    if not path:
        return new
    value[path[0]] = replaced(value[path[0]], path[1:], new)
    return value


@st.composite
def mutations(draw, files: dict[str, bytes]):
    """``(description, mutated bytes)`` of one of ``files`` (class name -> file bytes)."""
    name = draw(st.sampled_from(sorted(files)))
    data = files[name]
    kind = draw(st.sampled_from(["bit flips", "truncation", "config edit", "shape edit",
                                 "dtype edit", "NaN weights", "header edit"]))
    header, body = split(data)
    tensors = sorted(k for k in header if k != "__metadata__")
    if kind == "bit flips":
        mutated = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(data) * 8 - 1))
            mutated[position // 8] ^= 1 << (position % 8)
        return f"{name}: {kind}", bytes(mutated)
    if kind == "truncation":
        return f"{name}: {kind}", data[: draw(st.integers(0, len(data) - 1))]
    if kind == "config edit":
        config = json.loads(header["__metadata__"]["config"])
        path = draw(st.sampled_from(list(paths(config))))
        config = replaced(config, path, draw(JSON_VALUES | SPECIAL_VALUES))
        header["__metadata__"]["config"] = json.dumps(config, allow_nan=False)
        return f"{name}: {kind} at {list(path)[-3:]}", resealed(header, body)
    if kind == "header edit":
        key = draw(st.sampled_from(["format", "format_version", "class", "config",
                                    "deepae_version"]))
        header["__metadata__"][key] = draw(st.text(max_size=12) | st.sampled_from(
            ["PCA", "Autoencoder", "99", "1", "deepae", "{}", "[]", "null"]))
        return f"{name}: {kind} {key}", resealed(header, body)
    tensor = draw(st.sampled_from(tensors))
    entry = header[tensor]
    if kind == "shape edit":
        shape = draw(st.lists(st.integers(0, 2**62) | st.integers(0, 8), max_size=4))
        entry["shape"] = shape
        if draw(st.booleans()):  # keep the byte count consistent where it can be
            itemsize = modelfile.DTYPES[entry["dtype"]][1]
            start = entry["data_offsets"][0]
            entry["data_offsets"] = [start, start + itemsize * math.prod(shape)]
        return f"{name}: {kind} {shape}", resealed(header, body)
    if kind == "dtype edit":
        entry["dtype"] = draw(st.sampled_from(sorted(modelfile.DTYPES) + ["F8", "str", ""]))
        return f"{name}: {kind} {entry['dtype']}", resealed(header, body)
    start, end = entry["data_offsets"]  # NaN weights
    if entry["dtype"] in ("F32", "F64"):
        dtype = np.float32 if entry["dtype"] == "F32" else np.float64
        body = body[:start] + np.full((end - start) // np.dtype(dtype).itemsize, np.nan,
                                      dtype).tobytes() + body[end:]
    return f"{name}: {kind} in {tensor}", resealed(header, body)
