"""ONNX export: onnxruntime gives what deepae gives, for every estimator (float32, 1e-5)."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import deepae
from deepae import cli

SKIP = "the ONNX extra is absent: pip install 'deepae[onnx]'"


@pytest.fixture(scope="module")
def ort():
    pytest.importorskip("onnxscript", reason=SKIP)
    pytest.importorskip("onnx", reason=SKIP)
    return pytest.importorskip("onnxruntime", reason=SKIP)

FAST = dict(max_epochs=3, random_state=0, device="cpu")
DEEP = dict(FAST, hidden_layer_sizes=(12, 5), pretrain_epochs=2)


def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32), y[:400]


def random_data():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(300, 10)) * rng.uniform(0.5, 3, size=10) + 2).astype(np.float32)
    return X, X[:, 0] - 2 * X[:, 1]


MODELS = {
    "pca": lambda: deepae.PCA(n_components=4),
    "pca-whiten": lambda: deepae.PCA(n_components=3, whiten=True),
    "linear": lambda: deepae.LinearAutoencoder(n_components=3),
    "autoencoder": lambda: deepae.Autoencoder(hidden_size=5, **FAST),
    "denoising-untied-sigmoid": lambda: deepae.DenoisingAutoencoder(
        hidden_size=5, tied=False, activation="sigmoid", **FAST),
    "stacked": lambda: deepae.StackedAutoencoder(**DEEP),
    "classifier": lambda: deepae.DeepClassifier(**DEEP),
    "regressor": lambda: deepae.DeepRegressor(**DEEP),
    "regressor-2d": lambda: deepae.DeepRegressor(**DEEP),
    "detector-default": lambda: deepae.ReconstructionOutlierDetector(),
    "detector-pca": lambda: deepae.ReconstructionOutlierDetector(deepae.PCA(n_components=3)),
    "detector-ensemble-mean": lambda: deepae.ReconstructionOutlierDetector(
        deepae.Autoencoder(hidden_size=5, **FAST), n_models=2, combine="mean"),
    "rbm": lambda: deepae.RBM(n_components=6, **FAST),  # Bernoulli (digits), Gaussian (random)
    # Bernoulli (digits) and Gaussian (random) decoders; scores at the fixed draws
    "vae": lambda: deepae.VariationalAutoencoder(code_size=3, hidden_size=8, **FAST),
    "vae-iwae": lambda: deepae.VariationalAutoencoder(code_size=3, hidden_size=8,
                                                      n_importance_samples=7, **FAST),
    "detector-vae": lambda: deepae.ReconstructionOutlierDetector(
        deepae.VariationalAutoencoder(code_size=3, hidden_size=8, **FAST)),
    # the Gaussian decoder of blurred residuals (digits: 1×8×8; random rows: 1×1×10 strips),
    # in the detector on rows scaled to one norm
    "vae-blur": lambda: deepae.VariationalAutoencoder(code_size=3, hidden_size=8,
                                                      decoder_blur=1.0, **FAST),
    "detector-vae-blur-rows": lambda: deepae.ReconstructionOutlierDetector(
        deepae.VariationalAutoencoder(code_size=3, hidden_size=8, decoder_blur=1.0, **FAST),
        scaling="rows"),
    "detector-pca-rows": lambda: deepae.ReconstructionOutlierDetector(
        deepae.PCA(n_components=3), scaling="rows"),
    # digits: 1×8×8 images, sigmoid output; random rows: 1×1×10 strips, linear output
    "conv": lambda: deepae.ConvolutionalAutoencoder(code_size=4, channels=(3, 5), **FAST),
    # the image-aware score by default: blurred residuals, divided by the row's energy
    "detector-conv": lambda: deepae.ReconstructionOutlierDetector(
        deepae.ConvolutionalAutoencoder(code_size=4, channels=(3,), **FAST)),
    "detector-conv-density": lambda: deepae.ReconstructionOutlierDetector(
        deepae.ConvolutionalAutoencoder(code_size=4, channels=(3,), **FAST),
        code_density=True, residual_blur=1.5),
    "classifier-conv": lambda: deepae.DeepClassifier(
        encoder=deepae.ConvolutionalAutoencoder(code_size=4, channels=(3,), **FAST), **DEEP),
}
#: ONNX output -> the deepae method it must equal.
METHODS = {"transform": "transform", "reconstruction_error": "reconstruction_error",
           "score_samples": "score_samples", "decision_function": "decision_function",
           "predict_proba": "predict_proba", "predict": "predict"}


def fitted(name, X, y):
    model = MODELS[name]()
    if name.startswith("classifier"):
        return model.fit(X, (y > np.median(y)).astype(int) if y.dtype.kind == "f" else y)
    if name == "regressor-2d":
        return model.fit(X, np.column_stack([y, 1000 - 3 * y]))
    return model.fit(X, y) if name == "regressor" else model.fit(X)


@pytest.mark.parametrize("data", [digits, random_data], ids=["digits", "random"])
@pytest.mark.parametrize("name", list(MODELS))
def test_onnxruntime_equals_deepae(name, data, tmp_path, ort):
    X, y = data()
    model = fitted(name, X, y)
    path = tmp_path / "model.onnx"
    names = model.export_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["X"]
    assert session.get_inputs()[0].shape[0] == "batch"  # dynamic: the export used 2 rows
    assert [o.name for o in session.get_outputs()] == list(names)
    rows = X[:37]  # a batch size that is not the export's
    outputs = session.run(None, {"X": rows})
    for output, got in zip(names, outputs, strict=True):
        expected = getattr(model, METHODS[output])(rows)
        assert got.dtype == np.float32 and got.shape == expected.shape, output
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale,
                                   err_msg=output)


def test_export_command(tmp_path, capsys, ort):
    X, _ = digits()
    model_file, onnx_file = tmp_path / "d.deepae", tmp_path / "d.onnx"
    deepae.ReconstructionOutlierDetector(deepae.PCA(n_components=5)).fit(X).save(model_file)
    assert cli.main(["export", str(model_file), "-o", str(onnx_file)]) == 0
    out = capsys.readouterr().out
    assert "outputs score_samples, decision_function" in out
    scores = ort.InferenceSession(str(onnx_file)).run(["score_samples"], {"X": X[:5]})[0]
    np.testing.assert_allclose(scores, deepae.load(model_file).score_samples(X[:5]),
                               rtol=1e-5)
    assert cli.main(["export", str(model_file), "-o", str(tmp_path / "d.txt")]) == 2
    assert "must end with .onnx" in capsys.readouterr().err


def test_missing_extra_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxscript" else real(name, *args))
    model = deepae.PCA(n_components=2).fit(np.eye(4))
    with pytest.raises(ImportError, match=r"onnxscript.*pip install 'deepae\[onnx\]'"):
        model.export_onnx(tmp_path / "m.onnx")
    model.save(tmp_path / "m.deepae")
    assert cli.main(["export", str(tmp_path / "m.deepae"), "-o", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.startswith("deepae: error: ONNX export needs the package")


def test_unfitted_model_is_refused(tmp_path, ort):
    with pytest.raises(ValueError, match="not fitted"):
        deepae.PCA().export_onnx(tmp_path / "m.onnx")


@pytest.mark.parametrize("n_components, route", [(4, "basis"), (20, "precision")])
def test_pca_exports_the_route_its_score_samples_takes(n_components, route):
    X, _ = digits()  # d = 64: the d × d precision only for d ≤ 10k
    module = deepae.PCA(n_components=n_components).fit(X)._export_module()
    assert hasattr(module, route)
    assert {tuple(b.shape) for b in module.buffers()} >= (
        {(64, n_components)} if route == "basis" else {(64, 64)})
