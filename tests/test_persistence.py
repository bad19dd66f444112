"""Tests of the model files: round trips of every estimator, and refusal of bad files."""

import json
import pickle
import re
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

import deepae
from deepae import persistence
from deepae.persistence import ESTIMATOR_CLASSES, SaveMixin, estimator_class

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 6)) + 3.0
LABELS = np.where(X[:, 0] + 0.5 * X[:, 1] > 4.5, "big", "small")
TARGETS = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * 2.0])


def deep_class(name: str):
    """The class, or skip the test while this version of deepae lacks it."""
    cls = estimator_class(name)
    if cls is None:
        pytest.skip(f"deepae.{name} does not exist yet")
    return cls


def make(cls, **wanted):
    """An instance of ``cls`` with those of ``wanted`` that it has as parameters."""
    names = set(cls._get_param_names())
    return cls(**{k: v for k, v in wanted.items() if k in names})


FAST = dict(max_epochs=3, pretrain_epochs=2, random_state=0, device="cpu", batch_size=32)


def save(model, path):
    if isinstance(model, SaveMixin):
        model.save(path)
    else:  # a class whose author has not added SaveMixin yet
        persistence.save(model, path)


def round_trip(model, tmp_path, name="model.deepae"):
    path = tmp_path / name
    save(model, path)
    return deepae.load(path)


def assert_same_state(model, loaded):
    assert type(loaded) is type(model)
    assert repr(loaded.get_params(deep=True)) == repr(model.get_params(deep=True))
    fitted = sorted(k for k in vars(model) if k.endswith("_") and not k.startswith("_"))
    assert sorted(k for k in vars(loaded) if k.endswith("_") and not k.startswith("_")) == fitted
    for name in ("history_", "pretraining_history_", "n_features_in_", "n_epochs_"):
        if hasattr(model, name):
            assert getattr(loaded, name) == getattr(model, name), name


def assert_same_outputs(model, loaded, data=X):
    for method in ("transform", "score_samples", "reconstruction_error", "predict",
                   "predict_proba", "decision_function"):
        if hasattr(model, method):
            expected, got = getattr(model, method)(data), getattr(loaded, method)(data)
            assert got.dtype == expected.dtype, method
            np.testing.assert_array_equal(got, expected, err_msg=method)
    if hasattr(model, "inverse_transform") and hasattr(model, "transform"):
        codes = model.transform(data)
        np.testing.assert_array_equal(loaded.inverse_transform(codes),
                                      model.inverse_transform(codes))


# --- round trips ---------------------------------------------------------------------------

CLOSED_FORM = [
    deepae.PCA(n_components=3),
    deepae.PCA(n_components=0.8, whiten=True),
    deepae.LinearAutoencoder(n_components=2),
    deepae.LinearAutoencoder(n_components=2, center=True),
]


@pytest.mark.parametrize("model", CLOSED_FORM, ids=repr)
def test_closed_form_round_trip(model, tmp_path):
    model.fit(X)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)
    assert_same_outputs(model, loaded, X.astype(np.float32))
    for name in ("components_", "mean_", "explained_variance_", "singular_values_"):
        assert getattr(loaded, name).dtype == getattr(model, name).dtype
    assert type(loaded.noise_variance_) is type(model.noise_variance_)


@pytest.mark.parametrize("cls", [deepae.PCA, deepae.LinearAutoencoder])
def test_partial_fit_continues_after_load(cls, tmp_path):
    batches = np.array_split(X, 4)
    model = cls(n_components=3)
    for batch in batches[:2]:
        model.partial_fit(batch)
    loaded = round_trip(model, tmp_path)
    for batch in batches[2:]:
        model.partial_fit(batch)
        loaded.partial_fit(batch)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    np.testing.assert_array_equal(loaded.mean_, model.mean_)
    assert loaded.n_samples_seen_ == model.n_samples_seen_ == len(X)
    np.testing.assert_allclose(loaded.components_, cls(n_components=3).fit(X).components_,
                               atol=1e-8)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("cls", [deepae.Autoencoder, deepae.DenoisingAutoencoder])
