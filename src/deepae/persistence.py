"""Safe model files: ``model.save(path)`` and ``deepae.load(path)``, without pickle.

File format
-----------
A model file (by convention ``*.deepae``) is one `safetensors <https://huggingface.co/docs/
safetensors>`_ file. Its tensors are the numeric arrays of the model (fitted numpy arrays,
torch state dicts); its string metadata holds:

``format``          ``"deepae"``
``format_version``  ``"1"`` (:data:`FORMAT_VERSION`; a newer file is refused with a clear error)
``deepae_version``, ``torch_version``, ``numpy_version``  of the writer
``class``           the top-level estimator's class name
``config``          JSON: the estimator (see below)
``sha256``          digest of ``config`` and of every tensor (name, dtype, shape, bytes)

Any tool that reads safetensors can open the file; ``deepae info FILE`` summarizes it.

The JSON of an estimator is ``{"$estimator": {"class", "params", "attributes", "private"}}``:

- ``class``: a name from :data:`ESTIMATOR_CLASSES`, resolved on load in deepae's own modules
  (never an import of a name written in the file; anything else is refused);
- ``params``: ``get_params(deep=False)``; nested estimators (``model=PCA(...)``) are encoded
  recursively, fitted or not;
- ``attributes``: the fitted attributes, i.e. the instance attributes whose names end with
  ``_`` and do not start with ``_`` (``components_``, ``history_``, ``classes_``, ``model_``);
- ``private``: the private state listed in :data:`PRIVATE_STATE` (``_moments``, the running
  statistics of the closed-form models, so that ``partial_fit`` goes on after loading).

Values are JSON where JSON can hold them exactly (``None``, bools, ints, strings, floats by
their shortest round-trip repr, lists, dicts with string keys) and tagged objects — a dict
with a single ``"$tag"`` key — otherwise: ``$float`` (NaN, ±inf), ``$tuple``, ``$dict`` (other
keys), ``$scalar`` (numpy scalars with their dtype), ``$array`` (a numeric numpy array: the
name of its tensor), ``$ndarray`` (a string or object array: dtype, shape and items),
``$tensor`` (a torch tensor), ``$module`` (a torch module's state dict), ``$estimator``,
``$moments``, ``$random_state`` (a ``numpy.random.RandomState``) and ``$device``. A loaded
model therefore gives bit-for-bit the outputs of the saved one.

Estimators holding torch modules (the protocol)
-----------------------------------------------
A torch module is saved as its ``state_dict()`` (and its ``training`` flag), never as code.
On load, every other attribute and parameter is restored first; then an empty module of the
right architecture is asked from the estimator (on torch's ``meta`` device, where it takes
no memory), its weights' shapes and dtypes are compared with the saved tensors, and the
saved tensors become its weights:

- the module in ``module_`` comes from ``estimator._new_module()``;
- a module in another attribute ``name_`` comes from ``estimator._new_module("name_")``;
- the ``i``-th module of a list or tuple attribute ``name_`` comes from
  ``estimator._new_module("name_", i)``.

So an estimator that keeps torch modules implements ``_new_module(...)``: build an untrained
module from the parameters and the (non-module) fitted attributes such as ``n_features_in_``
or ``classes_``. Modules may only sit directly in an attribute or in a list/tuple attribute.
The module's floating dtype follows the saved tensors; it is placed on the estimator's
``device`` (CPU when that device is not available here). Building it does not touch torch's
global random state.

An estimator may also implement ``_check_loaded_state()``, raising a ``ValueError`` when its
restored fitted attributes disagree in shape (the closed-form models check their arrays
against ``n_components_`` and ``n_features_in_``).

Safety
------
Loading reads the safetensors header as JSON (:mod:`deepae.modelfile`) and the tensors'
bytes at the places it gives — no pickle, no ``torch.load``, no ``eval``, no import of names
from the file: classes come from a fixed list, and their constructors only receive JSON
values. A file that is not a deepae model (a pickle, a zip, a ``torch.save`` file),
truncated, corrupt or modified (checksum), or naming an unknown class or attribute gives a
``ValueError`` naming the path.

Loading is bounded by the file: the header is at most
:data:`deepae.modelfile.MAX_HEADER_BYTES`, the configuration nested at most
:data:`deepae.modelfile.MAX_DEPTH` deep, sizes at most :data:`MAX_SIZE` (and
:data:`MAX_LAYERS` layers), and every module is checked against the file's tensors before
it holds memory; so a crafted configuration cannot make :func:`load` allocate more than the
file's tensors and the parsed header (measured in ``tests/test_persistence.py``).
"""

