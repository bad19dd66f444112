"""Tests of the variational autoencoder: the ELBO and IWAE bounds against hand computations,
the estimator (scikit-learn checks, sampling, save and load, command line, parameters)."""

import copy

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae import VariationalAutoencoder, cli
from deepae.blur import GaussianBlur
from deepae.modules import VAE
from deepae.vae import elbo_objective

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = dict(code_size=3, hidden_size=32, max_epochs=15, learning_rate=3e-3, warmup_epochs=3,
            random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:600] / 16.0


@pytest.fixture(scope="module")
def fitted(digits):
    return VariationalAutoencoder(**FAST, device="cpu").fit(digits)  # its module meets CPU tensors


@parametrize_with_checks([VariationalAutoencoder(code_size=2, hidden_size=8, max_epochs=5),
                          VariationalAutoencoder(code_size=2, hidden_size=8, max_epochs=3,
                                                 n_importance_samples=5),
                          VariationalAutoencoder(code_size=2, hidden_size=8, max_epochs=3,
                                                 decoder_blur=1.0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- the bounds against numpy ----------------------------------------------------------------

def relu(x):
    return np.maximum(x, 0)


def tiny_module(decoder: str, variance: float | None = None) -> VAE:
    """A VAE with 3 features, 2 hidden units and a 2-dimensional code, fixed weights."""
    module = VAE(3, 2, 2, "relu", decoder, variance).double()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.as_tensor(rng.normal(scale=0.7, size=p.shape)))
    return module


def numpy_layers(module: VAE) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: (layer.weight.detach().numpy(), layer.bias.detach().numpy())
            for name, layer in module.named_children()}


def numpy_elbo_terms(module: VAE, x: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """``log p(x | z)`` at ``z = μ + σ ε`` and ``KL(q(z | x) ‖ p(z))`` of each row, by numpy
    from the module's weights (a ReLU VAE)."""
    layers = numpy_layers(module)

    def dense(name, h):
        weight, bias = layers[name]
        return h @ weight.T + bias

    h = relu(dense("encoder_hidden", x))
    mean, logvar = dense("encoder_mean", h), dense("encoder_logvar", h)
    kl = 0.5 * np.sum(mean**2 + np.exp(logvar) - 1 - logvar, axis=1)
    z = mean + np.exp(logvar / 2) * eps
    out = dense("decoder_output", relu(dense("decoder_hidden", z)))
    if module.decoder == "bernoulli":
        p = 1 / (1 + np.exp(-out))
        return np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1), kl
    v = np.exp(module.output_logvar.detach().double().numpy())  # learned, or log(variance)
    return np.sum(-0.5 * np.log(2 * np.pi * v) - (x - out) ** 2 / (2 * v), axis=1), kl


@pytest.mark.parametrize(("decoder", "variance"),
                         [("bernoulli", None), ("gaussian", None), ("gaussian", 0.3)])
def test_elbo_terms_match_a_hand_computation(decoder, variance):
    module = tiny_module(decoder, variance)
    x = np.array([[0.2, 0.9, 0.0], [1.0, 0.5, 0.3]])
    eps = torch.randn(2, 2, generator=torch.Generator().manual_seed(5),
                      dtype=torch.float64).numpy()
    log_lik, kl = numpy_elbo_terms(module, x, eps)
    xt = torch.as_tensor(x)
    for beta in (1.0, 0.25):
        ours = module.elbo(xt, torch.Generator().manual_seed(5), beta)
        np.testing.assert_allclose(ours.detach().numpy(), log_lik - beta * kl, rtol=1e-10)
    kl_only = module.elbo(xt, torch.Generator().manual_seed(5), 0.0) - module.elbo(
        xt, torch.Generator().manual_seed(5), 1.0)
    np.testing.assert_allclose(kl_only.detach().numpy(), kl, rtol=1e-10)


@pytest.mark.parametrize("variance", [None, 0.3])
def test_blurred_gaussian_decoder_is_a_correlated_gaussian(variance):
    from scipy.ndimage import gaussian_filter

    shape, sigma = (1, 2, 3), 0.7
    module = VAE(6, 2, 2, "relu", "gaussian", variance, GaussianBlur(shape, sigma)).double()
    if variance is None:
        with torch.no_grad():
            module.output_logvar.copy_(torch.linspace(-1.0, 0.5, 6))
    rng = np.random.default_rng(0)
    x, mean = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    ours = module.log_likelihood(torch.as_tensor(x), torch.as_tensor(mean)).detach().numpy()
    blur = gaussian_filter(np.eye(6).reshape(6, *shape), (0, 0, sigma, sigma),
                           mode="constant").reshape(6, 6).T  # B @ row = the blurred row
    blurred_variance = np.exp(module.output_logvar.detach().numpy())
    inverse = np.linalg.inv(blur)
    covariance = inverse @ np.diag(blurred_variance) @ inverse.T
    expected = [multivariate_normal(m, covariance).logpdf(r) for r, m in zip(x, mean, strict=True)]
    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_importance_weight_of_one_draw_is_p_of_x_and_z_over_q_of_z():
    module = tiny_module("bernoulli")
    x = torch.rand(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    iwae = module.importance_weighted(x, 1, torch.Generator().manual_seed(3))
    log_lik = module.elbo(x, torch.Generator().manual_seed(3), beta=0.0)  # log p(x | z)
    mean, logvar = (t.detach().numpy() for t in module.encode(x))
    eps = torch.randn(4, 2, generator=torch.Generator().manual_seed(3),
                      dtype=torch.float64).numpy()
    z = mean + np.exp(logvar / 2) * eps
    log_prior = np.sum(-0.5 * np.log(2 * np.pi) - z**2 / 2, axis=1)
    log_q = np.sum(-0.5 * np.log(2 * np.pi) - logvar / 2 - eps**2 / 2, axis=1)
    np.testing.assert_allclose(iwae.detach().numpy(),
                               log_lik.detach().numpy() + log_prior - log_q, rtol=1e-10)


def test_importance_weighted_bound_is_above_the_elbo_and_grows_with_k(fitted, digits):
    x = torch.as_tensor(digits[:200], dtype=torch.float32)
    module = fitted.module_

    def mean_bound(k, seed):
        with torch.no_grad():
            return float(module.importance_weighted(x, k, torch.Generator().manual_seed(seed))
                         .mean())

    elbo = np.mean([float(module.elbo(x, torch.Generator().manual_seed(s)).mean().detach())
                    for s in range(5)])
    k1 = np.mean([mean_bound(1, s) for s in range(5)])
    k50 = np.mean([mean_bound(50, s) for s in range(5)])
    assert elbo <= k50
    assert k1 <= k50
    np.testing.assert_allclose(k1, elbo, rtol=0.02)  # both estimate the ELBO


def test_kl_warm_up_ramps_in_training_and_not_in_evaluation():
    module = tiny_module("bernoulli")
    x = torch.rand(10, 3, dtype=torch.float64)
    loss_fn = elbo_objective(beta=2.0, warmup_rows=20)

    def expected(beta):
        return -module.elbo(x, torch.Generator().manual_seed(0), beta).mean()

    for beta in (0.0, 1.0, 2.0, 2.0):  # 10 rows a batch: weights 0, 10/20, 20/20 of beta
        torch.testing.assert_close(loss_fn(module, (x,), torch.Generator().manual_seed(0)),
                                   expected(beta))
    evaluating = elbo_objective(beta=2.0, warmup_rows=20)
    module.eval()
    torch.testing.assert_close(evaluating(module, (x,), torch.Generator().manual_seed(0)),
                               expected(2.0))


# --- the estimator -----------------------------------------------------------------------------

def test_training_raises_the_elbo_and_the_model_reconstructs(fitted, digits):
    losses = [h["valid_loss"] for h in fitted.history_]
    assert fitted.decoder_ == "bernoulli"
    assert losses[-1] < 0.8 * losses[0]
    untrained = VariationalAutoencoder(**{**FAST, "max_epochs": 1}).fit(digits)
    assert fitted.score(digits) > untrained.score(digits)
    error = fitted.reconstruction_error(digits).mean()
    assert error < 0.8 * np.square(digits - digits.mean(0)).sum(1).mean()  # beats the mean
    assert fitted.transform(digits).shape == (600, 3)
    assert fitted.inverse_transform(fitted.transform(digits[:5])).shape == (5, 64)


def test_score_samples_is_repeatable_and_the_iwae_bound_is_higher(fitted, digits):
    elbo = fitted.score_samples(digits[:100])
    np.testing.assert_array_equal(elbo, fitted.score_samples(digits[:100]))
    iwae = copy.deepcopy(fitted).set_params(n_importance_samples=50)
    assert iwae.score(digits[:100]) > elbo.mean()


def test_samples_have_the_data_shape_and_bernoulli_means_are_probabilities(fitted):
    samples = fitted.sample(50, random_state=1)
    assert samples.shape == (50, 64)
    assert samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, fitted.sample(50, random_state=1))
    assert not np.array_equal(samples, fitted.sample(50, random_state=2))


def test_linear_vae_learns_the_probabilistic_pca_likelihood():
    """Data from a linear-Gaussian model: a linear VAE's decoder is a linear-Gaussian model
    too, whose exact marginal likelihood (closed form) approaches probabilistic PCA's maximum
    (scikit-learn's ``PCA.score``); the importance-weighted bound rises with k towards it
    (independent draws for each row, averaged over the rows), and ``score`` with k = 1000
    (draws shared by the rows) is close to it, above the ELBO."""
    rng = np.random.default_rng(0)
    W, mu = 2 * rng.normal(size=(5, 2)), rng.normal(size=5)
    X = rng.normal(size=(1000, 2)) @ W.T + mu + np.sqrt(0.1) * rng.normal(size=(1000, 5))
    model = VariationalAutoencoder(code_size=2, hidden_size=6, activation="linear",
                                   device="cpu", warmup_epochs=0, learning_rate=1e-2,
                                   batch_size=100, max_epochs=200, early_stopping=False,
                                   random_state=0).fit(X)
    module = model.module_.double()
    hidden, output = module.decoder_hidden, module.decoder_output
    A = (output.weight @ hidden.weight).detach().numpy()
    b = (output.weight @ hidden.bias + output.bias).detach().numpy()
    covariance = A @ A.T + np.diag(np.exp(module.output_logvar.detach().numpy()))
    exact = multivariate_normal(b, covariance).logpdf(X).mean()
    assert exact == pytest.approx(SklearnPCA(2).fit(X).score(X), abs=0.03)
    x = torch.as_tensor(X)
    with torch.no_grad():
        bounds = [float(module.importance_weighted(x, k, torch.Generator().manual_seed(0))
                        .mean()) for k in (1, 10, 100)]
    assert bounds[0] < bounds[1] < bounds[2] < exact + 0.005
    assert exact - bounds[2] < 0.03
    elbo, iwae = (model.set_params(n_importance_samples=k).score(X) for k in (0, 1000))
    assert elbo < iwae == pytest.approx(exact, abs=0.03)


def test_fixed_decoder_variance_stays_fixed(digits):
    X = digits * 4 - 1
    model = VariationalAutoencoder(**FAST, decoder_variance=0.5, device="cpu").fit(X)
    assert model.decoder_ == "gaussian"
    assert "output_logvar" not in dict(model.module_.named_parameters())
    np.testing.assert_allclose(model.module_.output_logvar.numpy(), np.log(0.5), rtol=1e-6)
    with pytest.raises(ValueError, match="decoder_variance"):
        VariationalAutoencoder(decoder_variance=0.0).fit(X)


def test_gaussian_decoder_on_unbounded_data():
    X = np.random.default_rng(0).normal(size=(300, 6)) @ np.diag([3, 2, 1, 1, 1, 0.1])
    model = VariationalAutoencoder(**FAST).fit(X)
    assert model.decoder_ == "gaussian"
    assert np.isfinite(model.score_samples(X)).all()
    assert model.module_.output_logvar.shape == (6,)
    samples = model.sample(200, random_state=0)
    assert samples.shape == (200, 6)
    assert (samples >= X.min(0)).all() and (samples <= X.max(0)).all()  # the data's range


def test_save_and_load_round_trip_bit_for_bit(fitted, digits, tmp_path):
    fitted.save(tmp_path / "vae.deepae")
    loaded = deepae.load(tmp_path / "vae.deepae")
    assert loaded.get_params() == fitted.get_params()
    assert loaded.decoder_ == fitted.decoder_ and loaded.history_ == fitted.history_
    for name, value in fitted.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[name], value), name
    for method in ("transform", "score_samples", "reconstruction_error"):
        np.testing.assert_array_equal(getattr(loaded, method)(digits),
                                      getattr(fitted, method)(digits))
    np.testing.assert_array_equal(loaded.sample(5, random_state=3),
                                  fitted.sample(5, random_state=3))


