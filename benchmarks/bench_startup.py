"""Start-up of the command line: each command run as a whole process, before and after.

"Before" is the code of commit :data:`BEFORE` (the base of issue 15: eager imports of torch
and scikit-learn), extracted with ``git archive`` and run by the same Python; "after" is this
checkout. Both run ``python -c "from deepae.cli import main; main()"`` (what the ``deepae``
script does), alternately, so machine load affects them alike. The data is a 500 × 20 CSV
with a header (normal numbers, seed 0). Times are wall-clock seconds of the whole process:
minimum and median over the repeats.
"""

import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

BEFORE = "3885c13"
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "import sys; from deepae.cli import main; sys.exit(main())"
COMMANDS = [  # (label, arguments, repeats)
    ("deepae --version", ["--version"], 7),
    ("deepae --help", ["--help"], 7),
    ("deepae info MODEL", ["info", "{model}"], 7),
    ("deepae fit pca (500 × 20 CSV)", ["fit", "pca", "{csv}", "-o", "{out}", "-q"], 5),
    ("deepae fit outliers (500 × 20 CSV)", ["fit", "outliers", "{csv}", "-o", "{out}", "-q"],
     5),
]


def extract(commit: str, directory: Path) -> Path:
    """The ``src`` folder of ``commit``, written under ``directory``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    return directory / "src"


def seconds(source: Path, args: list[str]) -> float:
    """Wall-clock seconds of one ``deepae ARGS`` process running the code in ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT, *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {"before": extract(BEFORE, tmp / "before"), "after": ROOT / "src"}
        X = np.random.default_rng(0).normal(size=(500, 20))
        csv = tmp / "data.csv"
        np.savetxt(csv, X, delimiter=",", header=",".join(f"f{i}" for i in range(20)),
                   comments="")
        fields = {"csv": csv, "out": tmp / "fitted.deepae"}
        for which, source in sources.items():  # the model file of `info`, each by its code
            subprocess.run([sys.executable, "-c", SCRIPT, "fit", "outliers", str(csv), "-o",
                            str(tmp / f"{which}.deepae"), "-q"], check=True,
                           env={**os.environ, "PYTHONPATH": str(source)})
        rows = []
        for label, args, repeats in COMMANDS:
            times = {"before": [], "after": []}
            for _ in range(repeats):
                for which, source in sources.items():
                    model = tmp / f"{which}.deepae"
                    times[which].append(seconds(source, [a.format(model=model, **fields)
                                                         for a in args]))
            cells = [f"{min(t):.2f} / {statistics.median(t):.2f}" for t in times.values()]
            ratio = statistics.median(times["before"]) / statistics.median(times["after"])
            rows.append(f"| {label} | {cells[0]} | {cells[1]} | {ratio:.1f}× |")
    return "\n".join([
        "## Start-up of the command line (issue 15)",
        "",
        f"Each command as a whole process, before (commit {BEFORE}: `import deepae` imports "
        "torch and scikit-learn) and after (lazy imports; `info` reads the file's header "
        "without torch), run alternately; seconds, minimum / median over 7 runs (5 for the "
        "fits). `fit outliers` after also has issue 12's detector for tabular data (300 "
        "training steps instead of 200, a Gaussian of the codes). The machine was shared with "
        "other work, so absolute times vary; compare within a row.",
        "",
        "| command | before: min / median (s) | after: min / median (s) | median speed-up |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "Goals: `--version`, `--help`, `info` ≤ 0.3 s; `fit pca` ≤ 2.5 s; `fit outliers` "
        "≤ 3.5 s. What remains in the fits is importing torch (≈1.4 s here) and scikit-learn "
        "(≈1.1 s, of which scipy.stats 0.5 s and pandas 0.25 s, the latter only where pandas "
        "is installed). torch 2.13's optimizers import `torch._dynamo` (≈1 s) on their first "
        "`add_param_group`, `zero_grad` and `step`, only to keep those methods out of "
        "`torch.compile` graphs; deepae's `Adam` and `SGD` (`deepae.training`) are torch's "
        "classes with those three methods unwrapped (`step` under `no_grad`, as torch's "
        "wrapper sets it), so a fit never imports it; a test checks that they step exactly as "
        "torch's do.",
    ])


if __name__ == "__main__":
    print(run())
