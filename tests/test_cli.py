"""Tests of the ``deepae`` command line: end to end through subprocesses, errors in-process."""

import os
import subprocess
import sys

import numpy as np
import pytest

import deepae
from deepae import cli, datafiles, persistence

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 8)) * np.arange(1, 9) + 1.0
LABELS = np.where(X[:, 0] > 1.0, "high", "low")
COLUMNS = [f"f{i}" for i in range(8)]


def write_csv(path, rows, header=None):
    lines = [] if header is None else [",".join(header)]
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    files = {
        "csv": write_csv(root / "data.csv", X.tolist(), COLUMNS),
        "bare_csv": write_csv(root / "bare.csv", X.tolist()),
        "labeled_csv": write_csv(
            root / "labeled.csv",
            [[*row, label] for row, label in zip(X.tolist(), LABELS, strict=True)],
            [*COLUMNS, "label"]),
        "npy": root / "data.npy",
        "npz": root / "data.npz",
        "narrow": root / "narrow.npy",
        "text_csv": write_csv(root / "text.csv", [[1, 2], [3, "abc"]], ["a", "b"]),
        "ragged_csv": write_csv(root / "ragged.csv", [[1, 2], [3]], ["a", "b"]),
        "empty_csv": write_csv(root / "empty.csv", []),
        "nan_csv": write_csv(root / "nan.csv", [[1, 2], [3, float("nan")]], ["a", "b"]),
        "corrupt": root / "corrupt.deepae",
        "pickle": root / "pickle.deepae",
        "root": root,
    }
    np.save(files["npy"], X)
    np.savez(files["npz"], X=X, y=LABELS, other=X[:5])
    np.save(files["narrow"], X[:, :5])
    files["corrupt"].write_bytes(b"\x00" * 64)
    files["pickle"].write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    return files


def run_cli(*args, capsys):
    """Run ``deepae`` in-process: (exit status, stdout, stderr)."""
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, match=None):
    assert code == 2, (out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("deepae: error: "), err
    if match is not None:
        assert match in lines[0], lines[0]


# --- end to end, through subprocesses ------------------------------------------------------

def run_parallel(commands, cwd):
    """Run ``python -m deepae`` commands at the same time (the torch import dominates)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    processes = [subprocess.Popen([sys.executable, "-m", "deepae", *map(str, args)], cwd=cwd,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for args in commands]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append((process.returncode, out, err))
    return results


def test_end_to_end_subprocess(data):
    """fit → transform / score through ``python -m deepae``, on a CSV and an NPY."""
    root = data["root"]
    fit_pca, fit_ae = run_parallel([
        ["fit", "pca", data["csv"], "-o", root / "pca.deepae", "--n-components", "3", "-q"],
        ["fit", "autoencoder", data["npy"], "-o", root / "ae.deepae", "--hidden-size", "4",
         "--max-epochs", "2", "--random-state", "0", "--device", "cpu"],
    ], root)
    assert fit_pca == (0, "", "")
    assert fit_ae[0] == 0 and "saved to" in fit_ae[1], fit_ae

    transform, score, corrupt = run_parallel([
        ["transform", root / "pca.deepae", data["csv"], "-o", root / "codes.csv"],
        ["score", root / "ae.deepae", data["npy"], "-o", root / "scores.npy"],
        ["transform", data["corrupt"], data["csv"]],
    ], root)
    for result in (transform, score):
        assert result[0] == 0 and "Traceback" not in result[2], result
    pca, ae = deepae.load(root / "pca.deepae"), deepae.load(root / "ae.deepae")
    codes = np.loadtxt(root / "codes.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(codes, pca.transform(X))  # CSV floats round-trip exactly
    assert (root / "codes.csv").read_text().splitlines()[0] == "pca0,pca1,pca2"
    np.testing.assert_array_equal(np.load(root / "scores.npy"), ae.reconstruction_error(X))
    assert_one_line_error(*corrupt, match="corrupt.deepae: not a valid deepae model file")


# --- in-process: commands ------------------------------------------------------------------

def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"deepae {deepae.__version__}\n"


def test_fit_transform_csv_matches_library(data, tmp_path, capsys):
    model = tmp_path / "pca.deepae"
    code, out, err = run_cli("fit", "pca", data["csv"], "-o", model, "--n-components", "2",
                             "--whiten", capsys=capsys)
    assert code == 0 and "fitted PCA on 200 samples × 8 features" in out, err
    expected = deepae.PCA(n_components=2, whiten=True).fit(X)
    loaded = deepae.load(model)
    assert loaded.get_params() == expected.get_params()
    np.testing.assert_array_equal(loaded.components_, expected.components_)
    code, out, err = run_cli("transform", model, data["bare_csv"], capsys=capsys)  # stdout
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "pca0,pca1" and len(lines) == 201
    np.testing.assert_array_equal(np.loadtxt(lines[1:], delimiter=","), expected.transform(X))


def test_reconstruct_keeps_the_csv_header(data, tmp_path, capsys):
    model = tmp_path / "linear.deepae"
    assert run_cli("fit", "linear", data["npy"], "-o", model, "--n-components", "3",
                   "--center", "-q", capsys=capsys)[0] == 0
    assert run_cli("reconstruct", model, data["csv"], "-o", tmp_path / "r.csv",
                   capsys=capsys)[0] == 0
    text = (tmp_path / "r.csv").read_text().splitlines()
    assert text[0] == ",".join(COLUMNS)
    fitted = deepae.LinearAutoencoder(n_components=3, center=True).fit(X)
    expected = fitted.inverse_transform(fitted.transform(X))
    np.testing.assert_array_equal(np.loadtxt(text[1:], delimiter=","), expected)
    assert run_cli("reconstruct", model, data["npy"], "-o", tmp_path / "r.npy",
                   capsys=capsys)[0] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), expected)


def test_autoencoder_options_and_npz(data, tmp_path, capsys):
    model = tmp_path / "dae.deepae"
    code, out, err = run_cli(
        "fit", "denoising", data["npz"], "-o", model, "--hidden-size", "3", "--max-epochs", "2",
        "--noise", "gaussian", "--noise-level", "0.2", "--no-tied", "--random-state", "1",
        "--param", "batch_size=16", "--param", "early_stopping=false", "--device", "cpu", "-q",
        capsys=capsys)
    assert (code, out) == (0, ""), err
    loaded = deepae.load(model)
    assert isinstance(loaded, deepae.DenoisingAutoencoder)
    params = loaded.get_params()
    assert (params["hidden_size"], params["max_epochs"], params["noise"], params["tied"],
            params["batch_size"], params["early_stopping"], params["verbose"]) == (
        3, 2, "gaussian", False, 16, False, 0)
    assert loaded.n_epochs_ == 2
    expected = deepae.DenoisingAutoencoder(
        hidden_size=3, max_epochs=2, noise="gaussian", noise_level=0.2, tied=False,
        random_state=1, batch_size=16, early_stopping=False, device="cpu").fit(X)
    np.testing.assert_array_equal(loaded.transform(X), expected.transform(X))
    code, out, err = run_cli("score", model, data["npz"], "--key", "X", "-o",
                             tmp_path / "s.csv", capsys=capsys)
    assert code == 0, err
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "reconstruction_error"
    np.testing.assert_array_equal(np.array(lines[1:], dtype=float),
                                  expected.reconstruction_error(X))


def test_progress_is_shown_unless_quiet(data, tmp_path, capsys):
    args = ["fit", "autoencoder", data["npy"], "-o", tmp_path / "a.deepae", "--max-epochs",
            "2", "--hidden-size", "2", "--device", "cpu"]
    code, out, err = run_cli(*args, capsys=capsys)
    assert code == 0 and "Autoencoder" in err and "saved to" in out
    assert deepae.load(tmp_path / "a.deepae").verbose == 0  # the saved model stays quiet
    code, out, err = run_cli(*args, "-q", capsys=capsys)
    assert (code, out, err) == (0, "", "")


def test_classifier_with_string_labels(data, tmp_path, capsys):
    if persistence.estimator_class("DeepClassifier") is None:
        pytest.skip("deepae.DeepClassifier does not exist yet")
    model = tmp_path / "clf.deepae"
    code, out, err = run_cli(
        "fit", "classifier", data["labeled_csv"], "--target", "label", "-o", model,
        "--hidden-layer-sizes", "6,4", "--max-epochs", "2", "--random-state", "0",
        "--device", "cpu", "--param", "pretrain_epochs=1", "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert loaded.classes_.tolist() == ["high", "low"]
    code, out, err = run_cli("predict", model, data["labeled_csv"], "--target", "8",
                             capsys=capsys)
    assert code == 0, err
    assert out.splitlines()[1:] == loaded.predict(X).tolist()
    code, out, err = run_cli("predict", model, data["csv"], "--proba", "-o",
                             tmp_path / "p.npy", capsys=capsys)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), loaded.predict_proba(X))


def test_outlier_detector(data, tmp_path, capsys):
    cls = persistence.estimator_class("ReconstructionOutlierDetector")
    if cls is None:
        pytest.skip("deepae.ReconstructionOutlierDetector does not exist yet")
    model = tmp_path / "outliers.deepae"
    code, out, err = run_cli("fit", "outliers", data["npy"], "-o", model, "--base-model", "pca",
                             "--n-components", "2", "--contamination", "0.1", "-q",
                             capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert isinstance(loaded.get_params()["model"], deepae.PCA)
    assert loaded.get_params()["model"].n_components == 2
    code, out, err = run_cli("score", model, data["csv"], capsys=capsys)
    assert code == 0, err
    assert out.splitlines()[0] == "outlier_score"
    np.testing.assert_array_equal(np.array(out.splitlines()[1:], dtype=float),
                                  -loaded.score_samples(X))
    code, out, err = run_cli("predict", model, data["csv"], capsys=capsys)
    assert code == 0, err
    assert out.splitlines()[1:] == [str(v) for v in loaded.predict(X)]


def test_demo_forwards_its_options(monkeypatch, capsys):
    from deepae import demo

    calls = []
    monkeypatch.setattr(demo, "run_demo", lambda seed=0: calls.append(seed))
    assert run_cli("demo", "--seed", "3", capsys=capsys)[0] == 0
    assert calls == [3]
    assert_one_line_error(*run_cli("demo", "--quick", capsys=capsys), "--quick is not available")
    monkeypatch.setattr(demo, "run_demo", lambda seed=0, out="report", quick=False:
                        calls.append((seed, out, quick)))
    assert run_cli("demo", "--quick", "--out", "somewhere", capsys=capsys)[0] == 0
    assert run_cli("demo", capsys=capsys)[0] == 0
    assert calls[1:] == [(0, "somewhere", True), (0, "report", False)]


def test_info(data, tmp_path, capsys):
    model = tmp_path / "ae.deepae"
    assert run_cli("fit", "autoencoder", data["npy"], "-o", model, "--max-epochs", "2",
                   "--hidden-size", "3", "--device", "cpu", "-q", capsys=capsys)[0] == 0
    code, out, err = run_cli("info", model, capsys=capsys)
    assert code == 0, err
    for text in ("deepae model file, format 1", f"deepae {deepae.__version__}",
                 "class: deepae.Autoencoder", "hidden_size = 3", "history_ = 2 epochs",
                 "module_ = torch module (35 parameters)", "n_features_in_ = 8"):
        assert text in out, out


def test_read_data_formats(data, tmp_path):
    X1, y1, names = datafiles.read_data(str(data["csv"]))
    np.testing.assert_array_equal(X1, X)
    assert y1 is None and names == COLUMNS
    X2, _, names = datafiles.read_data(str(data["bare_csv"]))
    np.testing.assert_array_equal(X2, X)
    assert names is None
    X3, y3, names = datafiles.read_data(str(data["labeled_csv"]), target="label")
    np.testing.assert_array_equal(X3, X)
    assert y3.tolist() == LABELS.tolist() and names == COLUMNS
    X4, y4, _ = datafiles.read_data(str(data["npz"]), target="y")
    np.testing.assert_array_equal(X4, X)
    assert y4.tolist() == LABELS.tolist()
    X5, y5, _ = datafiles.read_data(str(data["npy"]), target="-1")
    np.testing.assert_array_equal(X5, X[:, :-1])
    np.testing.assert_array_equal(y5, X[:, -1])
    ints = write_csv(tmp_path / "ints.csv", [[1, 2, 0], [3, 4, 1]])  # no header, int target
    X6, y6, names = datafiles.read_data(str(ints), target="2")
    assert X6.tolist() == [[1, 2], [3, 4]] and y6.tolist() == [0, 1] and names is None
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("a;b\n1;2\n3;4\n")
    assert datafiles.read_data(str(semicolons))[0].tolist() == [[1, 2], [3, 4]]


# --- in-process: every error is one line and exit status 2 ----------------------------------

@pytest.fixture(scope="module")
def pca_file(data):
    path = data["root"] / "errors-pca.deepae"
    deepae.PCA(n_components=2).fit(X).save(path)
    return path


ERRORS = {
    "missing data file": (["fit", "pca", "{root}/nope.csv", "-o", "{out}"], "no such file"),
    "missing model file": (["transform", "{root}/nope.deepae", "{csv}"], "no such file"),
    "non-numeric csv": (["fit", "pca", "{text_csv}", "-o", "{out}"],
                        "column 'b': 'abc' is not a number; model 'pca' takes numbers only"),
    "ragged csv": (["fit", "pca", "{ragged_csv}", "-o", "{out}"], "line 3: 1 columns"),
    "empty csv": (["fit", "pca", "{empty_csv}", "-o", "{out}"], "empty"),
    "nan in data": (["fit", "pca", "{nan_csv}", "-o", "{out}"], "NaN"),
    "wrong feature count": (["transform", "{pca}", "{narrow}"], "X has 5 features"),
    "bad int option": (["fit", "autoencoder", "{csv}", "-o", "{out}", "--max-epochs", "abc"],
                       "invalid int value: 'abc'"),
    "bad option value": (["fit", "autoencoder", "{csv}", "-o", "{out}", "--max-epochs", "0",
                          "-q"], "max_epochs == 0"),
    "bad choice": (["fit", "autoencoder", "{csv}", "-o", "{out}", "--noise", "loud", "-q"],
                   "Unknown noise='loud'"),
    "bad param syntax": (["fit", "pca", "{csv}", "-o", "{out}", "--param", "oops"],
                         "use NAME=VALUE"),
    "option of another model": (["fit", "pca", "{csv}", "-o", "{out}", "--hidden-size", "3"],
                                "--hidden-size does not apply to model 'pca'"),
    "unknown param": (["fit", "pca", "{csv}", "-o", "{out}", "--param", "colour=1"],
                      "--param colour does not apply"),
    "unknown model": (["fit", "nonsense", "{csv}", "-o", "{out}"], "unknown model 'nonsense'"),
    "unknown option": (["fit", "pca", "{csv}", "-o", "{out}", "--frobnicate"],
                       "unrecognized arguments: --frobnicate"),
    "no command": ([], "required: COMMAND"),
    "corrupt model file": (["score", "{corrupt}", "{csv}"], "not a valid deepae model file"),
    "pickle model file": (["info", "{pickle}"], "pickle"),
    "data file type": (["fit", "pca", "{root}/data.txt", "-o", "{out}"],
                       "unsupported data file type '.txt'"),
    "output file type": (["transform", "{pca}", "{csv}", "-o", "{root}/out.json"],
                         "must end with .npy or .csv"),
    "output directory": (["fit", "pca", "{csv}", "-o", "{root}/no/dir/m.deepae"],
                         "no such directory"),
    "npz key": (["transform", "{pca}", "{npz}", "--key", "Z"], "has no array 'Z'"),
    "npz ambiguous": (["transform", "{pca}", "{npz2}"], "choose one with --key"),
    "key on csv": (["transform", "{pca}", "{csv}", "--key", "X"], "--key applies to .npz"),
    "target column": (["fit", "pca", "{csv}", "-o", "{out}", "--target", "nope"],
                      "no column 'nope'"),
    "target index": (["fit", "pca", "{npy}", "-o", "{out}", "--target", "9"], "out of range"),
    "no predict": (["predict", "{pca}", "{csv}"], "cannot predict"),
    "no labels": (["fit", "classifier", "{csv}", "-o", "{out}"], None),
    "base model elsewhere": (["fit", "pca", "{csv}", "-o", "{out}", "--base-model", "pca"],
                             "--base-model does not apply"),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_errors_are_one_line_with_status_2(case, data, pca_file, tmp_path, capsys):
    args, match = ERRORS[case]
    np.savez(tmp_path / "two.npz", a=X, b=X)
    fields = {k: str(v) for k, v in data.items()}
    fields.update(pca=str(pca_file), out=str(tmp_path / "m.deepae"),
                  npz2=str(tmp_path / "two.npz"))
    code, out, err = run_cli(*[a.format(**fields) for a in args], capsys=capsys)
    assert_one_line_error(code, out, err, match)
    assert out == ""
    assert not (tmp_path / "m.deepae").exists()


def test_model_not_available_yet(data, tmp_path, capsys, monkeypatch):
    real = persistence.estimator_class
    monkeypatch.setattr(persistence, "estimator_class",
                        lambda name: None if name == "StackedAutoencoder" else real(name))
    code, out, err = run_cli("fit", "stacked", data["csv"], "-o", tmp_path / "m.deepae",
                             capsys=capsys)
    assert_one_line_error(code, out, err, "model 'stacked' is not available in this version")


def test_labels_without_target_get_a_hint(data, tmp_path, capsys):
    code, out, err = run_cli("fit", "pca", data["labeled_csv"], "-o", tmp_path / "m.deepae",
                             capsys=capsys)
    assert_one_line_error(code, out, err, "column 'label': 'high' is not a number (if it "
                          "holds labels, name it with --target)")


def test_warnings_are_one_line(data, tmp_path, capsys, monkeypatch):
    import warnings

    path = tmp_path / "pca.deepae"
    deepae.PCA(n_components=2).fit(X).save(path)
    real_load = persistence.load

    def noisy_load(path):
        warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
        return real_load(path)

    monkeypatch.setattr(persistence, "load", noisy_load)
    code, out, err = run_cli("transform", path, data["csv"], "-o", tmp_path / "c.npy",
                             capsys=capsys)
    assert code == 0 and err == "deepae: warning: first line second line\n"


def test_debug_shows_the_traceback(data, capsys):
    code, out, err = run_cli("--debug", "transform", data["corrupt"], data["csv"], capsys=capsys)
    assert code == 2
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("deepae: error:")


def test_fit_with_an_svd_solver(data, tmp_path, capsys):
    model = tmp_path / "pca.deepae"
    code, out, err = run_cli("fit", "pca", data["npy"], "-o", model, "--n-components", "2",
                             "--svd-solver", "randomized", "--random-state", "0", "-q",
                             capsys=capsys)
    assert code == 0, err
    expected = deepae.PCA(2, svd_solver="randomized", random_state=0).fit(X)
    np.testing.assert_array_equal(deepae.load(model).components_, expected.components_)
    code, out, err = run_cli("fit", "pca", data["npy"], "-o", model, "--svd-solver", "svd",
                             capsys=capsys)
    assert code != 0 and "svd_solver='svd'" in err


def test_outlier_detector_options(data, tmp_path, capsys):
    model = tmp_path / "od.deepae"
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", model, "--scaling", "none",
                             "--code-density", "true", "--base-model", "autoencoder",
                             "--trim-fraction", "0.1", "--max-epochs", "2", "--density-trim",
                             "0.3", "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert (loaded.scaling, loaded.code_density, loaded.density_trim) == (None, True, 0.3)
    assert loaded.model_.trim_fraction == 0.1
    assert loaded.code_precision_ is not None


def test_a_vae_detector_with_a_blurred_decoder_on_scaled_rows(tmp_path, capsys):
    from sklearn.datasets import load_digits

    np.save(tmp_path / "digits.npy", load_digits().data[:200] / 16)
    model = tmp_path / "vae-od.deepae"
    code, out, err = run_cli("fit", "outliers", str(tmp_path / "digits.npy"), "-o", model,
                             "--base-model", "vae", "--scaling", "rows", "--decoder-blur", "1",
                             "--image-shape", "1x8x8", "--max-epochs", "2", "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert loaded.scaling == "rows" and loaded.row_norm_ > 0
    assert loaded.model_.module_.blur.image_shape == (1, 8, 8)
    assert loaded.model_.get_params()["decoder_blur"] == 1.0


def test_ensemble_options(data, tmp_path, capsys):
    model = tmp_path / "od.deepae"
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", model, "--n-models", "2",
                             "--combine", "mean", "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert (loaded.n_models, loaded.combine, len(loaded.ensemble_)) == (2, "mean", 1)


def test_neighbour_term_option(data, tmp_path, capsys):
    model = tmp_path / "od.deepae"
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", model, "--n-neighbors", "3",
                             "--n-models", "1", "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert loaded.n_neighbors_ == 3 and loaded.neighbor_rows_.shape[1] == loaded.n_features_in_
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", model, "--n-neighbors", "0",
                             "--n-models", "1", "-q", capsys=capsys)
    assert code == 0 and deepae.load(model).neighbor_rows_ is None


def test_the_default_detector_takes_a_seed(data, tmp_path, capsys):
    model = tmp_path / "od.deepae"
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", model, "--random-state", "5",
                             "-q", capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert (loaded.random_state, loaded.model_.random_state) == (5, 5)


def test_image_score_options(data, tmp_path, capsys):
    model = tmp_path / "conv-od.deepae"
    code, out, err = run_cli("fit", "outliers", data["npy"], "-o", model, "--base-model",
                             "conv", "--param", "code_size=2", "--param", "channels=[2]",
                             "--max-epochs", "1",
                             "--residual-blur", "0.5", "--relative-error", "false", "-q",
                             capsys=capsys)
    assert code == 0, err
    loaded = deepae.load(model)
    assert (loaded.residual_blur_, loaded.relative_error_) == (0.5, False)


@pytest.mark.parametrize("option, value, message", [
    ("--code-density", "maybe", "auto, true or false"),
    ("--density-trim", "0.5", "density_trim"),
    ("--residual-blur", "wide", "auto or a number"),
    ("--residual-blur", "1", "residual_blur=1.0 needs a model that reads its rows as images"),
    ("--relative-error", "yes", "auto, true or false"),
    ("--n-models", "some", "auto or an integer"),
    ("--combine", "max", "combine must be 'median' or 'mean'"),
    ("--n-neighbors", "-2", "n_neighbors"),
])
def test_bad_outlier_detector_options(data, tmp_path, capsys, option, value, message):
    code, out, err = run_cli("fit", "outliers", data["csv"], "-o", tmp_path / "od.deepae",
                             option, value, capsys=capsys)
    assert code != 0 and message in err


def test_none_given_on_the_command_line_overrides_a_default(data, tmp_path, capsys):
    model = tmp_path / "dae.deepae"
    code, out, err = run_cli("fit", "denoising", data["npy"], "-o", model, "--noise", "none",
                             "--max-epochs", "1", "-q", capsys=capsys)
    assert code == 0, err
    assert deepae.load(model).noise is None  # DenoisingAutoencoder's default is "masking"


LIGHT_COMMAND = """
import sys
from deepae import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(name for name in ("torch", "sklearn", "scipy") if name in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["info", "{model}"],
                                  ["fit", "nosuchmodel", "{model}", "-o", "{model}"],
                                  ["transform", "--bogus"]])
