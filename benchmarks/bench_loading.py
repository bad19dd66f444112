"""Loading bounded by the file: peak memory and time of ``deepae.load``, before and after.

Three files: a crafted one (an ``Autoencoder`` with 3 hidden units whose configuration was
edited to ``hidden_size=100_000_000``, its checksum recomputed, as anyone can), the same with
``10_000_000`` (under the size cap: refused by comparing the module built on the ``meta``
device with the file's tensors), and a genuine 32 MB model (4000 → 1000 untied). Each load
runs in a fresh process (the estimator modules imported first); "peak extra" is the peak
resident memory during the load above the memory before it (Linux ``VmHWM`` after resetting
it), the genuine model's weights read once after loading. "Before" is the code of commit
:data:`bench_startup.BEFORE`, as in the start-up table.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_startup import BEFORE, ROOT, extract
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

import deepae
from deepae import persistence

MEASURE = """
import json, sys, time
import deepae, deepae.autoencoder, deepae.deep, deepae.linear, deepae.outliers, deepae.supervised
def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
before, start = rss("VmRSS:"), time.perf_counter()
try:
    model = deepae.load(sys.argv[1])
    sum(float(p.sum()) for p in model.module_.parameters())
    outcome = "loaded"
except ValueError as error:
    outcome = "refused"
print(json.dumps([rss("VmHWM:") - before, time.perf_counter() - start, outcome]))
"""


def crafted(path: Path, hidden_size: int) -> Path:
    """A small Autoencoder's file whose configuration asks for ``hidden_size`` units."""
    import numpy as np

    X = np.random.default_rng(0).normal(size=(100, 6))
    deepae.Autoencoder(hidden_size=3, max_epochs=1, random_state=0, device="cpu").fit(X).save(
        path)
    metadata = persistence.read_header(path)
    config = json.loads(metadata["config"])
    config["$estimator"]["params"]["hidden_size"] = hidden_size
    tensors = load_tensors(path.read_bytes())
    metadata["config"] = json.dumps(config)
    metadata["sha256"] = persistence._digest(metadata["config"], tensors)
    path.write_bytes(save_tensors(tensors, metadata=metadata))
    return path


def genuine(path: Path) -> Path:
    model = deepae.Autoencoder(hidden_size=1000, tied=False, device="cpu")
    model.n_features_in_ = 4000
    model.module_ = model._new_module()
    model.save(path)
    return path


def measure(source: Path, path: Path) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return tuple(json.loads(out))


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"before": extract(BEFORE, tmp / "before"), "after": ROOT / "src"}
        files = {
            "crafted, hidden_size=100,000,000": crafted(tmp / "a.deepae", 100_000_000),
            "crafted, hidden_size=10,000,000": crafted(tmp / "b.deepae", 10_000_000),
            "genuine 4000 → 1000 autoencoder": genuine(tmp / "c.deepae"),
        }
        rows = []
        for label, path in files.items():
            cells = []
            for source in sources.values():
                extra, seconds, outcome = measure(source, path)
                cells.append(f"{extra / 2**20:,.0f} MiB, {seconds:.2f} s, {outcome}")
            rows.append(f"| {label} | {path.stat().st_size:,} | {cells[0]} | {cells[1]} |")
    return "\n".join([
        "## Loading bounded by the file (issue 15)",
        "",
        "Peak extra resident memory and time of `deepae.load` in a fresh process, before "
        f"(commit {BEFORE}) and after. The machine was shared with other work.",
        "",
        "| file | bytes | before: peak extra, time | after: peak extra, time |",
        "| --- | ---: | --- | --- |",
        *rows,
        "",
        "After: a load takes the file's tensors once (read into memory of their own) plus the "
        "parsed header, at most about 150 MiB for the largest header allowed (4 MiB of JSON).",
    ])


if __name__ == "__main__":
    print(run())
