"""Tests of the autoencoder engine: module, corruption, the training loop and the estimators."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepae import Autoencoder, DenoisingAutoencoder, LinearAutoencoder, training
from deepae.autoencoder import Penalties, reconstruction_objective
from deepae.corruption import Corruption
from deepae.modules import ACTIVATIONS, contractive_penalty, reconstruction_loss, sparsity_penalty
from deepae.modules import Autoencoder as AutoencoderModule
from deepae.training import TrainingConfig, evaluate, train


def largest_principal_angle(A: np.ndarray, B: np.ndarray) -> float:
    """Largest principal angle between the row spaces of A and B (scipy-free reference)."""
    Qa, _ = np.linalg.qr(A.T)
    Qb, _ = np.linalg.qr(B.T)
    cosines = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1, 1)))


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data / 16.0
    return X[:1200], X[1200:]


@parametrize_with_checks([Autoencoder(max_epochs=20), DenoisingAutoencoder(hidden_size=4,
                                                                           max_epochs=20)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- torch layer -------------------------------------------------------------------------

@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_gradients_match_finite_differences(tied, activation):
    torch.manual_seed(0)
    module = AutoencoderModule(5, 3, activation, tied, "sigmoid").double()
    names = [name for name, _ in module.named_parameters()]
    x = torch.rand(4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.rand(4, 5, dtype=torch.float64)

    def loss(x, *params):
        logits = torch.func.functional_call(module, dict(zip(names, params, strict=True)), (x,))
        return (reconstruction_loss(logits, target, "sigmoid", "squared_error")
                + reconstruction_loss(logits, target, "sigmoid", "binary_cross_entropy"))

    params = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())
    assert torch.autograd.gradcheck(loss, (x, *params))


def test_tied_decoder_is_encoder_transpose():
    module = AutoencoderModule(6, 2, "tanh", tied=True)
    h = torch.randn(3, 2)
    expected = h @ module.weight + module.decoder_bias
    torch.testing.assert_close(module.decode(h), expected)
    assert "tied=True" in repr(module)
    assert sum(p.numel() for p in module.parameters()) == 6 * 2 + 2 + 6


def test_binary_cross_entropy_matches_torch_on_probabilities():
    logits, target = torch.randn(7, 4), torch.rand(7, 4)
    ours = reconstruction_loss(logits, target, "sigmoid", "binary_cross_entropy")
    reference = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), target,
                                                         reduction="sum") / 7
    torch.testing.assert_close(ours, reference)


# --- sparse and contractive penalties ----------------------------------------------------

def test_sparsity_penalty_is_the_kl_divergence_of_the_mean_activations():
    code = torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.7, 0.5]], dtype=torch.float64)
    rho = 0.2
    # mean activations 0.2, 0.8, 0.5: KL(0.2‖0.2) = 0, KL(0.2‖0.8) = 0.2 ln(1/4) + 0.8 ln 4,
    # KL(0.2‖0.5) = 0.2 ln 0.4 + 0.8 ln 1.6
    expected = 0.6 * np.log(4) + 0.2 * np.log(0.4) + 0.8 * np.log(1.6)
    torch.testing.assert_close(sparsity_penalty(code, rho, "sigmoid").item(), expected)
    # tanh activations h count as (h + 1) / 2
    torch.testing.assert_close(sparsity_penalty(2 * code - 1, rho, "tanh").item(), expected)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_contractive_penalty_is_the_jacobian_norm_computed_by_autograd(activation):
    torch.manual_seed(0)
    module = AutoencoderModule(5, 3, activation).double()
    with torch.no_grad():
        module.bias.normal_()
    x = torch.randn(4, 5, dtype=torch.float64)
    norms = [torch.autograd.functional.jacobian(module.encode, row).square().sum() for row in x]
    ours = contractive_penalty(module.encode(x), module.weight, activation)
    torch.testing.assert_close(ours, torch.stack(norms).mean())


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_penalty_gradients_match_finite_differences(activation):
    torch.manual_seed(0)
    x = torch.rand(6, 5, dtype=torch.float64)

    def penalties(weight, bias):
        code = ACTIVATIONS[activation](x @ weight.t() + bias)
        return (sparsity_penalty(code, 0.1, activation)
                + contractive_penalty(code, weight, activation))

    weight = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(penalties, (weight, bias))


def test_objective_adds_the_weighted_penalties_to_the_reconstruction_error():
    torch.manual_seed(0)
    module = AutoencoderModule(5, 3, "sigmoid")
    x = torch.rand(8, 5)
    penalties = Penalties(sparsity_target=0.1, sparsity_weight=0.5, contractive_weight=2.0)
    loss = reconstruction_objective(None, "linear", "squared_error", penalties=penalties)
    code = module.encode(x)
    expected = (reconstruction_loss(module(x), x, "linear", "squared_error")
                + 0.5 * sparsity_penalty(code, 0.1, "sigmoid")
                + 2.0 * contractive_penalty(code, module.weight, "sigmoid"))
    torch.testing.assert_close(loss(module, (x,), None), expected)


def test_sparse_and_contractive_autoencoders_do_what_they_say(digits):
    X, _ = digits
    params = dict(hidden_size=50, activation="sigmoid", max_epochs=30, learning_rate=1e-2,
                  random_state=0)
    plain = Autoencoder(**params).fit(X)
    sparse = Autoencoder(**params, sparsity_target=0.05, sparsity_weight=1.0).fit(X)
    assert plain.transform(X).mean() > 0.2
    assert abs(sparse.transform(X).mean(axis=0).mean() - 0.05) < 0.02
    contractive = Autoencoder(**params, contractive_weight=0.5).fit(X)

    def jacobian_norm(model):
        code = torch.as_tensor(model.transform(X), dtype=torch.float32)
        return contractive_penalty(code, torch.as_tensor(model.components_), "sigmoid").item()

    assert jacobian_norm(contractive) < 0.5 * jacobian_norm(plain)


# --- corruption ---------------------------------------------------------------------------

def test_corruptions_are_what_they_say():
    x = torch.rand(400, 50) + 0.5
    original = x.clone()
    g = torch.Generator().manual_seed(0)
    masked = Corruption("masking", 0.3)(x, g)
    assert abs((masked == 0).float().mean().item() - 0.3) < 0.02
    assert torch.equal(masked[masked != 0], x[masked != 0])
    noisy = Corruption("gaussian", 0.2)(x, g)
    assert abs((noisy - x).std().item() - 0.2) < 0.01
    low, high = x.amin(0), x.amax(0)
    salted = Corruption("salt_and_pepper", 0.4, low, high)(x, g)
    changed = salted != x
    assert abs(changed.float().mean().item() - 0.4) < 0.02
    is_extreme = (salted == low) | (salted == high)
    assert bool(is_extreme[changed].all())
    assert abs((salted == high)[changed].float().mean().item() - 0.5) < 0.03
    assert torch.equal(x, original)
    again = Corruption("masking", 0.3)(x, torch.Generator().manual_seed(0))
    assert torch.equal(again, masked)


# --- the training loop --------------------------------------------------------------------

def linear_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    return rng.standard_normal((n, 8)) * np.array([4, 3, 2.5, 1, 0.8, 0.6, 0.4, 0.3]) @ rotation


def test_gradient_trained_linear_autoencoder_finds_the_closed_form_subspace():
    X = linear_data()
    closed_form = LinearAutoencoder(n_components=3).fit(X)
    trained = Autoencoder(3, activation="linear", bias=False, learning_rate=1e-2,
                          batch_size=len(X), max_epochs=300, early_stopping=False,
                          random_state=0).fit(X)
    assert largest_principal_angle(trained.components_, closed_form.components_) < 1e-2
    np.testing.assert_allclose(trained.reconstruction_error(X).mean(),
                               closed_form.reconstruction_error(X).mean(), rtol=1e-4)


def test_early_stopping_restores_the_best_epoch():
    torch.manual_seed(0)
    X = torch.randn(40, 20)
    valid = torch.randn(200, 20)
    module = AutoencoderModule(20, 30, "tanh", tied=False)

    def loss_fn(model, batch, generator):
        return reconstruction_loss(model(batch[0]), batch[0], "linear", "squared_error")

    config = TrainingConfig(learning_rate=3e-2, batch_size=8, max_epochs=200, patience=5)
    history = train(module, loss_fn, (X,), config, (valid,))
    losses = [h["valid_loss"] for h in history]
    best = int(np.argmin(losses))
    assert best < len(history) - 1  # it overfit and stopped after the best epoch
    assert len(history) == best + 1 + config.patience
    assert evaluate(module, loss_fn, (valid,), 0) == pytest.approx(losses[best], rel=1e-6)


def test_same_seed_same_weights_and_different_seed_different_weights(digits):
    X, _ = digits
    params = dict(hidden_size=16, max_epochs=5, noise="masking", noise_level=0.2)
    a = Autoencoder(**params, random_state=3).fit(X)
    b = Autoencoder(**params, random_state=3).fit(X)
    c = Autoencoder(**params, random_state=4).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    assert not np.array_equal(a.components_, c.components_)


def test_divergence_is_a_clear_error():
    X = linear_data(100)
    model = Autoencoder(4, optimizer="sgd", learning_rate=1e3, max_epochs=5, random_state=0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        model.fit(X * 1e3)
    assert np.isfinite(model.module_.weight.detach().cpu().numpy()).all()


def test_interrupt_keeps_the_best_weights():
    torch.manual_seed(0)
    X, valid = torch.randn(64, 6), torch.randn(32, 6)
    module = AutoencoderModule(6, 3)
    calls = {"n": 0}

    def loss_fn(model, batch, generator):
        calls["n"] += 1
        if calls["n"] == 30:
            raise KeyboardInterrupt
        return reconstruction_loss(model(batch[0]), batch[0], "linear", "squared_error")

    config = TrainingConfig(learning_rate=1e-2, batch_size=16, max_epochs=100)
    with pytest.warns(UserWarning, match="interrupted"):
        history = train(module, loss_fn, (X,), config, (valid,))
    assert 0 < len(history) < 10
    best = min(h["valid_loss"] for h in history)
    calls["n"] = -(10**6)
    assert evaluate(module, loss_fn, (valid,), 0) == pytest.approx(best, rel=1e-6)


def test_progress_bar_only_when_verbose(digits, capsys):
    X, _ = digits
    Autoencoder(8, max_epochs=2, random_state=0, verbose=0).fit(X)
    assert capsys.readouterr().err == ""
    Autoencoder(8, max_epochs=2, random_state=0, verbose=1).fit(X)
    assert "Autoencoder" in capsys.readouterr().err


# --- the estimators -----------------------------------------------------------------------

def test_denoising_reconstructs_corrupted_digits_better(digits):
    X_train, X_test = digits
    params = dict(hidden_size=32, max_epochs=60, random_state=0)
    plain = Autoencoder(**params).fit(X_train)
    denoising = DenoisingAutoencoder(**params, noise_level=0.3).fit(X_train)
    rng = np.random.default_rng(0)
    corrupted = X_test * (rng.random(X_test.shape) >= 0.3)

    def error(model):
        rebuilt = model.inverse_transform(model.transform(corrupted))
        return ((rebuilt - X_test) ** 2).sum(1).mean()

    assert error(denoising) < 0.8 * error(plain)


def test_fitted_attributes(digits):
    X, _ = digits
    model = Autoencoder(8, max_epochs=3, random_state=0).fit(X)
    assert model.components_.shape == (8, 64)
    assert model.intercept_.shape == (8,)
    np.testing.assert_array_equal(model.decoder_components_, model.components_.T)
    assert model.decoder_intercept_.shape == (64,)
    assert model.n_epochs_ == len(model.history_) == 3
    assert set(model.history_[0]) == {"epoch", "train_loss", "valid_loss", "seconds"}
    untied = Autoencoder(8, tied=False, max_epochs=1, random_state=0).fit(X)
    assert untied.decoder_components_.shape == (64, 8)


def test_outputs_agree_with_the_weights(digits):
    X, _ = digits
    model = Autoencoder(8, max_epochs=3, random_state=0).fit(X)
    codes = np.tanh(X @ model.components_.T.astype(np.float64) + model.intercept_)
    np.testing.assert_allclose(model.transform(X), codes, rtol=1e-6, atol=1e-6)
    rebuilt = codes @ model.decoder_components_.T + model.decoder_intercept_
    np.testing.assert_allclose(model.inverse_transform(codes), rebuilt, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.reconstruction_error(X), ((rebuilt - X) ** 2).sum(1),
                               rtol=1e-5)
    np.testing.assert_array_equal(model.score_samples(X), -model.reconstruction_error(X))
    assert model.score(X) == pytest.approx(-model.reconstruction_error(X).mean())
    assert model.transform(X.astype(np.float32)).dtype == np.float32
    assert model.transform(torch.tensor(X[:5])).shape == (5, 8)


def test_sigmoid_output_with_cross_entropy(digits):
    X, _ = digits
    model = Autoencoder(16, output_activation="sigmoid", loss="binary_cross_entropy",
                        max_epochs=5, random_state=0).fit(X)
    rebuilt = model.inverse_transform(model.transform(X))
    assert rebuilt.min() >= 0 and rebuilt.max() <= 1
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(activation="softplus"), "activation"),
        (dict(noise="dropout", noise_level=0.1), "noise"),
        (dict(noise="masking", noise_level=1.5), "noise_level"),
        (dict(noise="gaussian", noise_level=-1.0), "noise_level"),
        (dict(hidden_size=0), "hidden_size"),
        (dict(loss="binary_cross_entropy"), "sigmoid"),
        (dict(loss="hinge"), "loss"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(batch_size=0), "batch_size"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(device="tpu"), "device"),
        (dict(sparsity_weight=1.0, activation="relu"), "bounded range"),
        (dict(sparsity_weight=1.0, sparsity_target=0.0), "sparsity_target"),
        (dict(contractive_weight=-1.0), "contractive_weight"),
    ],
)
def test_bad_parameters_are_clear_errors(params, match):
    X = linear_data(50)
    with pytest.raises(ValueError, match=match):
        Autoencoder(**params, max_epochs=1).fit(X)


def test_cross_entropy_needs_data_in_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Autoencoder(output_activation="sigmoid", loss="binary_cross_entropy",
                    max_epochs=1).fit(linear_data(50))


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0]]), ValueError, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), ValueError, "infinity"),
        (np.zeros((0, 3)), ValueError, "0 sample"),
        (np.zeros(3), ValueError, "2D"),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, "float"),
    ],
)
def test_bad_input_is_a_clear_error(X, error, match):
    with pytest.raises(error, match=match):
        Autoencoder(max_epochs=1).fit(X)


def test_wrong_feature_count_after_fit(digits):
    X, _ = digits
    model = Autoencoder(4, max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :10])
    with pytest.raises(ValueError, match="hidden_size"):
        model.inverse_transform(np.zeros((2, 5)))


def test_reversed_and_strided_views_are_accepted():
    """A view with a negative stride (``X[::-1]``) is copied before torch sees it."""
    from deepae import DeepClassifier, VariationalAutoencoder

    X = linear_data(60)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    for model in (Autoencoder(3, max_epochs=2, random_state=0, device="cpu"),
                  VariationalAutoencoder(code_size=2, hidden_size=4, max_epochs=2,
                                         random_state=0, device="cpu")):
        model.fit(X[::-1])
        np.testing.assert_allclose(model.transform(X[::-1]), model.transform(X)[::-1],
                                   rtol=1e-6)
        codes = model.transform(X)[::-1]
        assert model.inverse_transform(codes).shape == X.shape
    classifier = DeepClassifier((4,), max_epochs=2, pretrain_epochs=1, random_state=0,
                                device="cpu").fit(X[::-1], y[::-1])
    np.testing.assert_array_equal(classifier.predict(X[::-1]), classifier.predict(X)[::-1])


@pytest.mark.parametrize("name, options", [("Adam", {}), ("SGD", {"momentum": 0.9})])
def test_eager_optimizers_step_as_torch_does(name, options):
    weights = []
    for cls in (getattr(training, name), getattr(torch.optim, name)):
        torch.manual_seed(0)
        layer = torch.nn.Linear(5, 3)
        optimizer = cls(layer.parameters(), lr=1e-2, fused=True, **options)
        for _ in range(5):
            optimizer.zero_grad(set_to_none=True)
            layer(torch.ones(4, 5)).square().sum().backward()
            optimizer.step()
        weights.append(layer.weight.detach().clone())
    assert torch.equal(*weights)


def test_fitting_does_not_import_torch_dynamo():
    code = ("import sys, numpy as np; from deepae import Autoencoder; "
            "Autoencoder(hidden_size=2, max_epochs=2).fit(np.random.rand(20, 4)); "
            "print('torch._dynamo' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr
