"""The held-out (cross-validated) choice of the detector's defaults in bench_adbench.py."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_adbench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_adbench", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(PATH.parent))  # its helpers, as benchmarks/run.py finds them
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(PATH.parent))
    return module


def test_each_set_is_held_out_exactly_once(bench):
    names = [f"set{i}" for i in range(13)]
    folds = bench.deal_folds(names, 5)
    assert len(folds) == 5
    assert sorted(name for fold in folds for name in fold) == sorted(names)
    assert [len(fold) for fold in folds] == [3, 3, 3, 2, 2]
    held_out = [name for result in bench.cross_validate(
        {"a": dict.fromkeys(names, 0.5)}, folds) for name in result["held_out"]]
    assert sorted(held_out) == sorted(names)


def test_the_fixed_folds_are_the_dealt_shared_sets(bench):
    flat = [name for fold in bench.FOLDS for name in fold]
    assert len(flat) == len(set(flat)) == 30
    in_order = [name for i in range(6) for name in (fold[i] for fold in bench.FOLDS)]
    assert bench.deal_folds(in_order, 5) == bench.FOLDS


def test_the_chosen_configuration_never_saw_its_fold(bench):
    # "fold0" and "fold1" are perfect on one fold's sets only: seeing a fold would make
    # its own configuration the choice there; chosen on the other folds, it never is.
    names = [f"set{i}" for i in range(6)]
    folds = bench.deal_folds(names, 3)  # (set0, set3), (set1, set4), (set2, set5)
    aucs = {"steady": dict.fromkeys(names, 0.7),
            "fold0": {n: 1.0 if n in folds[0] else 0.6 for n in names},
            "fold1": {n: 1.0 if n in folds[1] else 0.6 for n in names}}
    results = bench.cross_validate(aucs, folds)
    # On fold 0 held out, "fold1" (0.8 on the other folds' sets) beats "steady" (0.7) and
    # "fold0" (0.6): the choice only reads the other folds.
    assert [r["chosen"] for r in results] == ["fold1", "fold0", "fold0"]
    assert [r["auc"] for r in results] == pytest.approx([0.6, 0.6, 0.6])
    for result in results:
        seen = [n for fold in folds if fold != result["held_out"] for n in fold]
        best = max(aucs, key=lambda c: np.mean([aucs[c][n] for n in seen]))
        assert result["chosen"] == best


def test_the_cross_validated_figure_is_below_the_best_in_hindsight(bench):
    rng = np.random.default_rng(0)
    names = [f"set{i}" for i in range(10)]
    aucs = {c: dict(zip(names, rng.uniform(0.5, 1, 10), strict=True)) for c in "abcdef"}
    cv = np.mean([r["auc"] for r in bench.cross_validate(aucs, bench.deal_folds(names, 5))])
    assert cv <= max(np.mean(list(a.values())) for a in aucs.values())