def test_light_commands_do_not_import_torch_or_scikit_learn(args, pca_file):
    args = [a.format(model=pca_file) for a in args]
    result = subprocess.run([sys.executable, "-c", LIGHT_COMMAND, *args], capture_output=True,
                            text=True)
    assert result.stderr.strip().splitlines()[-1] == "HEAVY:", result.stderr
    assert result.returncode == (2 if args[0] in ("fit", "transform") else 0), result.stderr
    if args[0] == "info":
        assert "class: deepae.PCA" in result.stdout and "components_ = float64 array of shape" \
            in result.stdout, result.stdout


def test_import_deepae_is_lazy():
    code = ("import sys, deepae; assert 'torch' not in sys.modules; "
            "from deepae import PCA; assert 'torch' in sys.modules; print(PCA.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "PCA", result.stderr


def test_a_mixed_table_reads_the_same_from_csv_gz_and_parquet(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    table = pd.DataFrame({"age": [31, 45, None, 52], "job": ["tcp", None, "udp", "tcp"],
                          "paid": [True, False, True, True], "label": [0, 1, 0, 0]})
    table.to_csv(tmp_path / "t.csv.gz", index=False)
    table.to_parquet(tmp_path / "t.parquet")
    from_csv, y_csv, names = datafiles.read_data(str(tmp_path / "t.csv.gz"), target="label")
    from_parquet, y_parquet, _ = datafiles.read_data(str(tmp_path / "t.parquet"),
                                                     target="label")
    assert names == ["age", "job", "paid"]
    np.testing.assert_array_equal(y_csv, y_parquet)
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)
    assert from_parquet["job"].isna().tolist() == [False, True, False, False]


@pytest.mark.parametrize("compressed", [True, False])
def test_pca_fits_and_transforms_a_sparse_npz_file(tmp_path, capsys, monkeypatch, compressed):
    import scipy.sparse

    from deepae import PCA

    X = scipy.sparse.random(200, 30, density=0.1, format="csr", random_state=0)
    scipy.sparse.save_npz(tmp_path / "sparse.npz", X, compressed=compressed)
    model, codes = tmp_path / "pca.deepae", tmp_path / "codes.npy"
    with monkeypatch.context() as patch:  # fit reads the file a chunk at a time, never whole
        patch.setattr(scipy.sparse, "load_npz", None)
        code, out, _ = run_cli("fit", "pca", tmp_path / "sparse.npz", "-o", model,
                               "--n-components", "3", capsys=capsys)
    assert code == 0 and "on 200 samples × 30 features" in out
    assert run_cli("transform", model, tmp_path / "sparse.npz", "-o", codes, "--quiet",
                   capsys=capsys)[0] == 0
    expected = PCA(3).fit(X).transform(X)
    np.testing.assert_allclose(np.abs(np.load(codes)), np.abs(expected), atol=1e-10)
