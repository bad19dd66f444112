"""PCA on wide and high-dimensional data: deepae's default solver against every scikit-learn
solver, side by side (time and accuracy), and a 20,000 × 65,536 memory-mapped fit.

Data: float32, a rank-50 signal (standard deviations ``10 · 0.95^i`` along random directions)
plus unit noise, fixed seed; ``k = 30``. Each fitter runs on the same array in the same run, on
one thread, in interleaved rounds (best of 5; of 1 when a fit takes over 5 s). Accuracy
against a float64 reference (the top 30 eigenpairs of the covariance of the same float32
numbers, computed in float64): the largest principal angle between the fitted and the exact
30-dimensional subspaces, and the largest relative error of the 30 ``explained_variance_``.
The memory-mapped case runs in a fresh process whose peak resident memory (``VmHWM``) is
reported; its file is written once under ``benchmarks/data/`` (git-ignored).
"""

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch
from sklearn.decomposition import PCA as SklearnPCA
from threadpoolctl import threadpool_limits

from deepae import PCA
from deepae.solvers import choose_solver

K, RANK = 30, 50
ROUNDS = 5
SOLVERS = ["auto", "randomized", "full", "covariance_eigh"]
SHAPES = [(400, 784), (20_000, 2_048), (10_000, 4_096), (2_000, 8_192), (200_000, 256)]
SLOW = {(2_000, 8_192): ["covariance_eigh"]}  # sklearn's d × d float32 path: ~1 minute
WIDE_FILE = Path(__file__).resolve().parent / "data" / "wide.npy"
WIDE_SHAPE = (20_000, 65_536)


def make_rows(rng: np.random.Generator, n: int, d: int, basis: np.ndarray) -> np.ndarray:
    """``n`` float32 rows of signal along ``basis`` (``RANK × d``) plus unit noise."""
    scales = (10.0 * 0.95 ** np.arange(RANK)).astype(np.float32)
    X = rng.standard_normal((n, d), dtype=np.float32)
    X += (rng.standard_normal((n, RANK), dtype=np.float32) * scales) @ basis
    return X


def make_data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((RANK, d), dtype=np.float32) / np.float32(np.sqrt(d))
    return make_rows(rng, n, d, basis)


def reference(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 top-K variances and directions (rows) of the float32 numbers of ``X``."""
    n, d = X.shape
    A = X.astype(np.float64)
    A -= A.mean(axis=0)
    if n < d:
        values, U = scipy.linalg.eigh(A @ A.T, subset_by_index=[n - K, n - 1])
        vectors = (U.T @ A) / np.sqrt(values)[:, None]
    else:
        values, V = scipy.linalg.eigh(A.T @ A, subset_by_index=[d - K, d - 1])
        vectors = V.T
    return values[::-1] / (n - 1), vectors[::-1]


def best_seconds(fitters: dict) -> dict[str, tuple[float, object]]:
    """Best wall time of each fitter over ``ROUNDS`` rounds that run them all in turn (a
    fitter whose first fit takes over 5 s runs once), and its last model."""
    times, models = {name: [] for name in fitters}, {}
    for round_ in range(ROUNDS):
        for name, fit in fitters.items():
            if round_ == 0 or times[name][0] < 5.0:
                start = time.perf_counter()
                models[name] = fit()
                times[name].append(time.perf_counter() - start)
    return {name: (min(times[name]), models[name]) for name in fitters}


def measure(X: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """Seconds, largest principal angle (degrees) and largest relative variance error of
    every fitter on ``X``."""
    variances, directions = reference(X)
    fitters = {"deepae": lambda: PCA(K, random_state=0).fit(X)}
    for solver in SOLVERS:
        if solver not in SLOW.get(X.shape, []):
            fitters[solver] = lambda solver=solver: SklearnPCA(
                K, svd_solver=solver, random_state=0).fit(X)
    results = {}
    for name, (seconds, model) in best_seconds(fitters).items():
        angle = np.degrees(scipy.linalg.subspace_angles(model.components_.T, directions.T).max())
        error = np.abs(model.explained_variance_ / variances - 1).max()
        results[name] = seconds, float(angle), float(error)
    return results


def floor_seconds(X: np.ndarray) -> float:
    """Best wall time of a bare ``X.T @ X`` (numpy calls one BLAS ``syrk``): what one exact
    pass of the covariance solver cannot go below."""
    return best_seconds({"floor": lambda: X.T @ X})["floor"][0]


# --- the memory-mapped case, in its own process -------------------------------------------


def make_wide_file() -> None:
    """The 5.2 GB float32 file, written in blocks (kept between runs)."""
    if WIDE_FILE.exists() and np.load(WIDE_FILE, mmap_mode="r").shape == WIDE_SHAPE:
        return
    WIDE_FILE.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    n, d = WIDE_SHAPE
    basis = rng.standard_normal((RANK, d), dtype=np.float32) / np.float32(np.sqrt(d))
    X = np.lib.format.open_memmap(WIDE_FILE, mode="w+", dtype=np.float32, shape=WIDE_SHAPE)
    for start in range(0, n, 1000):
        X[start : start + 1000] = make_rows(rng, min(1000, n - start), d, basis)
    X.flush()
    del X


def fit_wide() -> dict:
    """``PCA(30)`` of the memory-mapped file: seconds, peak RSS (MiB) and the solver used."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_scale import peak_megabytes

    X = np.load(WIDE_FILE, mmap_mode="r")
    start = time.perf_counter()
    with threadpool_limits(1), torch_threads(1):
        pca = PCA(K, random_state=0).fit(X)
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_megabytes(),
            "ratio": float(pca.explained_variance_ratio_.sum()),
            "solver": choose_solver(None, X.shape[1], K)}


