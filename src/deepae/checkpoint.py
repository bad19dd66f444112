"""Checkpoints of a fit, so that a fit killed part-way goes on where it stopped.

An estimator with ``checkpoint="DIR"`` (a directory path; ``None``, the default, writes
nothing) runs its ``fit`` in a :class:`Session`. Every call of the training loop
(:func:`deepae.training.train`) in that fit is one *stage* — a pretraining layer, the
fine-tuning, an ensemble member — and the loop hands its state to a :class:`Stage`, which
writes it to ``DIR/checkpoint-NNNNNN.safetensors``:

- at the first epoch end :data:`EPOCH_SECONDS` after the previous checkpoint, and inside an
  epoch every :data:`INTERVAL_SECONDS` (for in-memory data in one process), so that writing
  takes a small share of the fit (its cost over the interval: under 1% on MNIST-5k, see
  ``benchmarks/results.md``) and a kill loses at most about that much work;
- holding the weights, the optimizer's state, the best weights and early-stopping counters,
  the epoch and batch position, the states of the loop's generator and of torch's and
  numpy's global generators, and the final weights and histories of the finished stages;
- atomically (a temporary file written, flushed, synced, then renamed), as a safetensors file
  with the metadata and checksum of a model file (:mod:`deepae.modelfile`); the last
  :data:`KEEP` are kept.

Fitting again with the same parameters (``verbose`` aside) and the same data resumes from the
newest sound checkpoint: finished stages are not trained again, the interrupted one goes on
from its epoch and batch, and the fit ends bit for bit as the uninterrupted one on the CPU. A
checkpoint of other parameters or other data (a fingerprint of the rows) is refused with a
``ValueError`` (an iterable of batches, such as a ``DataLoader``, is fingerprinted by its
first batch: resume it unshuffled, or seeded); a corrupt or truncated one is skipped with a
warning for the one before it. A fit that succeeds removes its checkpoints; Ctrl-C stops a fit
with checkpoints (raising ``KeyboardInterrupt``) and keeps them. A checkpoint that cannot be
written (no space, no permission, a path that is a file) stops the fit with a
:class:`CheckpointError`; the previous checkpoint stays as it was.

Under a process group rank 0 writes (with every rank's generator state, gathered at epoch
ends only) and every rank reads: the directory must be shared by the ranks.
"""

import contextvars
import functools
import hashlib
import json
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from . import distributed, modelfile
from .data import first_item, is_batches

#: How many checkpoint files a directory keeps (the newest).
KEEP = 3
#: Seconds after a checkpoint from which the next epoch end writes one.
EPOCH_SECONDS = 30.0
#: Seconds after a checkpoint from which a batch inside an epoch writes one.
INTERVAL_SECONDS = 300.0
#: Rows of the data that its fingerprint reads (evenly spaced, with the first and last).
FINGERPRINT_ROWS = 1024
_NAME = re.compile(r"checkpoint-(\d{6})\.safetensors")
_PARAMS_LEFT_OUT = ("checkpoint", "verbose")  # settings that do not change the fit
_session: contextvars.ContextVar = contextvars.ContextVar("deepae_checkpoint", default=None)


class CheckpointError(OSError):
    """A checkpoint could not be written: the fit stops, the previous checkpoint is kept."""


def checkpointed(fit):
    """Decorate an estimator's ``fit(X, y=None, ...)``: with ``self.checkpoint`` set, run it
    in a :class:`Session` (resuming from the directory's checkpoint) and remove the
    checkpoints when it returns. A fit inside another's session (the members of an ensemble)
    without a directory of its own adds its stages to that session."""

    @functools.wraps(fit)
    def fit_with_checkpoints(self, X, y=None, *args, **kwargs):
        directory = getattr(self, "checkpoint", None)
        if directory is None:
            return fit(self, X, y, *args, **kwargs)
        session = Session(directory, params_fingerprint(self), data_fingerprint(X, y))
        token = _session.set(session)
        try:
            result = fit(self, X, y, *args, **kwargs)
        finally:
            _session.reset(token)
        session.remove()
        return result

    return fit_with_checkpoints


def stage(description: str) -> "Stage | None":
    """The next stage of the current fit's session (None outside one)."""
    session = _session.get()
    return None if session is None else session.next_stage(description)


# --- fingerprints ------------------------------------------------------------------------------


