"""Reading and writing the data files of the command line and the report.

``read_data`` reads ``.npy`` (memory-mapped), ``.npz`` (one array by name, or the sparse matrix
of a ``scipy.sparse.save_npz`` file) and ``.csv`` files
(a first row that is not numeric is a header; a named column can be the target) into a
feature matrix, the target and the column names; a CSV file with strings or missing cells,
a ``.csv.gz`` and a ``.parquet`` file (through pyarrow) are read by pandas into a table
(:func:`read_table`) that the estimators encode by column type; ``read_series`` reads a series
(a CSV may hold a time column); ``write_output`` writes results as ``.npy`` or CSV. Every
problem with a file is a one-line ``ValueError`` (or ``OSError``) naming it.
"""

import csv
import importlib.util
import os
import sys

import numpy as np

#: The data files ``read_data`` reads, and the output files ``write_output`` writes.
DATA_SUFFIXES = (".npy", ".npz", ".csv", ".csv.gz", ".parquet")
#: The cells a table reads as missing.
MISSING_CELLS = ("", "NA", "N/A", "NaN", "nan", "?", "null", "None")
OUTPUT_SUFFIXES = (".npy", ".csv")

def check_output_path(path: str, suffixes: tuple[str, ...], what: str) -> None:
    suffix = os.path.splitext(path)[1].lower()
    if suffixes and suffix not in suffixes:
        raise ValueError(f"{what} {path!r} must end with {' or '.join(suffixes)}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot write {path}: no such directory {directory}")


class NotNumbers(ValueError):
    """A CSV cell that is not a number (the file is a table, not a matrix)."""


def data_suffix(path: str) -> str:
    """The file's type: ``.csv.gz`` or its last suffix, lower case."""
    lower = path.lower()
    return ".csv.gz" if lower.endswith(".csv.gz") else os.path.splitext(lower)[1]


def read_data(path: str, key: str | None = None, target: str | None = None,
              categorical: list[str] | None = None):
    """``(X, y, column_names)`` from a ``.npy``, ``.npz``, ``.csv``, ``.csv.gz`` or
    ``.parquet`` file.

    ``y`` is the ``target`` column (None without one) and ``column_names`` the CSV header
    of the feature columns (None without one). A CSV file of numbers gives a float matrix;
    one with strings or missing cells, and the other table files, a pandas DataFrame
    (:func:`read_table`; ``categorical`` names columns read as categories).
    """
    suffix = data_suffix(path)
    if suffix not in DATA_SUFFIXES:
        raise ValueError(f"{path}: unsupported data file type {suffix or '(none)'!r}; "
                         "use .npy, .npz, .csv, .csv.gz or .parquet")
    if not os.path.exists(path):
        raise FileNotFoundError(2, "No such file or directory", path)
    if key is not None and suffix != ".npz":
        raise ValueError("--key applies to .npz files only")
    if suffix == ".csv" and not categorical:
        try:
            return read_csv(path, target)
        except NotNumbers as error:
            if importlib.util.find_spec("pandas") is None:
                raise ValueError(f"{error}; reading strings or missing cells needs pandas "
                                 "(pip install 'deepae[tables]')") from None
    if suffix in (".csv", ".csv.gz", ".parquet"):
        return read_table(path, target, categorical)
    try:
        if suffix == ".npy":
            array, y = np.load(path, mmap_mode="r", allow_pickle=False), None
        else:
            array, y = read_npz(path, key, target)
            if y is not None:
                target = None
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read it as {suffix}: {error}") from None
    if scipy_sparse(array):
        return array, y, None
    if array.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (samples × features), "
                         f"got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers, got an array of dtype {array.dtype}")
    if target is not None:
        column = column_index(target, array.shape[1], None, path)
        y = np.asarray(array[:, column])
        array = np.delete(array, column, axis=1)
    return array, y, None


def scipy_sparse(array) -> bool:
    """Whether ``array`` is a ``scipy.sparse`` matrix (without importing scipy)."""
    return type(array).__module__.startswith("scipy.sparse")


def read_npz(path: str, key: str | None, target: str | None):
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if key is None and {"format", "shape", "indptr", "indices", "data"} <= set(names):
            import scipy.sparse  # a scipy.sparse.save_npz file: the matrix, kept sparse

            return scipy.sparse.load_npz(path), None
        if key is None:
            candidates = [n for n in names if n != target]
            if len(candidates) == 1:
                key = candidates[0]
            elif "X" in names:
                key = "X"
            else:
                raise ValueError(f"{path} holds the arrays {', '.join(names) or '(none)'}; "
                                 "choose one with --key")
        if key not in names:
            raise ValueError(f"{path} has no array {key!r} (it has {', '.join(names)})")
        y = archive[target] if target is not None and target in names else None
        return archive[key], y


