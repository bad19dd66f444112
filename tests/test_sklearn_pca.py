"""scikit-learn's own PCA tests, run against ``deepae.PCA``.

The installed ``sklearn/decomposition/tests/test_pca.py`` runs unchanged, with scikit-learn's
``conftest`` fixtures, in a pytest subprocess that loads this module as a plugin: its
``pytest_configure`` sets ``sklearn.decomposition.PCA`` to ``deepae.PCA`` before the test module
imports it (a module-level swap, not a copy of the tests). The test passes when every failure
is one listed in :data:`EXPECTED_FAILURES` with its reason.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

#: Tests of scikit-learn's PCA that deepae.PCA fails by design (test ids, or their start),
#: each with the reason.
EXPECTED_FAILURES = {
    f"test_pca_svd_solver_auto[{case}]": "reads scikit-learn's private `_fit_svd_solver`; "
    "deepae's 'auto' rule is its own, measured (deepae.solvers.choose_solver)"
    for case in ("10-50-5-full", "1000-50-50-covariance_eigh", "1000-500-400-full",
                 "1000-500-10-randomized", "1000-500-0.5-full")
}


def pytest_configure(config):
    """As a plugin of the subprocess: scikit-learn's PCA is deepae's from now on."""
    import sklearn.decomposition

    import deepae

    sklearn.decomposition.PCA = deepae.PCA


def test_sklearn_pca_test_module_passes_against_deepae(tmp_path):
    here = Path(__file__).resolve().parent
    paths = [str(here), str(here.parent / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "sklearn.decomposition.tests.test_pca",
         "-p", Path(__file__).stem, "-p", "no:cacheprovider", "-q", "-rf", "-W", "ignore"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3000)
    summary = result.stdout.strip().splitlines()[-1]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|error)", summary)}
    failed = {name.rsplit("::", 1)[-1]
              for name in re.findall(r"^(?:FAILED|ERROR) (\S+)", result.stdout, re.MULTILINE)}
    assert counts.get("passed", 0) >= 350, result.stdout[-3000:]
    unexpected = [name for name in failed if not name.startswith(tuple(EXPECTED_FAILURES))]
    assert not unexpected, (unexpected, summary)
    ran = counts.get("passed", 0) + counts.get("failed", 0)
    assert counts.get("passed", 0) >= 0.95 * ran, summary
