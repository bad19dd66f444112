"""Which inputs are tables, and reading them as pandas DataFrames.

A table is a pandas DataFrame, a 2-D numpy array of dtype object, or an object with the
DataFrame interchange protocol (``__dataframe__``: Polars, PyArrow), that holds a column
which is not a number (strings, booleans, categories) or a missing cell. Tables of finite
numbers only stay on the numeric path of every estimator, unchanged.
"""

import numpy as np

#: Column dtype kinds read as numbers (booleans are categories of two levels).
NUMERIC_KINDS = "iuf"


def is_table(X) -> bool:
    """Whether ``X`` takes the table path: a DataFrame-like input or a 2-D object array with
    a column that is not numeric or a missing cell."""
    if isinstance(X, np.ndarray) and X.dtype.kind != "O" or not isinstance(X, np.ndarray) and not (
            hasattr(X, "__dataframe__") or type(X).__module__.startswith("pandas")):
        return False
    frame = as_frame(X)
    numeric = all(is_numeric(frame[name]) for name in frame.columns)
    return not numeric or bool(frame.isna().to_numpy().any())


def is_numeric(column) -> bool:
    """Whether a pandas column holds numbers (not booleans)."""
    import pandas as pd

    return (pd.api.types.is_numeric_dtype(column.dtype)
            and not pd.api.types.is_bool_dtype(column.dtype))


def as_frame(X, columns=None):
    """``X`` as a pandas DataFrame: DataFrames as they are, interchange-protocol tables
    converted, arrays with columns ``x0, x1, ...`` (or ``columns``), their object columns
    whose cells are all numbers (or missing) as float columns."""
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError("Tables with strings or missing cells need pandas: "
                          "pip install 'deepae[tables]'.") from error
    if isinstance(X, pd.DataFrame):
        frame = X
    elif hasattr(X, "__dataframe__") and not isinstance(X, np.ndarray):
        frame = pd.api.interchange.from_dataframe(X)
    else:
        array = np.asarray(X, dtype=object)
        if array.ndim != 2:
            raise ValueError(f"Expected a 2-D table, got an array of shape {array.shape}.")
        names = columns if columns is not None else [f"x{i}" for i in range(array.shape[1])]
        frame = pd.DataFrame(array, columns=list(names))
        return numbers_read(frame.rename(columns=str))
    return frame.rename(columns=str)


def numbers_read(frame):
    """``frame`` with each object column whose cells are all numbers (or missing) as floats."""
    import pandas as pd

    converted = {}
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            numbers = pd.to_numeric(column, errors="coerce")
            if not is_bool_cells(column) and numbers.isna().equals(column.isna()):
                converted[name] = numbers.astype(float)
    return frame.assign(**converted) if converted else frame


def is_bool_cells(column) -> bool:
    """Whether every present cell of an object column is a bool."""
    present = column.dropna()
    return len(present) > 0 and all(isinstance(v, (bool, np.bool_)) for v in present)
