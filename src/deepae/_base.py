"""Plumbing shared by the gradient-trained estimators: parameters, devices, seeds, batching."""

import copy
import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.validation import validate_data

from . import distributed
from ._validation import (
    FLOAT_DTYPES,
    check_option,
    check_X,
    map_chunks,
    positive_strides,
    to_numpy,
)
from .data import (
    ArrayRows,
    IterableRows,
    TensorRows,
    feature_range,
    first_item,
    is_batches,
    is_memmap,
)
from .training import OPTIMIZERS, TrainingConfig


def resolve_device(device) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; anything else must name a torch device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return distributed.local_cuda_device() if torch.cuda.is_available() else (
            torch.device("cpu"))
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"Unknown device={device!r}; use 'auto', 'cpu' or 'cuda'.") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available.")
    return resolved


def seed_from(random_state) -> int:
    """An integer seed from scikit-learn's ``random_state`` convention (rank 0's under a
    process group, so that all ranks initialize and split alike)."""
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return distributed.broadcast_seed(seed)


def check_unit_interval(data) -> None:
    """Raise a ValueError unless the training source's features are all in [0, 1]."""
    low, high = feature_range(data)
    if low.min() < 0 or high.max() > 1:
        raise ValueError("loss='binary_cross_entropy' needs data in [0, 1].")


def output_and_loss(output_activation: str, loss: str, sources) -> tuple[str, str]:
    """The output activation and loss to train with, ``auto`` resolved: a sigmoid output
    with binary cross-entropy when all the training ``sources`` lie in ``[0, 1]``, else a
    linear output with squared error (checked: cross-entropy needs a sigmoid and [0, 1])."""
    if "auto" in (output_activation, loss):
        ranges = [feature_range(s) for s in sources if s is not None]
        unit = all(low.min() >= 0 and high.max() <= 1 for low, high in ranges)
        if output_activation == "auto":
            output_activation = "sigmoid" if unit else "linear"
        if loss == "auto":
            loss = "binary_cross_entropy" if unit and output_activation == "sigmoid" else (
                "squared_error")
    if loss == "binary_cross_entropy":
        if output_activation != "sigmoid":
            raise ValueError("loss='binary_cross_entropy' needs output_activation='sigmoid'.")
        for source in sources:
            if source is not None:
                check_unit_interval(source)
    return output_activation, loss


def split_indices(
    n_samples: int, fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation row indices; no validation set when there are too few rows."""
    from sklearn.model_selection import train_test_split  # imported here: ~0.1 s at start-up

    indices = np.arange(n_samples)
    n_valid = int(np.ceil(fraction * n_samples))
    if n_samples < 2 or n_valid >= n_samples:
        return indices, None
    if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
        stratify = None
    if stratify is not None and n_valid < len(np.unique(stratify)):
        stratify = None
    train, valid = train_test_split(
        indices, test_size=n_valid, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(valid)


class TorchEstimatorMixin:
    """Shared by estimators whose parameters include the training-loop settings."""

    def _check_training_params(self) -> None:
        check_option("optimizer", self.optimizer, OPTIMIZERS)
        check_scalar(self._setting("learning_rate"), "learning_rate", numbers.Real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self._setting("weight_decay"), "weight_decay", numbers.Real, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self._setting("max_epochs"), "max_epochs", numbers.Integral, min_val=1)
        check_scalar(self._setting("patience"), "patience", numbers.Integral, min_val=1)
        check_scalar(self.validation_fraction, "validation_fraction", numbers.Real,
                     min_val=0, max_val=1, include_boundaries="neither")
        check_scalar(self.verbose, "verbose", numbers.Integral)
        resolve_device(self.device)

    def _auto(self) -> dict:
        """The values of this estimator's ``"auto"`` training parameters, by name."""
        return {}

    def _setting(self, name: str):
        """The value of the parameter ``name``, ``"auto"`` resolved by :meth:`_auto`."""
        value = getattr(self, name)
        auto = self._auto()
        if isinstance(value, str) and value == "auto" and name in auto:
            return auto[name]
        return value

    def _training_config(self, seed: int, description: str) -> TrainingConfig:
        return TrainingConfig(
            optimizer=self.optimizer,
            learning_rate=float(self._setting("learning_rate")),
            weight_decay=float(self._setting("weight_decay")),
            batch_size=int(self.batch_size),
            max_epochs=int(self._setting("max_epochs")),
            patience=int(self._setting("patience")),
            seed=seed,
            verbose=int(self.verbose),
            description=description,
        )

    def _split(self, n_samples: int, seed: int, stratify=None):
        if not self.early_stopping:  # "auto" reads as True
            return np.arange(n_samples), None
        return split_indices(n_samples, self.validation_fraction, seed, stratify)

    def _training_sources(self, X, seed: int, device: torch.device):
        """Validate ``X`` (setting ``n_features_in_``) and split it into training and
        validation sources: in-memory tensors on ``device``, the rows of a memory-mapped
        file, or the user's re-iterable batches (no validation source)."""
        X = to_numpy(X)
        if is_batches(X):
            if iter(X) is X:
                raise ValueError("Training makes several passes over X: pass a re-iterable "
                                 "such as a torch DataLoader, not a one-pass iterator.")
            first = to_numpy(first_item(next(iter(X))))
            validate_data(self, first, reset=True, dtype=FLOAT_DTYPES)
            return IterableRows(X, device), None
        if is_memmap(X):
            X = validate_data(self, X, reset=True, dtype=FLOAT_DTYPES, ensure_all_finite=False)
            train_rows, valid_rows = self._split(len(X), seed)
            return ArrayRows(X, train_rows, device), (
                None if valid_rows is None else ArrayRows(X, valid_rows, device))
        X = check_X(self, X, reset=True)
        data = torch.tensor(X, dtype=torch.float32, device=device)
        train_rows, valid_rows = self._split(len(X), seed)
        return TensorRows(data[train_rows]), (
            None if valid_rows is None else TensorRows(data[valid_rows]))

    def _apply(self, function, X) -> np.ndarray:
        """``function(module, batch)`` over the validated ``X``; see :meth:`_run`."""
        return self._run(function, check_X(self, X, reset=False))

    def _run(self, function, array: np.ndarray) -> np.ndarray:
        """``function(module, batch)`` over a float array in batches, without gradients.

        It runs in the array's dtype (float64 input uses a float64 copy of the module, so
        results do not depend on the batch split) and returns numpy in that dtype.
        """
        array = positive_strides(array)
        module, dtype = self.module_, getattr(torch, array.dtype.name)
        if dtype != torch.float32:
            module = copy.deepcopy(module).to(dtype)
        device = next(module.parameters()).device
        with torch.no_grad():
            return map_chunks(lambda chunk: function(
                module, torch.tensor(chunk, dtype=dtype, device=device)).cpu().numpy(), array)
