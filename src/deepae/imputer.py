"""Imputation by reconstruction: fill a table's missing cells from its other cells.

:class:`TableImputer` fits a column-type encoder (:class:`deepae.TableEncoder`) and a few
one-hidden-layer ReLU autoencoders of the encoded rows (from different seeds), each trained
with masking noise: a random half of each row's cells is blanked (its missing cells too)
and the network is scored on rebuilding the blanked observed cells only (squared error for
numbers, cross-entropy for categories), so it learns to predict a cell from the others. A
missing cell is then filled from the row's observed cells, the networks' predictions
averaged.
"""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted
from torch import nn

from . import modules
from ._base import resolve_device, seed_from
from .data import TensorRows
from .persistence import SaveMixin
from .tabular import estimators as tables
from .tabular.loss import fill_objective, slot_columns
from .training import TrainingConfig, train

#: The fraction of the observed cells blanked in each of the ``n_draws`` fills averaged.
DRAW_MASK_FRACTION = 0.2


class TableImputer(SaveMixin, TransformerMixin, BaseEstimator):
    """Fill the missing cells of a table (numbers in their units, categories as levels).

    ``fit`` on a table with missing cells (a pandas DataFrame, a 2-D object array or an
    interchange-protocol table), then ``transform`` it (or another table of the same columns)
    to get the table back with every missing cell filled. A filled number is the network's
    prediction in the column's units; a filled category its most likely level seen in
    training. The fill averages ``n_draws`` predictions of each of ``n_models`` networks,
    each from the observed cells with a further random 20% of them blanked (as in
    training); ``n_draws=1`` reads them all.
    On the shared mixed UCI tables with 20% of the cells hidden, see the ``impute`` section
    of ``benchmarks/results.md`` for how it compares with scikit-learn's imputers.

    Parameters
    ----------
    hidden_size : int, default=256
        ReLU units of the hidden layer.
    noise_level : float, default=0.5
        Fraction of the cells blanked in each training row (masking noise).
    n_draws : int, default=10
        Predictions of each network averaged in a fill.
    n_models : int, default=5
        Networks trained from different seeds (an ensemble; the fill averages them).
    categorical_columns : list of str or None, default=None
        Columns read as categories whatever their dtype (see :class:`deepae.TableEncoder`).
    learning_rate : float, default=3e-3
        Adam's learning rate.
    batch_size : int, default=64
    max_epochs : int, default=50
        Training epochs (all of them: no early stopping).
    random_state : int, RandomState or None, default=None
        Seeds the initializations, the shuffling, the masking noise and the draws.
    device : str, default="auto"
        ``"auto"``: CUDA when available, else the CPU.

    Attributes
    ----------
    encoder_ : TableEncoder
        The fitted column-type encoder.
    module_ : torch.nn.ModuleList of deepae.modules.Autoencoder
        The ``n_models`` trained networks of the encoded rows.
    history_ : list of list of dict
        Per-epoch training loss of each network.
    seed_ : int
        The seed drawn from ``random_state``; network ``i`` is seeded with ``seed_ + i``
        (its training and the draws of every fill).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    """

    def __init__(self, hidden_size=256, noise_level=0.5, n_draws=10, n_models=5,
                 categorical_columns=None, learning_rate=3e-3, batch_size=64, max_epochs=50,
                 random_state=None, device="auto"):
        self.hidden_size = hidden_size
        self.noise_level = noise_level
        self.n_draws = n_draws
        self.n_models = n_models
        self.categorical_columns = categorical_columns
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.random_state = random_state
        self.device = device

    def fit(self, X, y=None) -> "TableImputer":
        """Train on the table ``X`` (missing cells allowed); ``y`` is ignored."""
        check_scalar(self.hidden_size, "hidden_size", numbers.Integral, min_val=1)
        check_scalar(self.noise_level, "noise_level", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="neither")
        check_scalar(self.n_draws, "n_draws", numbers.Integral, min_val=1)
        check_scalar(self.n_models, "n_models", numbers.Integral, min_val=1)
        seed, device = seed_from(self.random_state), resolve_device(self.device)
        data = torch.tensor(tables.fit_encoder(self, X, self.categorical_columns),
                            device=device)
        missing = self.encoder_._checked_frame(X).isna().to_numpy()
        rows = TensorRows(data, torch.as_tensor(missing, device=device))
        objective = fill_objective(self.encoder_.layout_, float(self.noise_level))
        self.module_ = self._new_module().to(device)
        self.history_ = []
        for i, network in enumerate(self.module_):
            network.reset_parameters(torch.Generator().manual_seed(seed + i))
            config = TrainingConfig(learning_rate=float(self.learning_rate),
                                    batch_size=int(self.batch_size),
                                    max_epochs=int(self.max_epochs), seed=seed + i,
                                    description=type(self).__name__)
            self.history_.append(train(network, objective, rows, config))
        self.seed_ = seed
        return self

    def _new_module(self) -> nn.ModuleList:
        """Untrained networks of this estimator's architecture (needs ``encoder_``)."""
        return nn.ModuleList(
            modules.Autoencoder(self.encoder_.n_features_out_, int(self.hidden_size), "relu",
                                False, "linear", True)
            for _ in range(int(self.n_models)))

    def transform(self, X):
        """``X`` as a DataFrame with its missing cells filled (observed cells unchanged)."""
        check_is_fitted(self, "module_")
        frame = self.encoder_._checked_frame(X)
        holes = frame.isna().to_numpy()
        predicted = self.encoder_.inverse_transform(self._predict(frame, holes))
        filled = frame.copy()
        for j, name in enumerate(frame.columns):
            if holes[:, j].any():
                column = filled[name].astype(object)
                column[holes[:, j]] = predicted[name].to_numpy(dtype=object)[holes[:, j]]
                filled[name] = column.infer_objects()
        return filled

    def _predict(self, frame, holes: np.ndarray) -> np.ndarray:
        """The mean of ``n_draws`` predictions of each network of every encoded position
        (each block's probabilities), each read from the observed cells less a random 20%
        of them."""
        layout = self.encoder_.layout_
        device = next(self.module_.parameters()).device
        slots = torch.as_tensor(slot_columns(layout), device=device)
        inputs = torch.tensor(np.nan_to_num(self.encoder_.transform(frame)), device=device)
        inputs = inputs.masked_fill(torch.as_tensor(holes, device=device)[:, slots], 0)
        total = torch.zeros_like(inputs)
        with torch.no_grad():
            for i, network in enumerate(self.module_):
                generator = torch.Generator(device).manual_seed(self.seed_ + i)
                for _ in range(int(self.n_draws)):
                    blanked = inputs
                    if self.n_draws > 1:
                        cells = torch.rand(len(inputs), layout.n_columns, generator=generator,
                                           device=device) < DRAW_MASK_FRACTION
                        blanked = inputs.masked_fill(cells[:, slots], 0)
                    output = network(blanked)
                    for start, stop in layout.blocks:
                        output[:, start:stop] = output[:, start:stop].softmax(dim=1)
                    total += output
        return (total / (int(self.n_draws) * len(self.module_))).cpu().numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = False
        return tags