def test_a_blurred_decoder_vae_round_trips_and_scores_its_blurred_likelihood(digits, tmp_path):
    from scipy.ndimage import gaussian_filter

    model = VariationalAutoencoder(**FAST, decoder_blur=1.0, decoder_variance=0.01,
                                   device="cpu").fit(digits)
    assert model.decoder_ == "gaussian"  # "auto" with a blur, data in [0, 1]
    blur = model.module_.blur
    assert blur.image_shape == (1, 8, 8) and blur.sigma == 1.0
    x = torch.as_tensor(digits[:5], dtype=torch.float32)
    with torch.no_grad():
        mean, logvar = model.module_.encode(x)
        out = model.module_.decode(mean + torch.exp(0.5 * logvar) * model.score_noise()[0])
    residuals = gaussian_filter((digits[:5] - out.double().numpy()).reshape(5, 8, 8),
                                (0, 1.0, 1.0), mode="constant").reshape(5, 64)
    log_lik = (-0.5 * (np.log(2 * np.pi * 0.01) + residuals**2 / 0.01)).sum(1)
    log_lik += float(blur.log_abs_det)
    kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum(1).double().numpy()
    np.testing.assert_allclose(model.score_samples(digits[:5]), log_lik - kl, rtol=1e-4)
    model.save(tmp_path / "vae.deepae")
    loaded = deepae.load(tmp_path / "vae.deepae")
    assert loaded.get_params() == model.get_params()
    for name, value in model.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[name], value), name
    np.testing.assert_array_equal(loaded.score_samples(digits), model.score_samples(digits))