import importlib
import json
import math
import numbers
import os
import re
import tempfile
import warnings

import numpy as np
import torch
from safetensors.torch import save as save_tensors
from torch import nn

from . import distributed, modelfile
from .linalg import Moments
from .modelfile import FORMAT, FORMAT_VERSION
from .modelfile import FormatError as _FormatError

#: deepae's public estimator classes: the only classes a model file may name.
ESTIMATOR_CLASSES = (
    "PCA",
    "LinearAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "StackedAutoencoder",
    "DeepClassifier",
    "DeepRegressor",
    "ReconstructionOutlierDetector",
    "RBM",
    "VariationalAutoencoder",
    "ConvolutionalAutoencoder",
    "TableEncoder",
    "TableImputer",
    "ConvolutionalSequenceAutoencoder",
    "RecurrentSequenceAutoencoder",
    "TimeSeriesOutlierDetector",
)
#: The deepae modules the classes of :data:`ESTIMATOR_CLASSES` are looked up in, in order.
_CLASS_HOMES = ("deepae", "deepae.deep", "deepae.supervised", "deepae.outliers", "deepae.tabular")
#: Private instance attributes that are part of a model's state.
PRIVATE_STATE = ("_moments",)

#: The largest size a configuration may ask for: features, codes, hidden units, outputs.
MAX_SIZE = 2**24
#: The most hidden layers a configuration may ask for.
MAX_LAYERS = 64
#: The parameters and fitted attributes that are sizes (of layers, codes, inputs, outputs).
SIZE_NAMES = ("hidden_size", "code_size", "hidden_layer_sizes", "n_components", "n_components_",
              "n_features_in_", "n_outputs_", "image_shape", "image_shape_", "channels",
              "kernel_size")
#: The most bytes a string array (``$ndarray``) of a configuration may take.
MAX_TEXT_BYTES = 4 * modelfile.MAX_HEADER_BYTES
_SCALAR_DTYPE = re.compile(r"[<>|=]?[biufUS]\d+")
_TEXT_DTYPE = re.compile(r"[<>|=]?[US]\d+|\|?O")
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")
_MODULE_ATTRIBUTE = "module_"


class SaveMixin:
    """Gives an estimator ``save(path)``: write it to a safe model file (see
    :mod:`deepae.persistence`); ``deepae.load(path)`` reads it back. And ``export_onnx(path)``:
    its outputs as an ONNX graph (see :mod:`deepae.export`)."""

    def export_onnx(self, path) -> tuple[str, ...]:
        """Write this fitted estimator's outputs to the ONNX file ``path``.

        One float32 input ``X`` of shape ``(batch, n_features_in_)``, any batch size; one
        output per method, named after it: ``transform``, ``reconstruction_error`` and
        ``score_samples`` for the autoencoders and PCA, ``score_samples`` and
        ``decision_function`` for the outlier detector, ``predict_proba`` for the classifier,
        ``predict`` for the regressor. Needs ``pip install 'deepae[onnx]'``.

        Returns
        -------
        output_names : tuple of str
        """
        from .export import export_onnx

        return export_onnx(self, path)

    def save(self, path) -> None:
        """Write this estimator (parameters, fitted state, weights) to the file ``path``.

        The file holds no pickle: JSON and safetensors only. Read it back with
        :func:`deepae.load`; the loaded estimator gives identical outputs.
        """
        save(self, path)


def estimator_class(name: str) -> type | None:
    """The deepae estimator class called ``name``, or None when this version has none."""
    if name not in ESTIMATOR_CLASSES:
        return None
    from sklearn.base import BaseEstimator

    for home in _CLASS_HOMES:
        try:
            module = importlib.import_module(home)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseEstimator):
            return cls
    return None


# --- writing ----------------------------------------------------------------------------------