def column_index(target: str, n_columns: int, header: list[str] | None, path: str) -> int:
    if header is not None and target in header:
        return header.index(target)
    try:
        index = int(target)
    except ValueError:
        where = "its header" if header is not None else "no header"
        raise ValueError(f"{path}: no column {target!r} ({where})") from None
    if not -n_columns <= index < n_columns:
        raise ValueError(f"{path}: column index {index} out of range ({n_columns} columns)")
    return index % n_columns


def _parses(text: str, convert=float) -> bool:
    """Whether ``convert(text)`` succeeds (a number, or an int with ``convert=int``)."""
    try:
        convert(text)
    except ValueError:
        return False
    return True


def read_csv(path: str, target: str | None):
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            sample = file.read(65536)
            file.seek(0)
            delimiter = max(",;\t", key=sample.split("\n", 1)[0].count)
            rows = [(n, row) for n, row in enumerate(csv.reader(file, delimiter=delimiter), 1)
                    if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from None
    if not rows:
        raise ValueError(f"{path}: the CSV file is empty")
    width = len(rows[0][1])
    for n, row in rows:
        if len(row) != width:
            raise ValueError(f"{path} line {n}: {len(row)} columns where the first row has "
                             f"{width}")
    first = [cell.strip() for cell in rows[0][1]]
    column = None
    if target is not None and not _parses(target, int):
        header = first  # a column name needs a header
        if target not in header:
            raise ValueError(f"{path}: no column {target!r} in the header "
                             f"({', '.join(header)})")
    else:
        if target is not None:
            column = column_index(target, width, None, path)
        features = [c for i, c in enumerate(first) if i != column]
        header = None
        if not all(_parses(c) for c in features):
            header = first
        elif column is not None and not _parses(first[column]) and len(rows) > 1 and all(
                _parses(row[column]) for _, row in rows[1:]):
            header = first
    if target is not None:
        column = column_index(target, width, header, path)
    body = rows[1:] if header is not None else rows
    if not body:
        raise ValueError(f"{path}: no data rows")
    names = header if header is not None else [str(i) for i in range(width)]
    keep = [i for i in range(width) if i != column]
    try:
        X = np.array([[row[i] for i in keep] for _, row in body], dtype=np.float64)
    except ValueError:
        for n, row in body:
            for i in keep:
                if not _parses(row[i]):
                    cell = row[i].strip()
                    what = repr(cell) if cell else "an empty cell"
                    hint = ""
                    if not any(_parses(other[i]) for _, other in body):
                        hint = " (if it holds labels, name it with --target)"
                    raise NotNumbers(f"{path} line {n}, column {names[i]!r}: {what} is not a "
                                     f"number{hint}") from None
        raise
    y = None
    if column is not None:
        labels = [row[column].strip() for _, row in body]
        if all(_parses(v, int) for v in labels):
            y = np.array([int(v) for v in labels])
        elif all(_parses(v) for v in labels):
            y = np.array([float(v) for v in labels])
        else:
            y = np.array(labels)
    return X, y, [header[i] for i in keep] if header is not None else None


def read_table(path: str, target: str | None, categorical: list[str] | None = None):
    """``(table, y, column_names)``: a CSV (``.csv``, ``.csv.gz``) or Parquet file as a pandas
    DataFrame of its feature columns, the cells of :data:`MISSING_CELLS` missing; the
    ``categorical`` columns are read as strings (categories) whatever they hold."""
    try:
        import pandas as pd
    except ImportError:
        raise ValueError(f"{path}: reading it needs pandas (pip install 'deepae[tables]')"
                         ) from None
    try:
        if path.lower().endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=None, engine="python", na_values=MISSING_CELLS,
                                keep_default_na=False, skipinitialspace=True)
    except ImportError as error:
        raise ValueError(f"{path}: {str(error).splitlines()[0]}") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(f"{path}: not a readable table ({str(error).splitlines()[0]})"
                         ) from None
    frame.columns = [str(name).strip() for name in frame.columns]
    y = None
    if target is not None:
        column = column_index(target, frame.shape[1], list(frame.columns), path)
        y = frame.pop(frame.columns[column]).to_numpy()
    for name in categorical or ():
        if name not in frame.columns:
            raise ValueError(f"{path}: no column {name!r} to read as categorical "
                             f"({', '.join(frame.columns)})")
        frame[name] = frame[name].astype("string").astype(object)
    if frame.empty:
        raise ValueError(f"{path}: no data rows")
    return frame, y, list(frame.columns)


def why_not_numbers(table, path: str, labels: bool = True) -> str:
    """Why a table read by :func:`read_table` is not a matrix of numbers: its first column
    with a cell that is not a number, or with a missing cell (``labels``: hint that a column
    of text may be the labels)."""
    import pandas as pd

    for name in table.columns:
        column = table[name]
        numbers = pd.to_numeric(column, errors="coerce")
        text = column[numbers.isna() & column.notna()]
        if len(text):
            hint = (" (if it holds labels, name it with --target)"
                    if labels and numbers.isna().all() else "")
            return f"{path}: column {name!r}: {str(text.iloc[0])!r} is not a number{hint}"
        if column.isna().any():
            return f"{path}: column {name!r} has missing cells"
    return f"{path}: not a matrix of numbers"