def test_autoencoder_round_trip(cls, tied, tmp_path):
    model = cls(hidden_size=4, tied=tied, max_epochs=3, random_state=0, device="cpu").fit(X)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)
    assert_same_outputs(model, loaded, X.astype(np.float32))
    for name in ("components_", "intercept_", "decoder_components_", "decoder_intercept_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.module_.training == model.module_.training
    assert loaded.module_.tied == tied


def test_loading_leaves_torch_random_state_alone(tmp_path):
    model = deepae.Autoencoder(hidden_size=3, max_epochs=1, random_state=0, device="cpu").fit(X)
    path = tmp_path / "ae.deepae"
    model.save(path)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    deepae.load(path)
    assert torch.equal(torch.rand(3), expected)


def test_loaded_model_can_be_refitted_and_cloned(tmp_path):
    from sklearn.base import clone

    model = deepae.Autoencoder(hidden_size=3, max_epochs=2, random_state=0, device="cpu")
    loaded = round_trip(model.fit(X), tmp_path)
    np.testing.assert_array_equal(clone(loaded).fit(X).transform(X), model.transform(X))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_model_saved_for_cuda_loads_on_the_cpu(tmp_path):
    model = deepae.Autoencoder(hidden_size=3, max_epochs=1, random_state=0, device="cpu").fit(X)
    model.set_params(device="cuda")  # as if it had been trained on a GPU machine
    path = tmp_path / "gpu.deepae"
    model.save(path)
    with pytest.warns(UserWarning, match="CUDA is not available.*on the CPU"):
        loaded = deepae.load(path)
    assert loaded.device == "cuda" and next(loaded.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_feature_names_round_trip(tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=[f"col{i}" for i in range(X.shape[1])])
    model = deepae.PCA(n_components=2).fit(frame)
    loaded = round_trip(model, tmp_path)
    assert loaded.feature_names_in_.tolist() == model.feature_names_in_.tolist()
    assert loaded.feature_names_in_.dtype == object
    np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))
    assert loaded.get_feature_names_out().tolist() == ["pca0", "pca1"]


def test_unfitted_estimator_round_trip(tmp_path):
    model = deepae.Autoencoder(hidden_size=5, noise="gaussian", noise_level=0.1)
    loaded = round_trip(model, tmp_path)
    assert loaded.get_params() == model.get_params()
    assert not [k for k in vars(loaded) if k.endswith("_")]


def test_values_of_every_kind_round_trip(tmp_path):
    model = deepae.PCA(n_components=2).fit(X)
    values = {
        "tuple_": (1, 2.5, None, "x", (True, False)),
        "floats_": [float("nan"), float("inf"), -float("inf"), 0.1, -0.0, 1e-310],
        "dict_": {"a": [{"epoch": 1, "loss": 0.5}], "$dollar": 1, 3: "int key", (1, 2): "t"},
        "scalars_": [np.float32(0.1), np.float64(1 / 3), np.int64(-7), np.bool_(True),
                     np.uint8(200), np.str_("s"), np.float16(0.5)],
        "strings_": np.array([["a", "bc"], ["déf", ""]]),
        "objects_": np.array(["x", 1, None], dtype=object),
        "bytes_": np.array([b"ab", b"\xff"]),
        "ints_": np.arange(12, dtype=np.int32).reshape(3, 4),
        "uints_": np.arange(3, dtype=np.uint64),
        "bools_": np.array([True, False]),
        "half_": np.linspace(0, 1, 5, dtype=np.float16),
        "zero_d_": np.array(2.5),
        "empty_": np.zeros((0, 3)),
        "fortran_": np.asfortranarray(RNG.normal(size=(3, 4))),
        "big_endian_": np.arange(4, dtype=">f8"),
        "tensor_": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
        "device_": torch.device("cpu"),
        "random_state_": np.random.RandomState(5),
    }
    for name, value in values.items():
        setattr(model, name, value)
    loaded = round_trip(model, tmp_path)
    for name, value in values.items():
        got = getattr(loaded, name)
        if isinstance(value, np.ndarray):
            assert got.shape == value.shape and got.dtype.kind == value.dtype.kind, name
            assert got.tolist() == value.tolist(), name
            assert got.dtype == value.dtype.newbyteorder("="), name
        elif isinstance(value, torch.Tensor):
            assert got.dtype == value.dtype and torch.equal(got, value)
        elif isinstance(value, np.random.RandomState):
            assert got.randint(10**9) == value.randint(10**9)
        elif name == "floats_":
            assert [repr(v) for v in got] == [repr(v) for v in value]
        elif name == "scalars_":
            assert [(type(v), v) for v in got] == [(type(v), v) for v in value]
        else:
            assert got == value, name
            assert type(got) is type(value)


