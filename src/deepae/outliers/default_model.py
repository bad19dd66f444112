"""The model that ``ReconstructionOutlierDetector(model=None)`` fits, and its ensemble seeds.

Tabular data get a short-trained ReLU autoencoder with a trimmed loss (five of them by
default, one for a table with strings or missing cells); flattened images a tied ReLU
autoencoder. What was measured to choose them is in ``benchmarks/results.md`` (the
detector's design notes).
"""

import numbers

import numpy as np
from sklearn.base import clone

from .. import distributed
from ..autoencoder import Autoencoder
from .data_kind import is_tabular

#: The trimmed loss of the tabular default model (fraction of each batch left out).
DEFAULT_TRIM_FRACTION = 0.2
#: The tabular default model has ``n_features // TABULAR_CODE_DIVISOR`` hidden units (2 to 64).
TABULAR_CODE_DIVISOR = 3
#: The tabular default model trains for about this many mini-batch steps (at least 5 epochs).
TABULAR_STEPS = 100
#: How many autoencoders ``n_models="auto"`` fits for the default model on tabular data.
TABULAR_MODELS = 5
#: The neighbour term of the default detector on tabular data: the distance to the
#: ``TABULAR_NEIGHBORS``-th nearest training row (``n_neighbors="auto"``).
TABULAR_NEIGHBORS = 5
#: The default model of a table with strings or missing cells (trained with the loss per
#: column type) takes about this many steps at this learning rate: on the shared mixed
#: tables 100 steps at 3e-3 left its cross-entropy terms far from trained (see
#: ``benchmarks/results.md``, section mixed).
TABLE_STEPS = 300
TABLE_LEARNING_RATE = 1e-2
#: How many models ``n_models="auto"`` fits for a table: on the shared mixed tables one model
#: scored as well as five (mean ROC-AUC 0.742 vs 0.729; ``benchmarks/results.md``, section
#: mixed-notes) in a fifth of the time.
TABLE_MODELS = 1


def epochs_for(n_samples: int, batch_size: int, steps: int, low: int, high: int) -> int:
    """Epochs giving about ``steps`` mini-batch steps, between ``low`` and ``high``."""
    batches_per_epoch = max(1, -(-n_samples // batch_size))
    return int(np.clip(-(-steps // batches_per_epoch), low, high))


def default_model(X: np.ndarray, random_state: int | None = 0,
                  tabular: bool | None = None) -> Autoencoder:
    """The model that ``model=None`` stands for, given the (scaled) training data ``X``.

    Tabular data (:func:`is_tabular`: at most :data:`TABULAR_MAX_FEATURES` columns, or wider
    data without a pixel grid): a ``d → max(2, d // 3) → d`` autoencoder (at most 64 units)
    with ReLU units, a free decoder and a linear output, trained with squared error and a
    trimmed loss (each batch leaves out its 20% worst-rebuilt rows, so the outliers hidden in
    the training data are not learned) by Adam (learning rate 3e-3, batches of 64) for about
    :data:`TABULAR_STEPS` (100) steps, at least 5 epochs; the detector fits
    :data:`TABULAR_MODELS` of them (``n_models="auto"``). The code size
    (:data:`TABULAR_CODE_DIVISOR`): on ADBench's classical sets (a single model of 300 steps,
    the detector's defaults otherwise) ``d // 3`` units scored a mean ROC-AUC of 0.819, 0.811
    and 0.811 with the model's seeds 0, 1, 2, ``d // 4`` units 0.814, 0.806 and 0.811;
    ``d // 2`` and ``d // 6`` scored lower at seed 0.

    Images: a tied ``d → min(64, d // 2) → d`` ReLU autoencoder trained with
    Adam (learning rate 2e-3, batches of 32) for about 200 steps; data in ``[0, 1]`` gets a
    sigmoid output trained with binary cross-entropy, any other data a linear output and
    squared error. Both are trained on all of ``X`` (no early stopping).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or DataFrame
        The validated training data (this rank's shard under a process group); a table
        with strings or missing cells gets :func:`table_model`.
    random_state : int or None, default=0
        The model's seed.
    tabular : bool or None, default=None
        Whether the data are tabular (as the detector decided on its unscaled data);
        ``None``: :func:`is_tabular` of ``X``.

    Returns
    -------
    model : Autoencoder
        Unfitted.
    """
    n_samples = int(distributed.all_reduce(np.array([len(X)]))[0])
    n_features = X.shape[1]
    if not isinstance(X, np.ndarray):
        return table_model(n_samples, n_features, random_state)
    if is_tabular(X) if tabular is None else tabular:
        return Autoencoder(
            hidden_size=max(2, min(64, n_features // TABULAR_CODE_DIVISOR)), activation="relu",
            tied=False, trim_fraction=DEFAULT_TRIM_FRACTION, learning_rate=3e-3, batch_size=64,
            max_epochs=epochs_for(n_samples, 64, steps=TABULAR_STEPS, low=5, high=300),
            early_stopping=False, random_state=random_state,
        )
    low, high = distributed.all_reduce(X.min(), "min"), distributed.all_reduce(X.max(), "max")
    in_unit_interval = low >= 0 and high <= 1
    return Autoencoder(
        hidden_size=max(1, min(64, n_features // 2)),
        activation="relu",
        output_activation="sigmoid" if in_unit_interval else "linear",
        loss="binary_cross_entropy" if in_unit_interval else "squared_error",
        learning_rate=2e-3,
        batch_size=32,
        max_epochs=epochs_for(n_samples, 32, steps=200, low=10, high=200),
        early_stopping=False,
        random_state=random_state,
    )


def table_model(n_samples: int, n_columns: int, random_state: int | None) -> Autoencoder:
    """The default model of a table (a DataFrame the model encodes by column type): the
    tabular default (``n_columns // 3`` ReLU units, trimmed loss) trained for about
    :data:`TABLE_STEPS` steps (at least one epoch) at learning rate
    :data:`TABLE_LEARNING_RATE`; the detector fits :data:`TABLE_MODELS` of them."""
    return Autoencoder(
        hidden_size=max(2, min(64, n_columns // TABULAR_CODE_DIVISOR)), activation="relu",
        tied=False, trim_fraction=DEFAULT_TRIM_FRACTION, learning_rate=TABLE_LEARNING_RATE,
        batch_size=64, max_epochs=epochs_for(n_samples, 64, steps=TABLE_STEPS, low=1, high=300),
        early_stopping=False, random_state=random_state,
    )


def reseeded(model, offset: int):
    """An unfitted clone of ``model`` whose integer ``random_state`` is moved by ``offset``
    (another member of an ensemble); a plain clone for a model without an integer seed."""
    copy = clone(model)
    seed = copy.get_params().get("random_state")
    if offset and isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        copy.set_params(random_state=int(seed) + offset)
    return copy
