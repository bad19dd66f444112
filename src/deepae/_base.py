"""Plumbing shared by the gradient-trained estimators: parameters, devices, seeds, batching."""

import copy
import numbers

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, check_scalar

from ._validation import check_option, check_X
from .linalg import iter_chunks
from .training import OPTIMIZERS, TrainingConfig

PREDICT_BATCH_ROWS = 4096


def resolve_device(device) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; anything else must name a torch device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"Unknown device={device!r}; use 'auto', 'cpu' or 'cuda'.") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but CUDA is not available.")
    return resolved


def seed_from(random_state) -> int:
    """An integer seed from scikit-learn's ``random_state`` convention."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def split_indices(
    n_samples: int, fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation row indices; no validation set when there are too few rows."""
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
        check_scalar(self.learning_rate, "learning_rate", numbers.Real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.max_epochs, "max_epochs", numbers.Integral, min_val=1)
        check_scalar(self.patience, "patience", numbers.Integral, min_val=1)
        check_scalar(self.validation_fraction, "validation_fraction", numbers.Real,
                     min_val=0, max_val=1, include_boundaries="neither")
        check_scalar(self.verbose, "verbose", numbers.Integral)
        resolve_device(self.device)

    def _training_config(self, seed: int, description: str) -> TrainingConfig:
        return TrainingConfig(
            optimizer=self.optimizer,
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            seed=seed,
            verbose=int(self.verbose),
            description=description,
        )

    def _split(self, n_samples: int, seed: int, stratify=None):
        if not self.early_stopping:
            return np.arange(n_samples), None
        return split_indices(n_samples, self.validation_fraction, seed, stratify)

    def _apply(self, function, X) -> np.ndarray:
        """``function(module, batch)`` over the validated ``X``; see :meth:`_run`."""
        return self._run(function, check_X(self, X, reset=False))

    def _run(self, function, array: np.ndarray) -> np.ndarray:
        """``function(module, batch)`` over a float array in batches, without gradients.

        It runs in the array's dtype (float64 input uses a float64 copy of the module, so
        results do not depend on the batch split) and returns numpy in that dtype.
        """
        module, dtype = self.module_, getattr(torch, array.dtype.name)
        if dtype != torch.float32:
            module = copy.deepcopy(module).to(dtype)
        device = next(module.parameters()).device
        outputs = []
        with torch.no_grad():
            for chunk in iter_chunks(array, PREDICT_BATCH_ROWS):
                batch = torch.tensor(chunk, dtype=dtype, device=device)
                outputs.append(function(module, batch).cpu().numpy())
        return np.concatenate(outputs)