def test_nested_estimator_params_round_trip(tmp_path):
    """A parameter holding an estimator (fitted or not) is saved recursively."""
    model = deepae.PCA(n_components=2)
    model.n_components = deepae.PCA(n_components=1).fit(X)  # any param slot will do
    model.extra_ = [deepae.LinearAutoencoder(n_components=2).fit(X)]
    loaded = round_trip(model, tmp_path)
    assert isinstance(loaded.n_components, deepae.PCA)
    np.testing.assert_array_equal(loaded.n_components.transform(X), model.n_components.transform(X))
    np.testing.assert_array_equal(loaded.extra_[0].transform(X), model.extra_[0].transform(X))
    assert loaded.n_components.get_params() == deepae.PCA(n_components=1).get_params()


def test_file_records_versions(tmp_path):
    path = tmp_path / "pca.deepae"
    deepae.PCA(2).fit(X).save(path)
    header = persistence.read_header(path)
    assert header["format"] == "deepae"
    assert header["format_version"] == str(persistence.FORMAT_VERSION)
    assert header["deepae_version"] == deepae.__version__
    assert header["class"] == "PCA"
    config = json.loads(header["config"])
    assert config["$estimator"]["class"] == "PCA"
    assert config["$estimator"]["params"] == {
        "n_components": 2, "copy": True, "whiten": False, "svd_solver": "auto", "tol": 0.0,
        "iterated_power": "auto", "n_oversamples": 10, "power_iteration_normalizer": "auto",
        "random_state": None, "device": "auto"}


def test_cannot_save_foreign_objects(tmp_path):
    from sklearn.decomposition import PCA as SklearnPCA

    class MyPCA(deepae.PCA):
        pass

    with pytest.raises(TypeError, match="only deepae's estimators"):
        MyPCA(2).fit(X).save(tmp_path / "a.deepae")
    model = deepae.PCA(2).fit(X)
    model.other_ = SklearnPCA(2)
    with pytest.raises(TypeError, match="only deepae's estimators"):
        model.save(tmp_path / "b.deepae")
    model.other_ = object()
    with pytest.raises(TypeError, match=r"model\.other_.*object"):
        model.save(tmp_path / "c.deepae")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_every_estimator_has_save():
    classes = [estimator_class(name) for name in ESTIMATOR_CLASSES]
    missing = [cls.__name__ for cls in classes if cls is not None and not issubclass(cls,
                                                                                     SaveMixin)]
    assert {"PCA", "Autoencoder"}.isdisjoint(missing)
    if missing:  # deepae.persistence.save works for them; only the .save method is missing
        pytest.xfail(f"{', '.join(missing)} should inherit deepae.persistence.SaveMixin")


# --- the deep models and the outlier detector (skipped until they exist) --------------------

def test_stacked_autoencoder_round_trip(tmp_path):
    cls = deep_class("StackedAutoencoder")
    model = make(cls, hidden_layer_sizes=(5, 3), **FAST).fit(X)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)


@pytest.mark.parametrize("pretraining", ["denoising", None])
def test_deep_classifier_round_trip(pretraining, tmp_path):
    cls = deep_class("DeepClassifier")
    model = make(cls, hidden_layer_sizes=(5, 4), pretraining=pretraining, **FAST)
    model.fit(X, LABELS)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)
    assert loaded.classes_.tolist() == ["big", "small"]
    assert loaded.classes_.dtype == model.classes_.dtype
    assert set(loaded.predict(X)) <= {"big", "small"}


def test_deep_regressor_round_trip(tmp_path):
    cls = deep_class("DeepRegressor")
    model = make(cls, hidden_layer_sizes=(5,), **FAST).fit(X, TARGETS)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)


@pytest.mark.parametrize("base", ["pca", "autoencoder"])
def test_outlier_detector_round_trip(base, tmp_path):
    cls = deep_class("ReconstructionOutlierDetector")
    inner = (deepae.PCA(n_components=2) if base == "pca" else
             deepae.Autoencoder(hidden_size=3, max_epochs=3, random_state=0, device="cpu"))
    model = make(cls, model=inner, contamination=0.1, random_state=0).fit(X)
    loaded = round_trip(model, tmp_path)
    assert_same_state(model, loaded)
    assert_same_outputs(model, loaded)


# --- bad files -----------------------------------------------------------------------------