def save(estimator, path) -> None:
    """Write ``estimator`` to the model file ``path`` (atomically: a temporary file, renamed);
    under a process group only rank 0 writes."""
    import deepae

    if not distributed.is_main():
        return

    writer = _Writer()
    config = json.dumps(writer.estimator(estimator, "model"), allow_nan=False,
                        separators=(",", ":"))
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "deepae_version": deepae.__version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "class": type(estimator).__name__,
        "config": config,
        "sha256": _digest(config, writer.tensors),
    }
    data = save_tensors(writer.tensors, metadata=metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".deepae-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class _Writer:
    """Encodes values to JSON, collecting the numeric arrays as tensors."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}

    def tensor(self, value: torch.Tensor, where: str) -> str:
        key, n = where, 1
        while key in self.tensors:
            n += 1
            key = f"{where}#{n}"
        # A private, contiguous CPU copy: safetensors refuses tensors that share memory.
        self.tensors[key] = value.detach().to("cpu", copy=True).contiguous()
        return key

    def estimator(self, estimator, where: str) -> dict:
        cls = type(estimator)
        if estimator_class(cls.__name__) is not cls:
            raise TypeError(
                f"Cannot save {where} of type {cls.__module__}.{cls.__qualname__}: only "
                f"deepae's estimators ({', '.join(ESTIMATOR_CLASSES)}) can be saved."
            )
        params = estimator.get_params(deep=False)
        state = vars(estimator)
        fitted = sorted(k for k in state if _is_fitted_name(k) and k not in params)
        return {"$estimator": {
            "class": cls.__name__,
            "params": {k: self.value(v, f"{where}.{k}") for k, v in params.items()},
            "attributes": {k: self.attribute(state[k], f"{where}.{k}") for k in fitted},
            "private": {k: self.value(state[k], f"{where}.{k}")
                        for k in PRIVATE_STATE if k in state},
        }}

    def attribute(self, value, where: str):
        """A fitted attribute: modules are allowed here and in lists/tuples here."""
        if isinstance(value, nn.Module):
            return self.module(value, where)
        if isinstance(value, (list, tuple)) and any(isinstance(v, nn.Module) for v in value):
            items = []
            for i, item in enumerate(value):
                if not isinstance(item, nn.Module):
                    raise TypeError(f"Cannot save {where}: it mixes torch modules and other "
                                    f"values ({type(item).__name__} at index {i}).")
                items.append(self.module(item, f"{where}[{i}]"))
            return items if isinstance(value, list) else {"$tuple": items}
        return self.value(value, where)

    def module(self, module: nn.Module, where: str) -> dict:
        state = {name: self.tensor(t, f"{where}.{name}")
                 for name, t in module.state_dict().items()}
        return {"$module": {"state": state, "training": bool(module.training)}}

    def value(self, value, where: str):
        if isinstance(value, np.generic):  # before str and float: np.str_, np.float64
            return self.scalar(value, where)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"$tuple": [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in value):
                return {k: self.value(v, f"{where}[{k!r}]") for k, v in value.items()}
            return {"$dict": [[self.value(k, f"{where} key"), self.value(v, f"{where}[{k!r}]")]
                              for k, v in value.items()]}
        if isinstance(value, np.ndarray):
            return self.array(np.asarray(value), where)
        if isinstance(value, torch.Tensor):
            return {"$tensor": self.tensor(value, where)}
        if isinstance(value, torch.device):
            return {"$device": str(value)}
        if isinstance(value, Moments):
            return {"$moments": {
                "n_samples": int(value.n_samples),
                "shift": self.value(value.shift, f"{where}.shift"),
                "sum": self.value(value.sum, f"{where}.sum"),
                "gram": self.value(value.gram, f"{where}.gram"),
            }}
        if isinstance(value, np.random.RandomState):
            name, keys, pos, has_gauss, cached = value.get_state(legacy=True)
            return {"$random_state": {
                "keys": self.array(keys, f"{where}.keys"), "pos": int(pos),
                "has_gauss": int(has_gauss), "cached_gaussian": self.value(float(cached), where),
            }}
        if hasattr(value, "get_params") and hasattr(value, "fit"):
            return self.estimator(value, where)
        if isinstance(value, nn.Module):
            raise TypeError(f"Cannot save {where}: a torch module may only be a fitted attribute "
                            "or an item of a list/tuple fitted attribute.")
        raise TypeError(f"Cannot save {where}: values of type {type(value).__qualname__} are "
                        "not supported in deepae model files.")

    def scalar(self, value: np.generic, where: str) -> dict:
        dtype = value.dtype.str
        if not _SCALAR_DTYPE.fullmatch(dtype):
            raise TypeError(f"Cannot save {where}: numpy scalars of dtype {value.dtype} are not "
                            "supported.")
        item = value.item()
        if isinstance(item, bytes):
            item = item.decode("latin-1")
        return {"$scalar": [dtype, self.value(item, where)]}

    def array(self, value: np.ndarray, where: str) -> dict:
        kind = value.dtype.kind
        if kind in "biuf" and value.dtype.itemsize <= 8:
            native = np.array(value, dtype=value.dtype.newbyteorder("="), order="C", copy=True)
            return {"$array": self.tensor(torch.from_numpy(native), where)}
        if kind in "USO":
            items = value.reshape(-1).tolist()
            if kind == "S":
                items = [item.decode("latin-1") for item in items]
            return {"$ndarray": {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "items": [self.value(v, f"{where}[{i}]") for i, v in enumerate(items)],
            }}
        raise TypeError(f"Cannot save {where}: arrays of dtype {value.dtype} are not supported.")


def _is_fitted_name(name: str) -> bool:
    return name.endswith("_") and not name.startswith("_")


def _digest(config: str, tensors: dict[str, torch.Tensor]) -> str:
    """The checksum of :func:`deepae.modelfile.digest` over in-memory tensors."""
    return modelfile.digest(config, (
        (key, str(t.dtype), list(t.shape), [t.reshape(-1).view(torch.uint8).numpy().data])
        for key, t in sorted(tensors.items())))


# --- reading ----------------------------------------------------------------------------------


def read_header(path) -> dict[str, str]:
    """The metadata of the model file ``path`` (versions, class, config JSON), with the file's
    framing checked; :func:`load` verifies everything."""
    try:
        return modelfile.read_header(path).metadata
    except modelfile.FormatError as error:
        raise ValueError(f"{os.fspath(path)}: not a valid deepae model file: {error}") from None


def load(path):
    """Read an estimator written by ``model.save(path)``.

    Nothing in the file is unpickled or executed, and nothing is built before the file is
    checked: its framing and checksum (:mod:`deepae.modelfile`), the sizes its configuration
    asks for (:data:`MAX_SIZE`, :data:`MAX_LAYERS`) and the shape of every module weight,
    compared on torch's ``meta`` device with the tensors in the file. A load's memory is
    therefore about the file's size (the tensors are read from it once) plus the parsed
    configuration: at most about 150 MiB for the largest header allowed
    (:data:`deepae.modelfile.MAX_HEADER_BYTES`), under 1 MiB for usual models.

    Raises ``FileNotFoundError`` when there is no such file and ``ValueError`` (naming
    ``path``) when it is not a valid deepae model file: truncated, corrupt or modified, from a
    newer format version, naming an unknown class, or asking for more than its tensors hold.
    """
    path = os.fspath(path)
    try:
        return _load(path)
    except modelfile.FormatError as error:
        message = str(error)
    except RecursionError:
        message = "its configuration is nested too deeply"
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # noqa: BLE001 - whatever a corrupt file triggers
        message = f"{type(error).__name__}: {error}"
    raise ValueError(f"{path}: not a valid deepae model file: {message}")


def _load(path: str):
    header = modelfile.read_header(path)
    config = modelfile.parse_config(header.metadata["config"])
    tensors = _read_tensors(path, header)
    estimator = _Reader(tensors).value(config, "model")
    if estimator_class(type(estimator).__name__) is not type(estimator):
        raise _FormatError("its configuration does not describe an estimator")
    return estimator


def _read_tensors(path: str, header: modelfile.Header) -> dict[str, torch.Tensor]:
    """The file's tensors, their checksum verified.

    Each tensor's bytes (whose place, dtype and shape :func:`deepae.modelfile.read_header`
    has checked) are read once into a buffer that the tensor then owns: the load takes the
    file's size in memory, and a loaded tensor is independent of the file and of the others
    (safetensors' own reader maps the whole file, and any of its tensors would keep all of it,
    in memory and when pickled).
    """
    buffers = {}
    with open(path, "rb") as file:
        for name, entry in header.tensors.items():
            buffers[name] = bytearray(entry.end - entry.start)
            file.seek(entry.start)
            if file.readinto(buffers[name]) != len(buffers[name]):
                raise _FormatError(f"it is truncated (tensor {name!r})")
    modelfile.verify_checksum(path, header, buffers)
    tensors = {}
    for name, entry in header.tensors.items():
        dtype = getattr(torch, entry.dtype.removeprefix("torch."))
        tensor = (torch.frombuffer(buffers[name], dtype=dtype) if buffers[name]
                  else torch.empty(0, dtype=dtype))
        tensors[name] = tensor.reshape(entry.shape)
    return tensors


class _PendingModule:
    """A module's saved state, waiting for its estimator to build the module."""

    def __init__(self, state: dict[str, torch.Tensor], training: bool):
        self.state = state
        self.training = training


