"""Scoring throughput of the default outlier detector: onnxruntime against deepae in Python.

The detector (``ReconstructionOutlierDetector()``: its default autoencoder) is fitted on the
8×8 digits (scaled to [0, 1]) and exported with ``export_onnx``; both then score 100,000
rows (digits repeated with small noise, float32) in one call, one thread each
(``torch.set_num_threads(1)``, onnxruntime ``intra_op_num_threads=1``); best of 3 runs. The
largest difference of the scores is shown as a check.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from deepae import ReconstructionOutlierDetector

N_ROWS, REPEATS = 100_000, 3


def best_seconds(function) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run() -> str:
    import onnxruntime

    torch.set_num_threads(1)
    X = (load_digits().data / 16).astype(np.float32)
    rng = np.random.default_rng(0)
    rows = X[rng.integers(len(X), size=N_ROWS)]
    rows = np.clip(rows + rng.normal(0, 0.02, rows.shape), 0, 1).astype(np.float32)
    detector = ReconstructionOutlierDetector().fit(X)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "detector.onnx"
        detector.export_onnx(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(path), options,
                                               providers=["CPUExecutionProvider"])
    deepae_scores = detector.score_samples(rows)
    onnx_scores = session.run(["score_samples"], {"X": rows})[0]
    difference = float(np.abs(deepae_scores - onnx_scores).max())
    python = best_seconds(lambda: detector.score_samples(rows))
    onnx = best_seconds(lambda: session.run(["score_samples"], {"X": rows}))
    return "\n".join([
        "## ONNX export: scoring throughput of the default detector (issue 15)",
        "",
        f"`ReconstructionOutlierDetector()` fitted on the 8×8 digits, scoring {N_ROWS:,} rows "
        "× 64 float32 features in one call, one thread each, best of 3. The machine was "
        "shared with other work; the ratio is the robust figure.",
        "",
        "| scorer | seconds | rows per second |",
        "| --- | ---: | ---: |",
        f"| deepae `score_samples` (Python, torch) | {python:.3f} | {N_ROWS / python:,.0f} |",
        f"| onnxruntime on the exported graph | {onnx:.3f} | {N_ROWS / onnx:,.0f} |",
        "",
        f"onnxruntime / deepae throughput: {python / onnx:.2f}×; largest difference of the "
        f"scores {difference:.1e}.",
    ])


if __name__ == "__main__":
    print(run())
