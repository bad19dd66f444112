"""The fitted column-type encoder: a table in, the numbers a network reads out, and back.

Each numeric column becomes one standardized value (scikit-learn's ``StandardScaler``;
a missing cell is NaN, which the networks read as 0 and the loss leaves out), followed,
when the column had missing cells in training, by a two-slot missing indicator
``[present, missing]``. Each categorical column (strings, booleans, pandas categories,
or a column named in ``categorical_columns``) becomes a one-hot block over the levels
seen in training (scikit-learn's ``OneHotEncoder``), one slot for a level unseen in
training, and, when the column had missing cells in training, one slot for "missing"; a
missing cell of a column without that slot is an all-zero block (left out of the loss).
"""

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..persistence import SaveMixin
from .frames import as_frame, is_numeric

KINDS = ("numeric", "categorical")


@dataclass(frozen=True)
class Layout:
    """Where each original column sits in the encoded row.

    ``numeric``: encoded positions of the numeric values; ``numeric_columns``: their
    original columns. ``blocks``: ``(start, stop)`` of each softmax block (categories and
    missing indicators); ``block_columns``: their original columns. ``n_columns``: the
    original columns."""

    numeric: np.ndarray
    numeric_columns: np.ndarray
    blocks: tuple[tuple[int, int], ...]
    block_columns: np.ndarray
    n_columns: int