class MarkerPayload:
    """Unpickling this creates the file ``marker``: proof that a pickle was executed."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.deepae"
    path.write_bytes(pickle.dumps(MarkerPayload(marker)))
    with pytest.raises(ValueError, match="evil.deepae.*pickle"):
        deepae.load(path)
    torch.save({"x": MarkerPayload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt.*zip"):
        deepae.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_zip_claiming_a_config_is_refused(tmp_path):
    path = tmp_path / "archive.deepae"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"class": "PCA"}))
        archive.writestr("data.pkl", pickle.dumps(MarkerPayload(tmp_path / "pwned")))
    with pytest.raises(ValueError, match="archive.deepae"):
        deepae.load(path)
    assert not (tmp_path / "pwned").exists()


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model = deepae.DenoisingAutoencoder(hidden_size=3, max_epochs=1, random_state=0,
                                        device="cpu").fit(X)
    path = tmp_path / "dae.deepae"
    model.save(path)

    def forbidden(*args, **kwargs):
        raise AssertionError("loading a model file must not unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = deepae.load(path)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


@pytest.fixture()
def pca_file(tmp_path):
    path = tmp_path / "pca.deepae"
    deepae.PCA(n_components=2).fit(X).save(path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 9, 40, -1])
def test_truncated_file_is_refused(pca_file, keep):
    data = pca_file.read_bytes()
    pca_file.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(ValueError, match=r"pca\.deepae.*(truncated|header)"):
        deepae.load(pca_file)


def test_modified_file_is_refused(pca_file):
    data = bytearray(pca_file.read_bytes())
    data[-3] ^= 0x01  # a bit of a weight
    pca_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        deepae.load(pca_file)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        deepae.load(tmp_path / "nope.deepae")


def forge(path, config, tensors=None, **metadata):
    """A well-formed deepae file with the given (possibly malicious) configuration."""
    tensors = tensors or {}
    text = json.dumps(config)
    header = {"format": "deepae", "format_version": "1", "deepae_version": "0", "class": "x",
              "config": text, "sha256": persistence._digest(text, tensors)}
    header.update(metadata)
    path.write_bytes(save_safetensors(tensors, metadata=header))
    return path


def estimator_config(name="PCA", params=None, attributes=None, private=None):
    return {"$estimator": {"class": name, "params": params or {},
                           "attributes": attributes or {}, "private": private or {}}}


@pytest.mark.parametrize("config, message", [
    (estimator_config("os.system"), "unknown estimator class 'os.system'"),
    (estimator_config("BaseEstimator"), "unknown estimator class"),
    (estimator_config("Popen"), "unknown estimator class"),
    (estimator_config(params={"n_components": 2, "evil": 1}), "no parameter"),
    (estimator_config(attributes={"__class__": "x"}), "cannot have a fitted attribute"),
    (estimator_config(attributes={"_moments_": 1}), "cannot have a fitted attribute"),
    (estimator_config(attributes={"n_components": 1}), "cannot have"),
    (estimator_config("Autoencoder", attributes={"components_": 1}), "cannot have"),
    (estimator_config(private={"_secret": 1}), "unexpected private attribute"),
    (estimator_config(attributes={"a_": {"$pickle": "gASV"}}), "unknown value tag"),
    (estimator_config(attributes={"a_": {"$array": "missing"}}), "missing tensor"),
    (estimator_config(attributes={"a_": {"$ndarray": {"dtype": "V8", "shape": [1],
                                                      "items": [1]}}}), "dtype"),
    (estimator_config(attributes={"a_": {"$scalar": ["O", 1]}}), "bad \\$scalar"),
    (estimator_config(attributes={"a_": {"$module": {"state": {}}}}), "cannot rebuild"),
    ({"$tuple": [1]}, "does not describe an estimator"),
    ([1, 2], "does not describe an estimator"),
])
def test_forged_configurations_are_refused(tmp_path, config, message):
    path = forge(tmp_path / "forged.deepae", config)
    with pytest.raises(ValueError, match=f"forged.deepae.*{message}"):
        deepae.load(path)


def test_module_weights_that_do_not_fit_are_refused(tmp_path):
    model = deepae.Autoencoder(hidden_size=3, max_epochs=1, random_state=0, device="cpu").fit(X)
    path = tmp_path / "ae.deepae"
    model.save(path)
    config = json.loads(persistence.read_header(path)["config"])
    config["$estimator"]["params"]["hidden_size"] = 4  # the weights have 3 rows
    forge(path, config, {key: load_safetensors(path.read_bytes())[key]
                         for key in ("model.module_.weight", "model.module_.bias",
                                     "model.module_.decoder_bias")})
    with pytest.raises(ValueError, match="do not fit the module"):
        deepae.load(path)


def test_newer_format_and_foreign_safetensors_are_refused(tmp_path):
    path = forge(tmp_path / "new.deepae", estimator_config(), format_version="99")
    with pytest.raises(ValueError, match="format version 99.*upgrade"):
        deepae.load(path)
    plain = tmp_path / "weights.safetensors"
    plain.write_bytes(save_safetensors({"w": torch.zeros(2)}))
    with pytest.raises(ValueError, match="without deepae metadata"):
        deepae.load(plain)


def test_deeply_nested_config_is_refused(tmp_path):
    text = ('{"$estimator": {"class": "PCA", "params": {}, "private": {}, "attributes": '
            '{"a_": ' + "[" * 100_000 + "]" * 100_000 + "}}}")
    path = tmp_path / "deep.deepae"
    metadata = {"format": "deepae", "format_version": "1", "class": "PCA", "config": text,
                "sha256": persistence._digest(text, {})}
    path.write_bytes(save_safetensors({}, metadata=metadata))
    with pytest.raises(ValueError, match="deep.deepae"):
        deepae.load(path)


# --- loading is bounded by the file ---------------------------------------------------------

MEASURE_LOADS = """
import json, sys
import deepae
# the modules imported beforehand, so that only loading is measured
import deepae.autoencoder, deepae.deep, deepae.linear, deepae.outliers, deepae.supervised