def in_subprocess(case: str) -> dict:
    done = subprocess.run([sys.executable, __file__, case], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------


def table_rows(shapes: list[tuple[int, int]]) -> tuple[list[str], list[str], list[str]]:
    """The rows of the time, angle and variance-error tables, measured on one thread."""
    time_rows, angle_rows, error_rows = [], [], []
    for n, d in shapes:
        X = make_data(n, d)
        solver = choose_solver(n, d, K)
        with threadpool_limits(1), torch_threads(1):
            result = measure(X)
            floor = floor_seconds(X) if solver == "covariance_eigh" else None
        del X
        sklearn = {s: result[s] for s in SOLVERS if s in result}
        fastest = min(sklearn, key=lambda s: sklearn[s][0])
        ratio = result["deepae"][0] / sklearn[fastest][0]
        label = f"{n:,} × {d:,}"
        cells = [result.get(s) for s in ["deepae", *SOLVERS]]
        time_rows.append(f"| {label} | {solver} | " + " | ".join(
            "—" if c is None else f"{c[0]:.3f}" for c in cells)
            + f" | **{ratio:.2f}×** ({fastest}) | "
            + ("—" if floor is None else f"{floor / sklearn[fastest][0]:.2f}×") + " |")
        angle_rows.append(f"| {label} | " + " | ".join(
            "—" if c is None else f"{c[1]:.2g}" for c in cells) + " |")
        error_rows.append(f"| {label} | " + " | ".join(
            "—" if c is None else f"{c[2]:.1e}" for c in cells) + " |")
    return time_rows, angle_rows, error_rows


@contextlib.contextmanager
def torch_threads(count: int):
    """Limit torch's intra-op threads to ``count`` inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run() -> str:
    PCA(K).fit(make_data(500, 1000))  # warm-up: imports
    time_rows, angle_rows, error_rows = table_rows(SHAPES)
    in_subprocess("make")
    wide = in_subprocess("fit")
    columns = "deepae default | " + " | ".join(f"sklearn `{s}`" for s in SOLVERS)
    gigabytes = WIDE_FILE.stat().st_size / 1e9
    return "\n".join([
        f"## PCA on wide data: solvers whose cost follows n, d and k (k = {K}, float32)",
        "",
        f"`deepae.PCA({K})` (default `svd_solver=\"auto\"`, the solver it picked in the second "
        f"column) against scikit-learn's `PCA({K})` with each `svd_solver` (`random_state=0`), "
        f"on the same float32 array in the same run: a rank-{RANK} signal plus unit noise. "
        f"Seconds, best of {ROUNDS} rounds that fit every solver in turn (a fitter whose first "
        "fit takes over 5 s runs once), each on one thread (`threadpoolctl.threadpool_limits(1)` "
        "and `torch.set_num_threads(1)`) on a 2-core machine (other "
        "jobs may share it: compare within a row). \"—\": not run (sklearn's `covariance_eigh` at "
        "d = 8,192 takes about a minute). "
        "The last column, for the shapes where `auto` picks the covariance solver, is the "
        "time of a bare `X.T @ X` (one BLAS `syrk`, the arithmetic of one exact pass) over the "
        "fastest scikit-learn fit: no exact solver can take less. "
        "Reproduce: `.venv/bin/python benchmarks/run.py pca_wide`.",
        "",
        f"| n × d | auto picks | {columns} | deepae / fastest sklearn | bare `X.T @ X` / "
        "fastest sklearn |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *time_rows,
        "",
        f"Largest principal angle (degrees) between the fitted and the exact top-{K} subspace "
        "(float64 reference of the same float32 numbers):",
        "",
        f"| n × d | {columns} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *angle_rows,
        "",
        f"Largest relative error of the {K} `explained_variance_`:",
        "",
        f"| n × d | {columns} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *error_rows,
        "",
        f"**Memory-mapped, {WIDE_SHAPE[0]:,} × {WIDE_SHAPE[1]:,} float32 ({gigabytes:.1f} GB on "
        f"disk)**: `PCA({K}).fit(np.load(path, mmap_mode=\"r\"))` picks `{wide['solver']}` "
        f"(5 passes over the file, chunk by chunk) and takes, on one thread and with the file "
        f"just written (so much of it in the page cache), "
        f"{wide['seconds']:.0f} s with a peak "
        f"resident memory of {wide['peak_mb'] / 1024:.2f} GB (goal ≤ 1.5 GB: "
        f"{'met' if wide['peak_mb'] <= 1536 else 'NOT met'}; the d × d matrix of the covariance "
        f"solver alone would be {WIDE_SHAPE[1] ** 2 * 8 / 1e9:.0f} GB). The {K} components "
        f"explain {wide['ratio']:.1%} of the variance.",
    ])


if __name__ == "__main__":
    if sys.argv[1:] == ["make"]:
        make_wide_file()
        print("{}")
    elif sys.argv[1:] == ["fit"]:
        print(json.dumps(fit_wide()))
    elif sys.argv[1:2] == ["table"]:  # e.g. `table 2000x8192`: those rows only, no memmap
        for row in table_rows([tuple(map(int, shape.split("x"))) for shape in sys.argv[2:]]):
            print("\n".join(row))
    else:
        print(run())