#: Header names (any case) of a CSV's time column.
TIME_COLUMNS = ("time", "timestamp", "date", "datetime")


def time_column(path: str) -> str | None:
    """The time column of a CSV series (its header name, or ``"0"``; see :func:`time_index`),
    read from the file's first two lines; else None."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        lines = [line for line in (file.readline(), file.readline()) if line.strip()]
    if not lines:
        return None
    delimiter = max(",;\t", key=lines[0].count)
    rows = [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]
    header = rows[0] if is_header(rows[0]) else None
    index = time_index(header, rows[-1])
    return None if index is None else header[index] if header else "0"


def is_header(cells: list[str]) -> bool:
    """Whether a CSV's first row is a header: not all numbers (past its first cell, which may
    be a time)."""
    return not all(map(_parses, cells[1:] or cells))


def time_index(header: list[str] | None, row: list[str]) -> int | None:
    """The index of a series' time column, from its header (None without one) and a data
    ``row``: a column named in :data:`TIME_COLUMNS`, or a first column that is not a number
    beside others; else None."""
    named = [i for i, cell in enumerate(header or ()) if cell.lower() in TIME_COLUMNS]
    if named:
        return named[0]
    return 0 if len(row) > 1 and not _parses(row[0]) else None


def read_series(path: str, key: str | None = None):
    """``(X, times, column_names)`` of a series file, one row per time step: a CSV's time
    column (see :func:`time_column`) is left out of ``X`` and returned as strings
    (``times``, else None), as is a table's (``.csv.gz``, ``.parquet``: see
    :func:`series_of_table`); ``.npy`` and ``.npz`` files as :func:`read_data` reads them."""
    if data_suffix(path) == ".csv" and os.path.exists(path):
        column = time_column(path)
        if column is not None:
            try:
                X, times, names = read_csv(path, column)
                return X, np.asarray(times).astype(str), names
            except NotNumbers:  # missing cells or text beside the time: said below
                pass
    X, _, names = read_data(path, key=key)
    if not isinstance(X, np.ndarray) and not scipy_sparse(X):
        return series_of_table(X, path)
    return X, None, names


def series_of_table(frame, path: str):
    """``(X, times, column_names)`` of a table read as a series: its time column (of
    datetimes, named in :data:`TIME_COLUMNS`, or a first column that is not numbers) left
    out and returned as strings; every other column must be numbers without missing cells."""
    import pandas as pd

    numbers = frame.apply(pd.to_numeric, errors="coerce")
    times = [name for name in frame.columns
             if pd.api.types.is_datetime64_any_dtype(frame[name]) or name.lower() in TIME_COLUMNS]
    if not times and frame.shape[1] > 1 and numbers[frame.columns[0]].isna().all():
        times = [frame.columns[0]]
    stamps = frame[times[0]].astype(str).to_numpy() if times else None
    if times:
        frame, numbers = frame.drop(columns=times[0]), numbers.drop(columns=times[0])
    if numbers.isna().to_numpy().any() or frame.empty:
        raise ValueError(f"{why_not_numbers(frame, path, labels=False)}; a series takes numbers "
                         "only, beside one time column")
    return numbers.to_numpy(np.float64), stamps, list(frame.columns)


def stream_rows(file):
    """The rows of a CSV stream (standard input, a growing file) as they arrive, as
    ``(time, values)``: ``time`` the cell of its time column (see :func:`time_index`), else
    None. A first row that :func:`is_header` is the header; blank lines are skipped."""
    header, index = None, -1  # -1: the time column is not known yet
    for line, row in enumerate(csv.reader(file), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if index == -1 and header is None and is_header(cells):
            header = cells
            continue
        if index == -1:
            index = time_index(header, cells)
        values = [cell for i, cell in enumerate(cells) if i != index]
        if not all(map(_parses, values)):
            raise ValueError(f"line {line}: expected numbers, got {','.join(row)!r}")
        yield (None if index is None else cells[index]), [float(v) for v in values]


def write_output(array: np.ndarray, path: str | None, header: list[str]) -> None:
    """Write ``array`` to a ``.npy`` or ``.csv`` file, or as CSV to standard output."""
    if path is not None and path.lower().endswith(".npy"):
        np.save(path, array, allow_pickle=False)
        return
    table = array.reshape(len(array), -1)
    text = table.astype(str)  # shortest round-trip repr of floats
    if path is None:
        write_csv(sys.stdout, header, text)
        return
    with open(path, "w", newline="", encoding="utf-8") as file:
        write_csv(file, header, text)


def write_csv(file, header: list[str], table: np.ndarray) -> None:
    writer = csv.writer(file, lineterminator="\n")
    if len(header) == table.shape[1]:
        writer.writerow(header)
    writer.writerows(table.tolist())