def params_fingerprint(estimator) -> str:
    """SHA-256 of the estimator's class and parameters (nested ones too), ``checkpoint`` and
    ``verbose`` left out."""
    params = {name: value for name, value in estimator.get_params(deep=True).items()
              if name.rsplit("__", 1)[-1] not in _PARAMS_LEFT_OUT}
    text = repr((type(estimator).__name__, sorted(params.items(), key=lambda item: item[0])))
    return hashlib.sha256(text.encode()).hexdigest()


def data_fingerprint(X, y=None) -> str:
    """SHA-256 of the shapes, dtypes and :data:`FINGERPRINT_ROWS` evenly spaced rows of ``X``
    and ``y`` (of the first batch of an iterable of batches); of every rank's under a process
    group."""
    sha = hashlib.sha256()
    for value in (X, y):
        sha.update(_rows_digest(value).encode())
    return hashlib.sha256("".join(distributed.gather_objects(sha.hexdigest())).encode()
                          ).hexdigest()


def _rows_digest(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if is_batches(value):
        value = first_item(next(iter(value)))
        value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
    if hasattr(value, "iloc"):  # a pandas frame or series
        value = value.to_numpy()
    if not hasattr(value, "shape"):
        value = np.asarray(value)
    n = value.shape[0] if len(value.shape) else 0
    rows = np.unique(np.linspace(0, max(n - 1, 0), min(n, FINGERPRINT_ROWS)).astype(np.int64))
    sample = value[rows] if n else value
    sample = sample.toarray() if hasattr(sample, "toarray") else np.asarray(sample)
    if sample.dtype == object:
        text = repr(sample.tolist()).encode()
    else:
        text = np.ascontiguousarray(sample).tobytes()
    return f"{type(value).__name__}{tuple(value.shape)}{sample.dtype}" + hashlib.sha256(
        text).hexdigest()


# --- the loop's state --------------------------------------------------------------------------


@dataclass
class Progress:
    """Where the training loop is: what a checkpoint needs besides weights and optimizer."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the next epoch finished
    history: list = field(default_factory=list)
    best_loss: float = float("inf")
    stale: int = 0  # epochs without improvement
    best_weights: dict = field(default_factory=dict)
    total: torch.Tensor | None = None  # the running sum of the epoch's batch losses
    n: int = 0  # rows in that sum
    epoch_rng: torch.Tensor | None = None  # the loop generator's state at the epoch's start


def global_rng_states() -> dict[str, torch.Tensor]:
    """torch's CPU and CUDA generators' states and numpy's global generator's keys."""
    states = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            states[f"rng.cuda.{i}"] = state
    _, keys, position, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    states["rng.numpy"] = torch.from_numpy(keys.astype(np.int64))
    states["rng.numpy_rest"] = torch.tensor([position, has_gauss], dtype=torch.int64)
    states["rng.numpy_gauss"] = torch.tensor([cached], dtype=torch.float64)
    return states


def set_global_rng_states(tensors: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Restore the states :func:`global_rng_states` took (stored under ``prefix``)."""
    torch.set_rng_state(tensors[prefix + "rng.torch"])
    cuda = [tensors[key] for key in sorted(tensors)
            if key.startswith(prefix + "rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    position, has_gauss = tensors[prefix + "rng.numpy_rest"].tolist()
    np.random.set_state(("MT19937", tensors[prefix + "rng.numpy"].numpy().astype(np.uint32),  # noqa: NPY002
                         position, has_gauss, float(tensors[prefix + "rng.numpy_gauss"])))


# --- sessions and stages -----------------------------------------------------------------------


class Session:
    """The checkpoints of one ``fit``: the directory, the fingerprints, the stages so far."""

    def __init__(self, directory, params: str, data: str):
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"checkpoint must be a directory path or None, got "
                            f"{type(directory).__name__}.")
        self.directory = os.fspath(directory)
        self.params, self.data = params, data
        self.stages: list[dict] = []  # finished stages: description, history, tensors
        self.index = 0  # the next stage
        self.number = 0  # the next file's number
        self.resumed: dict | None = None  # the interrupted stage's saved state
        self.last_write = time.monotonic()
        _guard(self.directory, lambda: os.makedirs(self.directory, exist_ok=True), "create")
        if not os.path.isdir(self.directory):
            raise CheckpointError(f"checkpoint={self.directory!r} is not a directory.")
        self.load_newest()

    def files(self) -> list[str]:
        """The checkpoint files of the directory, oldest first."""
        names = sorted(name for name in os.listdir(self.directory) if _NAME.fullmatch(name))
        return [os.path.join(self.directory, name) for name in names]

    def load_newest(self) -> None:
        """Take up the newest sound checkpoint (refusing one of another fit)."""
        files = self.files()
        if files:
            self.number = int(_NAME.fullmatch(os.path.basename(files[-1])).group(1)) + 1
        for path in reversed(files):
            try:
                config, tensors = read(path)
            except (OSError, ValueError) as error:
                warnings.warn(f"checkpoint {path} is unreadable ({error}); trying the one "
                              "before it.", stacklevel=4)
                continue
            for key, what in (("params", "parameters"), ("data", "data")):
                if config.get(key) != getattr(self, key):
                    raise ValueError(
                        f"checkpoint {path} was written by a fit with other {what}; remove "
                        f"it or choose another checkpoint directory.")
            for i, saved in enumerate(config["stages"]):
                prefix = f"stage{i}."
                self.stages.append({**saved, "tensors": {
                    k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}})
            if config["current"] is not None:
                self.resumed = {"config": config["current"], "tensors": {
                    k[len("current."):]: v for k, v in tensors.items()
                    if k.startswith("current.")}}
            return

    def next_stage(self, description: str) -> "Stage":
        index, self.index = self.index, self.index + 1
        finished = self.stages[index] if index < len(self.stages) else None
        resumed = None
        if finished is None and self.resumed is not None and index == len(self.stages):
            resumed, self.resumed = self.resumed, None
        for saved in (finished, resumed and resumed["config"]):
            if saved is not None and saved["description"] != description:
                raise ValueError(f"checkpoint in {self.directory} has stage {index} "
                                 f"{saved['description']!r}, this fit {description!r}; "
                                 "remove it or choose another checkpoint directory.")
        return Stage(self, index, description, finished, resumed)

    def write(self, current: dict | None, tensors: dict[str, torch.Tensor]) -> None:
        """Write a checkpoint of the finished stages and ``current`` (rank 0 only)."""
        self.last_write = time.monotonic()
        if not distributed.is_main():
            return
        all_tensors = dict(tensors)
        stages = []
        for i, saved in enumerate(self.stages):
            stages.append({k: v for k, v in saved.items() if k != "tensors"})
            all_tensors.update({f"stage{i}.{k}": v for k, v in saved["tensors"].items()})
        config = {"params": self.params, "data": self.data, "stages": stages,
                  "current": current}
        path = os.path.join(self.directory, f"checkpoint-{self.number:06d}.safetensors")
        write(path, config, all_tensors)
        self.number += 1
        for old in self.files()[:-KEEP]:
            _guard(old, lambda old=old: os.remove(old), "remove")

    def remove(self) -> None:
        """Remove the checkpoints (the fit succeeded), and the directory when left empty."""
        if not distributed.is_main():
            return
        for name in os.listdir(self.directory):  # with a killed writer's temporary files
            if _NAME.fullmatch(name.removesuffix(".tmp")):
                os.remove(os.path.join(self.directory, name))
        try:
            os.rmdir(self.directory)
        except OSError:
            pass  # not empty: other files live there


class Stage:
    """One call of the training loop in a session: what it resumes from, and its writes (the
    loop calls :meth:`load`, :meth:`after_batch`, :meth:`after_epoch` and :meth:`finish`)."""

    def __init__(self, session: Session, index: int, description: str,
                 finished: dict | None, resumed: dict | None):
        self.session, self.index, self.description = session, index, description
        self.finished, self.resumed = finished, resumed

    def result(self, module: torch.nn.Module) -> list[dict]:
        """A finished stage's outcome: its final weights into ``module``, the global
        generators as they were after it; its history."""
        tensors = self.finished["tensors"]
        module.load_state_dict({k[len("module."):]: v for k, v in tensors.items()
                                if k.startswith("module.")})
        set_global_rng_states(tensors)
        module.eval()
        return self.finished["history"]

    def load(self, progress: Progress, module, optimizer, generator, loss_fn) -> None:
        """Put the interrupted stage's saved state (if any) into the loop's objects."""
        if self.resumed is None:
            return
        config, tensors = self.resumed["config"], self.resumed["tensors"]

        def part(prefix):
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        module.load_state_dict(part("module."))
        optimizer.load_state_dict({"state": unflatten_state(part("optimizer.")),
                                   "param_groups": optimizer.state_dict()["param_groups"]})
        generator.set_state(tensors[f"generator.{distributed.rank()}"])
        set_global_rng_states(tensors)
        if hasattr(loss_fn, "load_state_dict"):
            loss_fn.load_state_dict(part("loss."))
        progress.__dict__.update(config["progress"])
        progress.best_loss = float(progress.best_loss)
        progress.best_weights = part("best.")
        progress.total = tensors.get("total")
        progress.epoch_rng = tensors.get("epoch_rng")
        if progress.total is not None:
            progress.total = progress.total.to(generator.device)

    def after_batch(self, progress: Progress, module, optimizer, generator, loss_fn) -> None:
        """Write a checkpoint when :data:`INTERVAL_SECONDS` have passed since the last."""
        if time.monotonic() - self.session.last_write >= INTERVAL_SECONDS:
            self.save(progress, module, optimizer, generator, loss_fn)

    def after_epoch(self, progress: Progress, module, optimizer, generator, loss_fn) -> None:
        """Write a checkpoint when :data:`EPOCH_SECONDS` have passed since the last (the
        same decision on every rank: rank 0's clock)."""
        due = time.monotonic() - self.session.last_write >= EPOCH_SECONDS
        if distributed.broadcast_seed(int(due)):
            self.save(progress, module, optimizer, generator, loss_fn)

    def save(self, progress: Progress, module, optimizer, generator, loss_fn) -> None:
        generators = distributed.gather_objects(generator.get_state())
        tensors = {f"generator.{rank}": state for rank, state in enumerate(generators)}
        tensors.update(global_rng_states())
        tensors.update({f"module.{k}": v for k, v in module.state_dict().items()})
        tensors.update({f"best.{k}": v for k, v in progress.best_weights.items()})
        tensors.update({f"optimizer.{k}": v for k, v in
                        flatten_state(optimizer.state_dict()["state"]).items()})
        if hasattr(loss_fn, "state_dict"):
            tensors.update({f"loss.{k}": v for k, v in loss_fn.state_dict().items()})
        if progress.batch:
            tensors["total"], tensors["epoch_rng"] = progress.total, progress.epoch_rng
        saved = {k: v for k, v in asdict(progress).items()
                 if k not in ("best_weights", "total", "epoch_rng")}
        saved["best_loss"] = repr(float(progress.best_loss))
        current = {"description": self.description, "progress": saved}
        self.session.write(current, {f"current.{k}": v for k, v in tensors.items()})

    def finish(self, module, history: list[dict]) -> None:
        """Record the finished stage (final weights, history): the next checkpoint holds it."""
        tensors = {f"module.{k}": v for k, v in module.state_dict().items()}
        tensors.update(global_rng_states())
        self.session.stages.append({"description": self.description, "history": history,
                                    "tensors": {k: v.detach().to("cpu", copy=True)
                                                for k, v in tensors.items()}})


def flatten_state(state: dict) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state as ``"{index}.{key}"`` tensors."""
    return {f"{index}.{key}": value for index, values in state.items()
            for key, value in values.items() if isinstance(value, torch.Tensor)}


def unflatten_state(tensors: dict[str, torch.Tensor]) -> dict:
    """The inverse of :func:`flatten_state`."""
    state: dict = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return state


# --- files -------------------------------------------------------------------------------------


def write(path: str, config: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Write a checkpoint atomically: a temporary file written, flushed, synced, renamed."""
    import deepae

    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    text = json.dumps(config, allow_nan=False, separators=(",", ":"))
    entries = ((name, str(t.dtype), list(t.shape), [t.reshape(-1).view(torch.uint8).numpy().data])
               for name, t in sorted(tensors.items()))
    metadata = {"format": modelfile.FORMAT, "format_version": str(modelfile.FORMAT_VERSION),
                "deepae_version": deepae.__version__, "class": "Checkpoint", "config": text,
                "sha256": modelfile.digest(text, entries)}
    data = save_tensors(tensors, metadata=metadata)
    temporary = f"{path}.tmp"

    def put():
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.remove(temporary)
            raise

    _guard(path, put, "write")


def read(path: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The configuration and tensors of a sound checkpoint file (``ValueError`` if not)."""
    header = modelfile.read_header(path)
    if header.metadata["class"] != "Checkpoint":
        raise ValueError("it is not a checkpoint")
    with open(path, "rb") as file:
        data = file.read()
    modelfile.verify_checksum(path, header, {
        name: data[e.start:e.end] for name, e in header.tensors.items()})
    config = modelfile.parse_config(header.metadata["config"])
    return config, load_tensors(data)


def _guard(path: str, action, verb: str) -> None:
    """Run ``action``; an ``OSError`` becomes a :class:`CheckpointError` naming ``path``."""
    try:
        action()
    except OSError as error:
        reason = error.strerror or str(error)
        raise CheckpointError(f"cannot {verb} checkpoint {path}: {reason}; the fit stopped "
                              "(the previous checkpoint is kept).") from error