def test_command_line_fit(digits, tmp_path, capsys):
    np.save(tmp_path / "data.npy", digits)
    code = cli.main(["fit", "vae", str(tmp_path / "data.npy"), "-o", str(tmp_path / "vae.deepae"),
                     "--param", "code_size=2", "--param", "max_epochs=2",
                     "--param", "random_state=0"])
    assert code == 0, capsys.readouterr()
    model = deepae.load(tmp_path / "vae.deepae")
    assert isinstance(model, VariationalAutoencoder)
    assert model.transform(digits[:4]).shape == (4, 2)
    code = cli.main(["score", str(tmp_path / "vae.deepae"), str(tmp_path / "data.npy"),
                     "-o", str(tmp_path / "scores.npy")])
    assert code == 0, capsys.readouterr()
    np.testing.assert_array_equal(np.load(tmp_path / "scores.npy"), -model.score_samples(digits))


def test_a_beta_vae_scores_the_elbo_at_beta_one(digits):
    model = VariationalAutoencoder(**{**FAST, "decoder": "gaussian", "decoder_variance": 0.3,
                                      "beta": 4.0, "device": "cpu"}).fit(digits)
    x = digits[:7]
    np.testing.assert_allclose(np.exp(model.module_.output_logvar.numpy()), 0.3, rtol=1e-6)
    log_lik, kl = numpy_elbo_terms(model.module_, x, model.score_noise()[0].double().numpy())
    np.testing.assert_allclose(model.score_samples(x), log_lik - kl, rtol=1e-10)
    iwae = model.set_params(n_importance_samples=50).score(digits)
    assert model.set_params(n_importance_samples=0).score(digits) <= iwae  # still a bound