class TableEncoder(SaveMixin, TransformerMixin, BaseEstimator):
    """Encode a table's columns by type into numbers, and decode back to the table.

    Parameters
    ----------
    categorical_columns : list of str or None, default=None
        Columns read as categories whatever their dtype (integer codes, say). By default
        columns of numbers are numeric and all others (strings, booleans, categories)
        categorical.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        The table's columns.
    kinds_ : list of str
        ``"numeric"`` or ``"categorical"``, per column.
    categories_ : list of ndarray or None
        The levels seen in training of each categorical column (None for a numeric one).
    mean_, scale_ : ndarray of shape (n_columns,)
        Mean and standard deviation of each numeric column over its present cells (0 and 1
        for categorical ones; 1 for a constant column).
    missing_ : ndarray of bool, shape (n_columns,)
        Whether the column had missing cells in training (it then has a missing slot).
    dtypes_ : list of str
        Each column's dtype, restored by :meth:`inverse_transform` where it can be.
    n_features_in_ : int
    """

    def __init__(self, categorical_columns=None):
        self.categorical_columns = categorical_columns

    def fit(self, X, y=None) -> "TableEncoder":
        """Learn each column's type, levels, scaling and whether it has missing cells."""
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        frame = as_frame(X)
        names = [str(name) for name in frame.columns]
        forced = set(self.categorical_columns or ())
        unknown = forced - set(names)
        if unknown:
            raise ValueError(f"categorical_columns names columns the table does not have: "
                             f"{sorted(unknown)}.")
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.kinds_ = ["numeric" if is_numeric(frame[n]) and n not in forced else "categorical"
                       for n in names]
        self.dtypes_ = [str(frame[n].dtype) for n in names]
        self.missing_ = frame.isna().to_numpy().any(axis=0)
        self.mean_, self.scale_ = np.zeros(len(names)), np.ones(len(names))
        numeric = [i for i, kind in enumerate(self.kinds_) if kind == "numeric"]
        if numeric:
            scaler = StandardScaler().fit(frame.iloc[:, numeric].to_numpy(dtype=np.float64))
            self.mean_[numeric] = np.nan_to_num(scaler.mean_)
            self.scale_[numeric] = np.nan_to_num(scaler.scale_, nan=1.0)
        self.categories_ = [None] * len(names)
        for i, name in enumerate(names):
            if self.kinds_[i] == "categorical":
                present = level_values(frame[name].dropna())
                levels = OneHotEncoder().fit(present.reshape(-1, 1)).categories_[0]
                self.categories_[i] = np.asarray(levels, dtype=object)
        return self

    @property
    def layout_(self) -> Layout:
        """The encoded positions of each column (see :class:`Layout`)."""
        check_is_fitted(self, "kinds_")
        numeric, numeric_columns, blocks, block_columns, start = [], [], [], [], 0
        for i, kind in enumerate(self.kinds_):
            if kind == "numeric":
                numeric.append(start)
                numeric_columns.append(i)
                start += 1
                width = 2 if self.missing_[i] else 0
            else:
                width = len(self.categories_[i]) + 1 + int(self.missing_[i])
            if width:
                blocks.append((start, start + width))
                block_columns.append(i)
                start += width
        return Layout(np.asarray(numeric, dtype=np.int64), np.asarray(numeric_columns, np.int64),
                      tuple(blocks), np.asarray(block_columns, dtype=np.int64),
                      self.n_features_in_)

    @property
    def n_features_out_(self) -> int:
        """Width of the encoded rows."""
        layout = self.layout_
        ends = [int(p) + 1 for p in layout.numeric] + [stop for _, stop in layout.blocks]
        return max(ends, default=0)

    def transform(self, X) -> np.ndarray:
        """The encoded rows (float32; NaN for a missing numeric cell)."""
        import pandas as pd

        frame = self._checked_frame(X)
        layout, n = self.layout_, len(frame)
        encoded = np.zeros((n, self.n_features_out_), dtype=np.float32)
        rows = np.arange(n)
        blocks = dict(zip(layout.block_columns.tolist(), layout.blocks, strict=True))
        numeric = dict(zip(layout.numeric_columns.tolist(), layout.numeric.tolist(), strict=True))
        for i, name in enumerate(self.feature_names_in_):
            column = frame[name]
            missing = column.isna().to_numpy()
            if self.kinds_[i] == "numeric":
                values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
                if np.any(np.isnan(values) & ~missing):
                    raise ValueError(f"Column {name!r} was numeric in training but holds "
                                     "cells that are not numbers.")
                encoded[:, numeric[i]] = (values - self.mean_[i]) / self.scale_[i]
                if i in blocks:
                    encoded[rows, blocks[i][0] + missing] = 1
                continue
            levels = self.categories_[i]
            slot = pd.Index(levels).get_indexer(level_values(column))
            slot[slot < 0] = len(levels)
            if self.missing_[i]:
                slot[missing] = len(levels) + 1
            start = blocks[i][0]
            hot = ~missing | self.missing_[i]
            encoded[rows[hot], start + slot[hot]] = 1
        return encoded

    def inverse_transform(self, X) -> "object":
        """The table (a pandas DataFrame with the original columns) that encoded rows or
        reconstructions (logits of the category blocks) stand for: each numeric value
        unscaled, each category the most likely level seen in training."""
        import pandas as pd

        check_is_fitted(self, "kinds_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_out_:
            raise ValueError(f"Expected encoded rows of {self.n_features_out_} columns, got "
                             f"shape {X.shape}.")
        layout, columns = self.layout_, {}
        blocks = dict(zip(layout.block_columns.tolist(), layout.blocks, strict=True))
        numeric = dict(zip(layout.numeric_columns.tolist(), layout.numeric.tolist(), strict=True))
        for i, name in enumerate(self.feature_names_in_):
            if self.kinds_[i] == "numeric":
                values = X[:, numeric[i]] * self.scale_[i] + self.mean_[i]
                columns[name] = restored(values, self.dtypes_[i])
            else:
                levels = self.categories_[i]
                start = blocks[i][0]
                best = X[:, start:start + len(levels)].argmax(axis=1)
                columns[name] = restored(levels[best], self.dtypes_[i])
        return pd.DataFrame(columns)

    def _checked_frame(self, X):
        """``X`` as a DataFrame with the training columns (in training order)."""
        check_is_fitted(self, "kinds_")
        columns = list(self.feature_names_in_)
        frame = as_frame(X, columns if isinstance(X, np.ndarray) else None)
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise ValueError(f"The table lacks the training columns {missing}.")
        return frame[columns]

    def _check_loaded_state(self) -> None:
        """Raise a ValueError unless the per-column state agrees with the columns."""
        n = self.n_features_in_
        for name in ("kinds_", "categories_", "dtypes_", "mean_", "scale_", "missing_"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, the encoder "
                                 f"reads {n} columns")
        if any(kind not in KINDS for kind in self.kinds_):
            raise ValueError(f"kinds_ holds an unknown kind (not in {KINDS})")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


def level_values(column) -> np.ndarray:
    """A categorical column's cells as an object array of levels (missing cells None):
    booleans and numbers as they are when the column holds only them, strings otherwise."""
    import pandas as pd

    missing = column.isna().to_numpy()
    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in ("boolean", "integer", "floating", "mixed-integer-float", "empty"):
        values = np.asarray(column.to_numpy(dtype=object).tolist(), dtype=object)
    else:
        values = np.array(column.astype(str).to_numpy(dtype=object), dtype=object)  # a copy
    values[missing] = None
    return values


def restored(values: np.ndarray, dtype: str):
    """``values`` in the column's original dtype where they fit it (integers rounded)."""
    import pandas as pd

    try:
        if np.dtype(dtype).kind in "iu":
            return pd.Series(np.round(values.astype(np.float64))).astype(dtype)
        return pd.Series(values).astype(dtype)
    except (TypeError, ValueError):
        return pd.Series(values)
