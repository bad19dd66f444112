"""Tests of ``deepae demo``: a quick run end to end, its report, and the demo's helpers."""

import contextlib
import io
import re

import numpy as np
import pytest

from deepae import PCA, LinearAutoencoder, cli, demo
from deepae.figures import Table, format_table


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``deepae demo --quick`` run once in-process: (exit status, stdout, report folder)."""
    out = tmp_path_factory.mktemp("report")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = cli.main(["demo", "--quick", "--seed", "0", "--out", str(out)])
    return status, stdout.getvalue(), out


def test_quick_demo_prints_every_table(quick_run):
    status, stdout, out = quick_run
    assert status == 0
    for title in ("Test accuracy", "Mean squared error to the clean test digits",
                  "closed form vs gradient descent", "against code size",
                  "Two-dimensional codes", "most atypical test digits",
                  "test log-likelihood bounds (nats)"):
        assert title in stdout
    for row in ("1 vs 5", "all ten", "shallow", "deep"):
        assert re.search(rf"^{row}|\s{row}\s", stdout, re.MULTILINE)
    assert re.search(r"^masked\s+\d+\.\d{3}", stdout, re.MULTILINE)
    assert "closed form (top eigenvectors of XᵀX)" in stdout
    assert re.search(r"gradient descent \(\d+ epochs\)", stdout)
    assert f"report: {out / 'index.html'}" in stdout


def test_accuracy_table_has_a_row_per_task_labels_and_net(quick_run):
    stdout = quick_run[1]
    rows = [line for line in stdout.splitlines()
            if line.startswith(("1 vs 5", "all ten")) and ("shallow" in line or "deep" in line)]
    assert len(rows) == 8  # 2 tasks × 2 label fractions × (shallow, deep)
    for row in rows:
        accuracies = [float(cell) for cell in row.split()[-len(demo.PRETRAININGS):]]
        assert all(0.0 <= value <= 1.0 for value in accuracies)


def test_report_references_only_files_it_wrote(quick_run):
    out = quick_run[2]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    assert set(references) == {
        "learning_curves.png", "filters_autoencoder.png", "filters_denoising.png",
        "filters_sparse.png",
        "denoising.png", "error_vs_components.png", "codes_2d.png", "convolutional.png",
        "outliers.png", "vae_samples.png"}
    for reference in references:
        path = out / reference
        assert path.is_file(), reference
        assert path.resolve().parent == out.resolve()
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name for p in out.glob("*.png")} == set(references)
    assert page.count("<h2>") == 7


def test_residual_curve_matches_models_of_each_size():
    rng = np.random.default_rng(0)
    X, X_new = rng.random((60, 6)), rng.random((20, 6))
    for model_class in (LinearAutoencoder, PCA):
        curve = demo.residual_curve(model_class().fit(X), X_new)
        for k in (1, 3, 6):
            expected = model_class(n_components=k).fit(X).reconstruction_error(X_new).mean()
            assert curve[k - 1] == pytest.approx(expected, abs=1e-10)


def test_hide_labels_keeps_a_stratified_fraction():
    y = np.repeat(np.arange(4), 25)
    hidden = demo.hide_labels(y, 0.2, seed=0)
    assert (hidden != -1).sum() == 20
    assert np.array_equal(np.bincount(hidden[hidden != -1]), [5, 5, 5, 5])
    assert np.array_equal(hidden[hidden != -1], y[hidden != -1])
    assert np.array_equal(demo.hide_labels(y, 1.0, seed=0), y)


def test_principal_angle():
    A = np.eye(4)[:2]
    assert demo.principal_angle(A, A[::-1] * 3.0) == pytest.approx(0.0, abs=1e-7)
    assert demo.principal_angle(A, np.eye(4)[2:]) == pytest.approx(np.pi / 2)


def test_format_table_aligns_columns():
    text = format_table(Table("title", ["name", "value"], [["a", "1.0"], ["long name", "10"]]))
    assert text.splitlines() == ["title", "name       value", "---------  -----",
                                 "a            1.0", "long name     10"]