def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))

results = []
for path in sys.argv[1:]:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets the peak resident set size (VmHWM)
    before = rss("VmRSS:")
    try:
        model = deepae.load(path)
        module = getattr(model, "module_", None)  # reads every weight: all pages resident
        sum(float(p.sum()) for p in ([] if module is None else module.parameters()))
        error = None
    except ValueError as exception:
        error = str(exception)
    results.append({"extra": rss("VmHWM:") - before, "error": error})
print(json.dumps(results))
"""


def measure_loads(paths) -> list[dict]:
    """The peak extra resident memory of loading each file (in a fresh process) and its error."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("measuring peak memory needs Linux's /proc/self/clear_refs")
    out = subprocess.run([sys.executable, "-c", MEASURE_LOADS, *map(str, paths)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    return json.loads(out)


def edited(path, model, edit):
    """``model`` saved to ``path`` with its configuration changed by ``edit`` (checksum
    recomputed, as anyone can)."""
    save(model, path)
    config = json.loads(persistence.read_header(path)["config"])
    edit(config["$estimator"])
    return forge(path, config, load_safetensors(path.read_bytes()))


def raw_safetensors(path, header: dict, data: bytes):
    """A file framed as safetensors by hand (so that it may lie about its tensors)."""
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)
    return path


def set_in(part, name, value):
    return lambda config: config[part].__setitem__(name, value)


def crafted_files(tmp_path) -> dict:
    """Files whose configurations ask for far more than their tensors hold."""
    ae = deepae.Autoencoder(hidden_size=3, max_epochs=1, random_state=0, device="cpu").fit(X)
    pca = deepae.PCA(n_components=2).fit(X)
    stacked = deepae.StackedAutoencoder((4, 2), max_epochs=1, pretrain_epochs=1,
                                        random_state=0, device="cpu").fit(X)
    detector = deepae.ReconstructionOutlierDetector(deepae.PCA(n_components=2)).fit(X)
    image_detector = deepae.ReconstructionOutlierDetector(deepae.ConvolutionalAutoencoder(
        code_size=2, channels=(2,), max_epochs=1, random_state=0, device="cpu")).fit(X)
    vae = deepae.VariationalAutoencoder(code_size=2, hidden_size=4, decoder_blur=1.0,
                                        max_epochs=1, random_state=0, device="cpu").fit(X)
    huge_text = {"$ndarray": {"dtype": "<U100000000", "shape": [4], "items": list("abcd")}}
    config = estimator_config(attributes={"a_": 1})
    files = {
        "hidden_size 1e8": (edited(tmp_path / "a.deepae", ae,
                                   set_in("params", "hidden_size", 100_000_000)), "beyond"),
        "hidden_size 1e7": (edited(tmp_path / "b.deepae", ae,
                                   set_in("params", "hidden_size", 10_000_000)),
                            "do not fit.*10000000"),
        "n_features_in_": (edited(tmp_path / "c.deepae", ae,
                                  set_in("attributes", "n_features_in_", 16_000_000)),
                           "do not fit"),
        "n_components": (edited(tmp_path / "d.deepae", pca,
                                set_in("params", "n_components", 10**12)), "beyond"),
        "n_components_": (edited(tmp_path / "e.deepae", pca,
                                 set_in("attributes", "n_components_", 10_000_000)), "shape"),
        "PCA n_features_in_": (edited(tmp_path / "f.deepae", pca,
                                      set_in("attributes", "n_features_in_", 9_000_000)),
                               "shape"),
        "layer list": (edited(tmp_path / "g.deepae", stacked,
                              set_in("params", "hidden_layer_sizes", [10**6] * 100_000)),
                       "entries"),
        "wide layer": (edited(tmp_path / "h.deepae", stacked,
                              set_in("params", "hidden_layer_sizes", [4_000_000, 2])),
                       "do not fit"),
        "detector": (edited(tmp_path / "i.deepae", detector,
                            set_in("attributes", "n_features_in_", 5_000_000)), "reads 6"),
        "blur": (edited(tmp_path / "o.deepae", image_detector,
                        set_in("attributes", "residual_blur_", 1e9)), "not a blur"),
        "row norm": (edited(tmp_path / "p.deepae", detector,
                            set_in("attributes", "row_norm_", -1.0)), "not a finite norm"),
        "decoder blur": (edited(tmp_path / "q.deepae", vae,
                                set_in("params", "decoder_blur", 1e9)), "at least as wide"),
        "huge string array": (forge(tmp_path / "j.deepae", estimator_config(
            attributes={"a_": huge_text})), "more than"),
        "nested": (forge(tmp_path / "k.deepae", estimator_config(attributes={"a_": (
            json.loads("[" * 40 + "]" * 40))})), "nested more than 32"),
        "huge JSON": (forge(tmp_path / "l.deepae", {**config, "pad": "x" * 5_000_000}),
                      "header of .* bytes is larger"),
        "lying tensor": (raw_safetensors(tmp_path / "m.deepae", {
            "__metadata__": {"format": "deepae", "format_version": "1", "class": "PCA",
                             "config": json.dumps(config), "sha256": "0"},
            "w": {"dtype": "F32", "shape": [100_000_000], "data_offsets": [0, 8]}},
            bytes(8)), "does not fill"),
        "tensor beyond the file": (raw_safetensors(tmp_path / "n.deepae", {
            "__metadata__": {"format": "deepae", "format_version": "1", "class": "PCA",
                             "config": json.dumps(config), "sha256": "0"},
            "w": {"dtype": "F32", "shape": [100_000_000], "data_offsets": [0, 400_000_000]}},
            bytes(8)), "truncated"),
    }
    return files


def test_crafted_files_are_refused_with_bounded_memory(tmp_path):
    files = crafted_files(tmp_path)
    results = measure_loads(path for path, _ in files.values())
    for (case, (path, message)), result in zip(files.items(), results, strict=True):
        assert result["error"] is not None, case
        assert str(path) in result["error"] and "\n" not in result["error"], case
        assert re.search(message, result["error"]), (case, result["error"])
        with pytest.raises(ValueError, match=message):
            deepae.load(path)
        # far below what the configurations ask for (gigabytes); the parsed header at most
        assert result["extra"] < 2 * path.stat().st_size + 64 * 2**20, (case, result)


def test_peak_memory_of_a_load_is_bounded_by_the_file(tmp_path):
    model = deepae.Autoencoder(hidden_size=1000, tied=False, device="cpu")
    model.n_features_in_ = 4000
    model.module_ = model._new_module()  # 2 × 4000 × 1000 float32 weights: 32 MB
    path = tmp_path / "big.deepae"
    model.save(path)
    size = path.stat().st_size
    [result] = measure_loads([path])
    assert result["error"] is None
    assert size <= result["extra"] < 2 * size + 64 * 2**20, (size, result)
    for weight in deepae.load(path).module_.parameters():  # each in memory of its own
        assert weight.untyped_storage().nbytes() == weight.numel() * weight.element_size()