@pytest.mark.parametrize("k", [0, 5])
def test_the_detector_scores_a_vae_by_its_likelihood(digits, tmp_path, k):
    detector = deepae.ReconstructionOutlierDetector(
        VariationalAutoencoder(**FAST, n_importance_samples=k), contamination=0.05).fit(digits)
    assert detector.code_mean_ is None and (detector.scale_ == 1).all()  # images: by rows
    norms = np.linalg.norm(digits, axis=1)
    assert detector.row_norm_ == pytest.approx(norms.mean(), rel=1e-12)
    rows = digits[:50] / norms[:50, None] * norms.mean()
    np.testing.assert_allclose(detector.score_samples(digits[:50]),
                               detector.model_.score_samples(rows), rtol=1e-6)
    assert (detector.predict(digits) == -1).mean() == pytest.approx(0.05, abs=0.01)
    detector.save(tmp_path / "detector.deepae")
    np.testing.assert_array_equal(deepae.load(tmp_path / "detector.deepae").decision_function(
        digits), detector.decision_function(digits))


def test_the_detector_leaves_rows_unscaled_for_a_bernoulli_vae_or_when_told(digits):
    bernoulli = deepae.ReconstructionOutlierDetector(
        VariationalAutoencoder(**FAST, decoder="bernoulli")).fit(digits)
    raw = deepae.ReconstructionOutlierDetector(VariationalAutoencoder(**FAST),
                                               scaling=None).fit(digits)
    for detector in (bernoulli, raw):
        assert detector.row_norm_ is None
        np.testing.assert_array_equal(detector.score_samples(digits[:20]),
                                      detector.model_.score_samples(digits[:20]))


