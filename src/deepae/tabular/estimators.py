"""The table path of the gradient-trained estimators: fit the encoder, encode, decode.

An estimator fitted on a table (:func:`is_table`) keeps a fitted :class:`TableEncoder` in
``encoder_``; its network reads the encoded rows (missing numeric cells as 0) and is
trained with the per-column-type loss (:mod:`.loss`); every later input is encoded by it,
and reconstructions are decoded back to the table's columns.
"""

import numpy as np
import torch

from .encoder import TableEncoder
from .frames import is_table
from .loss import column_losses


def fit_encoder(estimator, X, categorical_columns=None) -> np.ndarray:
    """Fit ``estimator.encoder_`` on the table ``X``, set ``n_features_in_`` and
    ``feature_names_in_`` (the table's columns), and return the encoded rows."""
    estimator.encoder_ = TableEncoder(categorical_columns).fit(X)
    estimator.n_features_in_ = estimator.encoder_.n_features_in_
    estimator.feature_names_in_ = estimator.encoder_.feature_names_in_
    return estimator.encoder_.transform(X)


def drop_encoder(estimator) -> None:
    """Forget a table encoder of an earlier fit (the estimator is fitted on numbers now)."""
    for name in ("encoder_", "feature_names_in_"):
        if name in vars(estimator):
            delattr(estimator, name)


def has_encoder(estimator) -> bool:
    """Whether the estimator was fitted on a table."""
    return getattr(estimator, "encoder_", None) is not None


def encoded_inputs(estimator, X) -> np.ndarray:
    """``X`` encoded by the estimator's encoder, missing numeric cells as 0 (network input)."""
    return np.nan_to_num(estimator.encoder_.transform(X))


def table_numbers(estimator, X, reset: bool):
    """``X`` as the numbers a network reads. With ``reset`` (a fit): a table
    (:func:`is_table`) fits ``estimator.encoder_`` (its ``categorical_columns``, if it has
    that parameter) and comes back encoded, missing cells as 0; other data come back as they
    are and forget an earlier encoder. Without: encoded by the fitted encoder, if any."""
    if reset:
        if is_table(X):
            estimator.encoder_ = TableEncoder(getattr(estimator, "categorical_columns", None))
            return np.nan_to_num(estimator.encoder_.fit(X).transform(X))
        drop_encoder(estimator)
        return X
    return encoded_inputs(estimator, X) if has_encoder(estimator) else X


def decoded(estimator, rows: np.ndarray):
    """Reconstructed rows as the table they stand for (:meth:`TableEncoder.inverse_transform`)
    when the estimator was fitted on a table; ``rows`` otherwise."""
    return estimator.encoder_.inverse_transform(rows) if has_encoder(estimator) else rows


def table_errors(estimator, X) -> tuple[np.ndarray, np.ndarray]:
    """Per-row, per-column reconstruction losses of the table ``X`` (shape
    ``(n_rows, n_columns)``) and the rows' codes, from the estimator's ``module_``."""
    target = estimator.encoder_.transform(X)
    codes = estimator._run(lambda m, x: m.encode(x), np.nan_to_num(target))
    logits = estimator._run(lambda m, z: m.decode_logits(z), codes)
    errors = column_losses(torch.from_numpy(logits), torch.from_numpy(target),
                           estimator.encoder_.layout_)
    return errors.numpy(), codes