class _Reader:
    """Decodes the JSON of :class:`_Writer`, taking numeric arrays from the tensors."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors

    def tensor(self, key, where: str) -> torch.Tensor:
        if not isinstance(key, str) or key not in self.tensors:
            raise _FormatError(f"{where} refers to a missing tensor {key!r}")
        return self.tensors[key]

    def value(self, obj, where: str):
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if not isinstance(obj, dict):
            raise _FormatError(f"{where} holds an unexpected {type(obj).__name__}")
        tags = [k for k in obj if k.startswith("$")]
        if not tags:
            return {k: self.value(v, f"{where}[{k!r}]") for k, v in obj.items()}
        if len(obj) != 1:
            raise _FormatError(f"{where} is a malformed tagged value")
        tag, body = tags[0], obj[tags[0]]
        decode = getattr(self, "tag_" + tag[1:], None) if tag[1:].isidentifier() else None
        if decode is None:
            raise _FormatError(f"{where} has an unknown value tag {tag!r}")
        return decode(body, where)

    def tag_float(self, body, where):
        if body not in ("nan", "inf", "-inf"):
            raise _FormatError(f"{where}: bad $float {body!r}")
        return float(body)

    def tag_tuple(self, body, where):
        return tuple(self.value(_expect(body, list, where), where))

    def tag_dict(self, body, where):
        result = {}
        for pair in _expect(body, list, where):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _FormatError(f"{where}: bad $dict item")
            key = self.value(pair[0], f"{where} key")
            try:
                result[key] = self.value(pair[1], f"{where}[{key!r}]")
            except TypeError:
                raise _FormatError(f"{where}: unhashable dict key") from None
        return result

    def tag_scalar(self, body, where):
        if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], str)
                and _SCALAR_DTYPE.fullmatch(body[0])):
            raise _FormatError(f"{where}: bad $scalar")
        dtype, item = np.dtype(body[0]), self.value(body[1], where)
        if dtype.kind == "S":
            item = _expect(item, str, where).encode("latin-1")
        return dtype.type(item)

    def tag_array(self, body, where):
        tensor = self.tensor(body, where)
        if tensor.dtype in (torch.bfloat16,) or tensor.is_complex():
            raise _FormatError(f"{where}: tensor {body!r} has no numpy dtype")
        return tensor.numpy()

    def tag_ndarray(self, body, where):
        body = _expect(body, dict, where)
        dtype, shape = body.get("dtype"), body.get("shape")
        items = _expect(body.get("items"), list, where)
        if not (isinstance(dtype, str) and _TEXT_DTYPE.fullmatch(dtype)):
            raise _FormatError(f"{where}: bad $ndarray dtype {dtype!r}")
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)
                and math.prod(shape) == len(items)):
            raise _FormatError(f"{where}: bad $ndarray shape {shape!r}")
        dtype = np.dtype(dtype)
        if dtype.itemsize * len(items) > MAX_TEXT_BYTES:
            raise _FormatError(f"{where}: a $ndarray of {len(items)} items of dtype {dtype} "
                               f"would take more than {MAX_TEXT_BYTES:,} bytes")
        values = [self.value(v, f"{where}[{i}]") for i, v in enumerate(items)]
        if dtype.kind == "S":
            values = [_expect(v, str, where).encode("latin-1") for v in values]
        array = np.empty(len(values), dtype=dtype)
        array[:] = values if dtype.kind != "O" else _object_array(values)
        return array.reshape(shape)

    def tag_tensor(self, body, where):
        return self.tensor(body, where).clone()

    def tag_device(self, body, where):
        try:
            return torch.device(_expect(body, str, where))
        except RuntimeError:
            raise _FormatError(f"{where}: bad device {body!r}") from None

    def tag_moments(self, body, where):
        body = _expect(body, dict, where)
        moments = Moments(0)
        moments.n_samples = _expect(body.get("n_samples"), int, where)
        moments.shift = self.value(body.get("shift"), where)
        moments.sum = self.value(body.get("sum"), where)
        moments.gram = self.value(body.get("gram"), where)
        for name in ("sum", "gram"):
            if not isinstance(getattr(moments, name), np.ndarray):
                raise _FormatError(f"{where}: bad $moments {name}")
        return moments

    def tag_random_state(self, body, where):
        body = _expect(body, dict, where)
        state = np.random.RandomState()
        state.set_state(("MT19937", self.value(body.get("keys"), where), body.get("pos"),
                         body.get("has_gauss"), self.value(body.get("cached_gaussian"), where)))
        return state

    def tag_module(self, body, where):
        raise _FormatError(f"{where}: a torch module is only allowed in a fitted attribute")

    def module(self, body, where: str) -> _PendingModule:
        body = _expect(body, dict, where)
        state = _expect(body.get("state"), dict, where)
        tensors = {_expect(name, str, where): self.tensor(key, f"{where}.{name}")
                   for name, key in state.items()}
        return _PendingModule(tensors, bool(body.get("training", False)))

    def attribute(self, obj, where: str):
        if isinstance(obj, dict) and set(obj) == {"$module"}:
            return self.module(obj["$module"], where)
        items = obj.get("$tuple") if isinstance(obj, dict) and set(obj) == {"$tuple"} else obj
        if (isinstance(items, list) and items
                and all(isinstance(v, dict) and set(v) == {"$module"} for v in items)):
            modules = [self.module(v["$module"], f"{where}[{i}]") for i, v in enumerate(items)]
            return modules if items is obj else tuple(modules)
        return self.value(obj, where)

    def tag_estimator(self, body, where):
        body = _expect(body, dict, where)
        name = body.get("class")
        cls = estimator_class(name) if isinstance(name, str) else None
        if cls is None:
            raise _FormatError(
                f"{where} names an unknown estimator class {name!r} (known: "
                f"{', '.join(n for n in ESTIMATOR_CLASSES if estimator_class(n))})"
            )
        names = set(cls._get_param_names())
        params = _expect(body.get("params", {}), dict, where)
        unknown = sorted(set(params) - names)
        if unknown:
            raise _FormatError(f"{where}: {name} has no parameter(s) {', '.join(unknown)}")
        params = {k: self.value(v, f"{where}.{k}") for k, v in params.items()}
        check_sizes(params, where)
        estimator = cls(**params)

        pending = []
        for attribute, obj in _expect(body.get("attributes", {}), dict, where).items():
            if (not _ATTRIBUTE.fullmatch(attribute) or attribute in names
                    or hasattr(cls, attribute)):
                raise _FormatError(f"{where}: {name} cannot have a fitted attribute "
                                   f"{attribute!r}")
            value = self.attribute(obj, f"{where}.{attribute}")
            if isinstance(value, _PendingModule):
                pending.append((attribute, None, value))
            elif isinstance(value, (list, tuple)) and value and isinstance(
                    value[0], _PendingModule):
                pending.extend((attribute, i, v) for i, v in enumerate(value))
            setattr(estimator, attribute, value)
        for attribute, obj in _expect(body.get("private", {}), dict, where).items():
            if attribute not in PRIVATE_STATE:
                raise _FormatError(f"{where}: unexpected private attribute {attribute!r}")
            setattr(estimator, attribute, self.value(obj, f"{where}.{attribute}"))
        check_sizes(vars(estimator), where)

        for attribute, index, saved in pending:
            module = _build_module(estimator, attribute, index, saved, f"{where}.{attribute}")
            if index is None:
                setattr(estimator, attribute, module)
            else:
                container = getattr(estimator, attribute)
                items = list(container)
                items[index] = module
                setattr(estimator, attribute, type(container)(items))
        check = getattr(estimator, "_check_loaded_state", None)
        try:
            if check is not None:
                check()
        except (ValueError, TypeError, AttributeError) as error:
            raise _FormatError(f"{where}: {error}") from None
        return estimator


def check_sizes(values: dict, where: str) -> None:
    """Raise a format error when a size in ``values`` (see :data:`SIZE_NAMES`) is beyond
    :data:`MAX_SIZE`, or a list of layer sizes longer than :data:`MAX_LAYERS`."""
    for name in SIZE_NAMES:
        value = values.get(name)
        sizes = value if isinstance(value, (list, tuple)) else [value]
        if len(sizes) > MAX_LAYERS:
            raise _FormatError(f"{where}: {name} has {len(sizes)} entries (at most "
                               f"{MAX_LAYERS})")
        for size in sizes:
            if isinstance(size, numbers.Integral) and size > MAX_SIZE:
                raise _FormatError(f"{where}: {name}={size} is beyond the largest size a model "
                                   f"file may ask for ({MAX_SIZE:,})")


def _build_module(estimator, attribute: str, index, saved: _PendingModule, where: str):
    """The estimator's module holding the saved weights.

    The module comes from the estimator's ``_new_module`` hook, built on torch's ``meta``
    device (no memory, no random numbers); its weights' shapes and dtypes are compared with
    the saved tensors, which then become its weights (no copy).
    """
    new_module = getattr(estimator, "_new_module", None)
    if new_module is None:
        raise _FormatError(f"{where}: {type(estimator).__name__} cannot rebuild torch modules")
    try:
        with torch.device("meta"):
            if attribute == _MODULE_ATTRIBUTE and index is None:
                module = new_module()
            elif index is None:
                module = new_module(attribute)
            else:
                module = new_module(attribute, index)
    except (ValueError, TypeError) as error:  # a configuration the estimator refuses
        raise _FormatError(f"{where}: {error}") from None
    if not isinstance(module, nn.Module):
        raise _FormatError(f"{where}: _new_module did not return a torch module")
    dtypes = {t.dtype for t in saved.state.values() if t.is_floating_point()}
    if len(dtypes) == 1:
        module = module.to(dtypes.pop())
    expected = {name: (t.dtype, tuple(t.shape)) for name, t in module.state_dict().items()}
    found = {name: (t.dtype, tuple(t.shape)) for name, t in saved.state.items()}
    if found != expected:
        raise _FormatError(f"{where}: the saved weights do not fit the module "
                           f"({_difference(expected, found)})")
    module.load_state_dict(saved.state, strict=True, assign=True)
    if any(t.is_meta for t in [*module.parameters(), *module.buffers()]):
        raise _FormatError(f"{where}: the saved weights do not fill the module")
    module.train(saved.training)
    return module.to(_device_of(estimator))


def _difference(expected: dict, found: dict) -> str:
    """The first difference between two ``{name: (dtype, shape)}`` tables, in words."""
    for name in sorted(set(expected) | set(found)):
        if name not in found:
            return f"missing {name}"
        if name not in expected:
            return f"unexpected {name}"
        if found[name] != expected[name]:
            (dtype, shape), (saved_dtype, saved_shape) = expected[name], found[name]
            return (f"{name}: the module needs {dtype} of shape {list(shape)}, the file holds "
                    f"{saved_dtype} of shape {list(saved_shape)}")
    return "no difference"


def _device_of(estimator) -> torch.device:
    """The estimator's ``device`` when available here, else the CPU (with a warning)."""
    from ._base import resolve_device

    device = getattr(estimator, "device", "cpu")
    try:
        return resolve_device(device)
    except ValueError as error:
        warnings.warn(f"{error} Loading {type(estimator).__name__} on the CPU.", stacklevel=4)
        return torch.device("cpu")


def _expect(value, kind, where: str):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _FormatError(f"{where}: expected {kind.__name__}, found {type(value).__name__}")
    return value


def _object_array(values: list) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array