def test_the_detector_scales_tabular_data_for_a_vae_and_refuses_a_code_density():
    X = np.random.default_rng(0).normal(size=(200, 4)) * [1, 10, 100, 1000]
    detector = deepae.ReconstructionOutlierDetector(VariationalAutoencoder(**FAST)).fit(X)
    Z = (X - X.mean(0)) / X.std(0)
    assert detector.code_mean_ is None
    np.testing.assert_allclose(detector.score_samples(X), detector.model_.score_samples(Z),
                               rtol=1e-10)
    with pytest.raises(ValueError, match="code_density=True needs a model scored by its "
                                         "reconstruction error"):
        deepae.ReconstructionOutlierDetector(VariationalAutoencoder(),
                                             code_density=True).fit(X)


def test_trains_on_a_memory_mapped_file_and_on_a_dataloader(digits, tmp_path):
    np.save(tmp_path / "digits.npy", digits)
    mapped = np.load(tmp_path / "digits.npy", mmap_mode="r")
    from_file = VariationalAutoencoder(**FAST).fit(mapped)
    in_memory = VariationalAutoencoder(**FAST).fit(digits)
    assert from_file.history_[-1]["valid_loss"] is not None
    assert from_file.score(mapped) == pytest.approx(in_memory.score(digits), rel=0.05)
    loader = DataLoader(TensorDataset(torch.as_tensor(digits)), batch_size=50)
    streamed = VariationalAutoencoder(**FAST).fit(loader)
    assert streamed.n_epochs_ == FAST["max_epochs"] and streamed.decoder_ == "bernoulli"
    assert streamed.history_[-1]["train_loss"] < 0.8 * streamed.history_[0]["train_loss"]


@pytest.mark.parametrize(("params", "match"), [
    ({"code_size": 0}, "code_size"),
    ({"hidden_size": 1.5}, "hidden_size"),
    ({"decoder": "poisson"}, "decoder"),
    ({"beta": -1.0}, "beta"),
    ({"warmup_epochs": -1}, "warmup_epochs"),
    ({"n_importance_samples": -2}, "n_importance_samples"),
    ({"activation": "swish"}, "activation"),
    ({"decoder_blur": -1.0}, "decoder_blur"),
    ({"decoder_blur": True}, "decoder_blur"),
    ({"decoder_blur": 1.0, "decoder": "bernoulli"}, "decoder_blur=1.0 needs the Gaussian"),
    ({"decoder_blur": 1.0, "image_shape": (1, 8, 7)}, "image_shape"),
    ({"decoder_blur": 9.0}, "at least as wide as the blur"),
])
def test_bad_parameters_are_value_errors(digits, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        VariationalAutoencoder(**params).fit(digits[:50])


def test_bernoulli_decoder_needs_data_in_the_unit_interval(digits):
    with pytest.raises(ValueError, match=r"decoder='bernoulli' needs data in \[0, 1\]"):
        VariationalAutoencoder(decoder="bernoulli").fit(digits[:50] * 2)


def test_scores_do_not_depend_on_the_other_rows(digits, fitted):
    """Common random numbers: every row uses the same draws, whatever the batch holds."""
    scores = fitted.score_samples(digits[:50])
    np.testing.assert_allclose(fitted.score_samples(digits[:50][::-1]), scores[::-1], rtol=1e-6)
    np.testing.assert_allclose(fitted.score_samples(digits[10:20]), scores[10:20], rtol=1e-6)
