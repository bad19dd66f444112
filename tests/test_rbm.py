"""Tests of the restricted Boltzmann machine: CD by hand, pseudo-likelihood against
scikit-learn's free energy, agreement with ``BernoulliRBM``, model files and the CLI."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.neural_network import BernoulliRBM
from sklearn.utils.estimator_checks import parametrize_with_checks

import deepae
from deepae import RBM, DeepClassifier, StackedAutoencoder, cli
from deepae.modules import RBM as RBMModule
from deepae.modules import DeepAutoencoder
from deepae.pretraining import unrolled
from deepae.rbm import contrastive_divergence, resolve_precision
from deepae.training import TrainingConfig, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def binary_digits():
    X = (load_digits().data / 16 > 0.5).astype(np.float64)
    return X[:1400], X[1400:]


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@parametrize_with_checks([RBM(n_components=4, max_epochs=5)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_cd1_gradient_is_the_hand_computed_update():
    torch.manual_seed(0)
    rbm = RBMModule(3, 2).double()
    with torch.no_grad():
        rbm.weight.copy_(torch.tensor([[0.5, -1.0, 0.3], [1.2, 0.1, -0.7]]))
        rbm.hidden_bias.copy_(torch.tensor([0.1, -0.2]))
        rbm.visible_bias.copy_(torch.tensor([0.0, 0.3, -0.1]))
    v0 = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    loss = contrastive_divergence(1)(rbm, (torch.tensor(v0),), torch.Generator().manual_seed(3))
    loss.backward()
    # the same draws by hand: uniforms for h0 (4 × 2), then for v1 (4 × 3)
    draws = torch.Generator().manual_seed(3)
    u_h = torch.rand(4, 2, generator=draws, dtype=torch.float64).numpy()
    u_v = torch.rand(4, 3, generator=draws, dtype=torch.float64).numpy()
    W, c, b = (p.detach().numpy() for p in (rbm.weight, rbm.hidden_bias, rbm.visible_bias))
    p0 = sigmoid(v0 @ W.T + c)
    h0 = (u_h < p0).astype(float)
    v1 = (u_v < sigmoid(h0 @ W + b)).astype(float)
    p1 = sigmoid(v1 @ W.T + c)
    # CD-1: ΔW = ⟨p(h|v) vᵀ⟩_data − ⟨p(h|v) vᵀ⟩_model; SGD steps along −gradient
    np.testing.assert_allclose(-rbm.weight.grad.numpy(), (p0.T @ v0 - p1.T @ v1) / 4, atol=1e-15)
    np.testing.assert_allclose(-rbm.hidden_bias.grad.numpy(), (p0 - p1).mean(0), atol=1e-15)
    np.testing.assert_allclose(-rbm.visible_bias.grad.numpy(), (v0 - v1).mean(0), atol=1e-15)


@pytest.mark.parametrize("momentum, weight_decay, persistent, visible, hidden", [
    (0.0, 0.0, True, "bernoulli", "bernoulli"), (0.5, 0.01, True, "bernoulli", "bernoulli"),
    (0.9, 0.0, False, "bernoulli", "bernoulli"), (0.5, 0.0, True, "gaussian", "bernoulli"),
    (0.5, 0.0, True, "bernoulli", "gaussian"), (0.5, 0.0, True, "gaussian", "gaussian")])
def test_in_place_cd_step_is_the_optimizers_step(binary_digits, momentum, weight_decay,
                                                persistent, visible, hidden):
    # the in-place update (no graph, no optimizer) against autograd + torch.optim.SGD on
    # the free-energy gap (the history's loss, here from the CD statistics): the same
    # draws, so the same weights up to rounding, for every kind of units
    X = torch.as_tensor(binary_digits[0][:300])
    if visible == "gaussian":
        X = (X - X.mean(0)) / (X.std(0) + 1)
    config = TrainingConfig(optimizer="sgd", learning_rate=0.05 if visible == hidden == "bernoulli"
                            else 0.01, momentum=momentum, weight_decay=weight_decay,
                            batch_size=7, max_epochs=3, seed=0)
    in_place = RBMModule(64, 8, visible, hidden).double()
    by_optimizer = RBMModule(64, 8, visible, hidden).double()
    by_optimizer.load_state_dict(in_place.state_dict())
    fast = train(in_place, contrastive_divergence(1, persistent, config), (X,), config)
    slow = train(by_optimizer, contrastive_divergence(1, persistent), (X,), config)
    for ours, reference in zip(in_place.parameters(), by_optimizer.parameters(), strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose([h["train_loss"] for h in fast],
                               [h["train_loss"] for h in slow], rtol=1e-10)
    assert not torch.equal(in_place.weight, RBMModule(64, 8, visible, hidden).double().weight)


def test_bfloat16_products_make_the_float32_step_up_to_their_rounding(binary_digits):
    # one persistent CD-1 step from the same weights and draws: bfloat16 operands (8
    # significant bits, relative rounding ≤ 2⁻⁸) change the weight update by about that much
    X = torch.as_tensor(binary_digits[0][:20], dtype=torch.float32)
    config = TrainingConfig(optimizer="sgd", learning_rate=0.1, batch_size=20, max_epochs=1)
    updates = []
    for precision in ("float32", "bfloat16"):
        rbm = RBMModule(64, 8)
        rbm.reset_parameters(torch.Generator().manual_seed(0))
        with torch.no_grad():
            rbm.weight.mul_(100)  # weights of a trained model's size, not the initial 0.01
        before = rbm.weight.detach().clone()
        step = contrastive_divergence(1, True, config, precision)
        for _ in range(2):  # the first step starts the chains from zero hidden states
            step(rbm, (X,), torch.Generator().manual_seed(3))
        updates.append((rbm.weight - before).detach())
    error = (updates[1] - updates[0]).norm() / updates[0].norm()
    assert 0 < error < 2 ** -6, error


@pytest.mark.parametrize("fast_bfloat16", [True, False])
def test_auto_precision_trains_to_the_float32_pseudo_likelihood(binary_digits, monkeypatch,
                                                                fast_bfloat16):
    # "auto" is bfloat16 on a CPU with fast bfloat16 products, float32 on others and on GPUs;
    # either way the test pseudo-likelihood is float32's within the spread between seeds
    monkeypatch.setattr(deepae.rbm, "fast_bfloat16_products", lambda: fast_bfloat16)
    expected = "bfloat16" if fast_bfloat16 else "float32"
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision("auto", torch.device("cuda")) == "float32"
    assert resolve_precision("float32", torch.device("cpu")) == "float32"
    X, X_test = binary_digits
    params = dict(n_components=32, learning_rate=0.05, batch_size=10, max_epochs=20,
                  persistent=True, device="cpu")
    scores = {}
    for precision in ("float32", "auto"):
        models = [RBM(**params, precision=precision, random_state=seed).fit(X)
                  for seed in (0, 1, 2)]
        assert {model.precision_ for model in models} == {"float32" if precision == "float32"
                                                          else expected}
        scores[precision] = [model.score_samples(X_test).mean() for model in models]
    spread = np.ptp(scores["float32"])
    assert 0 < spread < 1.0, scores
    assert abs(np.mean(scores["auto"]) - np.mean(scores["float32"])) <= spread, scores


def test_fast_bfloat16_products_follow_the_cpus_features(monkeypatch):
    deepae.rbm.fast_bfloat16_products.cache_clear()
    try:
        for bf16, amx, fast in [(True, False, True), (True, True, False),
                                (False, False, False)]:
            monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=bf16: v)
            monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
            deepae.rbm.fast_bfloat16_products.cache_clear()
            assert deepae.rbm.fast_bfloat16_products() is fast
    finally:
        monkeypatch.undo()
        deepae.rbm.fast_bfloat16_products.cache_clear()


def test_pseudo_likelihood_is_the_sum_over_flipped_features(binary_digits):
    X = binary_digits[1][:50]
    sk = BernoulliRBM(n_components=8, n_iter=2, random_state=0).fit(binary_digits[0])
    reference = np.zeros(len(X))
    for i in range(X.shape[1]):  # sklearn's free energies, every feature flipped in turn
        flipped = X.copy()
        flipped[:, i] = 1 - flipped[:, i]
        reference -= np.logaddexp(0, sk._free_energy(X) - sk._free_energy(flipped))
    ours = RBMModule(64, 8).double()
    with torch.no_grad():
        ours.weight.copy_(torch.as_tensor(sk.components_))
        ours.hidden_bias.copy_(torch.as_tensor(sk.intercept_hidden_))
        ours.visible_bias.copy_(torch.as_tensor(sk.intercept_visible_))
        np.testing.assert_allclose(ours.pseudo_log_likelihood(torch.as_tensor(X)).numpy(),
                                   reference, rtol=1e-10)
        np.testing.assert_allclose(-ours(torch.as_tensor(X)).numpy(), -sk._free_energy(X))
    # sklearn's score is an unbiased one-feature estimate of the same sum (a RandomState
    # instance, so that each call flips other features)
    sk.set_params(random_state=np.random.RandomState(0))
    estimates = np.mean([sk.score_samples(X).mean() for _ in range(400)])
    assert abs(estimates - reference.mean()) < 0.05 * abs(reference.mean())


def test_agrees_in_distribution_with_sklearn(binary_digits):
    X, X_test = binary_digits
    params = dict(n_components=32, learning_rate=0.05, batch_size=10)
    ours, theirs = [], []
    for seed in (0, 1):
        model = RBM(**params, max_epochs=20, persistent=True, random_state=seed).fit(X)
        ours.append(model.score_samples(X_test).mean())
        sk = BernoulliRBM(**params, n_iter=20, random_state=seed).fit(X)
        theirs.append(_exact_pseudo_likelihood(sk, X_test))
    untrained = 64 * np.log(0.5)  # −44.4: every feature a coin flip
    # Same algorithm (persistent CD-1, same rate and batch size), different random draws:
    # scikit-learn's own seeds 0-2 give −17.5, −18.1, −17.7 here, so the means of two seeds
    # must agree within 1.5 nats (against 26 nats gained by training).
    assert np.mean(ours) > untrained + 20
    assert abs(np.mean(ours) - np.mean(theirs)) < 1.5, (ours, theirs)


def test_learns_the_distribution_of_a_known_small_rbm():
    # 8 visible, 3 hidden units: every visible state enumerated, so the true model's
    # distribution, its samples and the learned model's distribution are exact
    rng = np.random.default_rng(0)
    true = RBMModule(8, 3).double()
    with torch.no_grad():
        true.weight.copy_(torch.as_tensor(rng.normal(0, 1.5, (3, 8))))
        true.hidden_bias.copy_(torch.as_tensor(rng.normal(0, 0.5, 3)))
        true.visible_bias.copy_(torch.as_tensor(rng.normal(0, 0.5, 8)))
    states = torch.as_tensor(list(itertools.product([0.0, 1.0], repeat=8)), dtype=torch.float64)

    def log_probabilities(module):
        with torch.no_grad():
            return torch.log_softmax(-module(states.to(module.weight.dtype)).double(), 0)

    p_true = log_probabilities(true).exp().numpy()
    X = states.numpy()[rng.choice(len(states), size=3000, p=p_true / p_true.sum())]
    model = RBM(n_components=3, persistent=True, learning_rate=0.05, batch_size=10,
                max_epochs=30, random_state=0, device="cpu").fit(X[:2000])
    with torch.no_grad():
        true_pl = true.pseudo_log_likelihood(torch.as_tensor(X[2000:])).mean().item()
    learned_pl = model.score_samples(X[2000:]).mean()
    # true −4.11 against −5.55 for coin flips: the learned model within 0.05 nats of it
    assert abs(learned_pl - true_pl) < 0.05, (learned_pl, true_pl)
    kl = (p_true * (log_probabilities(true) - log_probabilities(model.module_)).numpy()).sum()
    assert kl < 0.05, kl  # coin flips: 1.43


def _exact_pseudo_likelihood(sk: BernoulliRBM, X: np.ndarray) -> float:
    module = RBMModule(X.shape[1], sk.n_components).double()
    with torch.no_grad():
        module.weight.copy_(torch.as_tensor(sk.components_))
        module.hidden_bias.copy_(torch.as_tensor(sk.intercept_hidden_))
        module.visible_bias.copy_(torch.as_tensor(sk.intercept_visible_))
        return module.pseudo_log_likelihood(torch.as_tensor(X)).mean().item()


def test_gaussian_visible_units_for_real_valued_data():
    X = np.random.default_rng(0).normal(size=(300, 5)) @ np.diag([1, 1, 1, 0.1, 0.1])
    model = RBM(n_components=3, learning_rate=0.01, max_epochs=5, random_state=0).fit(X)
    assert model.visible_ == "gaussian"
    assert model.gibbs(X[:4]).dtype == np.float64 and not np.isin(model.gibbs(X), (0, 1)).all()
    module = model.module_.double()  # on the GPU with device="auto" where there is one
    rows = torch.as_tensor(X[:3], device=module.weight.device)
    np.testing.assert_allclose(model.score_samples(X[:3]), -module(rows).detach().cpu().numpy(),
                               rtol=1e-5)


def test_model_file_round_trip_is_bit_for_bit(binary_digits, tmp_path):
    X, X_test = binary_digits
    model = RBM(n_components=8, max_epochs=2, persistent=True, random_state=0).fit(X)
    model.save(tmp_path / "rbm.deepae")
    loaded = deepae.load(tmp_path / "rbm.deepae")
    for method in ("transform", "score_samples", "gibbs"):
        np.testing.assert_array_equal(getattr(loaded, method)(X_test),
                                      getattr(model, method)(X_test))
    assert loaded.history_ == model.history_


def test_cli_fit_is_the_library_fit(binary_digits, tmp_path, capsys):
    X = binary_digits[0][:200]
    np.save(tmp_path / "x.npy", X)
    code = cli.main(["fit", "rbm", str(tmp_path / "x.npy"), "-o", str(tmp_path / "m.deepae"),
                     "--param", "n_components=5", "--param", "max_epochs=3",
                     "--param", "random_state=0"])
    assert code == 0, capsys.readouterr()
    expected = RBM(n_components=5, max_epochs=3, random_state=0).fit(X)
    np.testing.assert_array_equal(deepae.load(tmp_path / "m.deepae").transform(X),
                                  expected.transform(X))


@pytest.mark.parametrize("params, match", [
    (dict(n_components=0), "n_components"),
    (dict(visible="poisson"), "visible"),
    (dict(cd_steps=0), "cd_steps"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(precision="float16"), "precision"),
])
def test_bad_parameters_are_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        RBM(**params).fit(np.zeros((5, 3)))


def test_gaussian_hidden_units_free_energy_and_mean_field():
    # one Gaussian hidden unit: F(v) = −log ∫ exp(−E(v, h)) dh by quadrature, up to a
    # constant, with E = −h w·v + ½ (h − c)² − b·v
    torch.manual_seed(0)
    rbm = RBMModule(5, 1, hidden="gaussian").double()
    with torch.no_grad():
        for parameter in rbm.parameters():
            parameter.normal_()
    v = (torch.rand(6, 5, dtype=torch.float64) < 0.5).double()
    W, c, b = (p.detach().numpy() for p in rbm.parameters())
    h = np.linspace(-40, 40, 400_001)
    energy = -h[None] * (v.numpy() @ W.T) + 0.5 * (h[None] - c) ** 2 - (v.numpy() @ b)[:, None]
    reference = -np.log(np.exp(-energy).sum(1) * (h[1] - h[0]))
    ours = rbm(v).detach().numpy()
    np.testing.assert_allclose(ours - ours[0], reference - reference[0], atol=1e-8)
    energies, means = rbm(v, return_hidden=True)
    torch.testing.assert_close(means, v @ rbm.weight.t() + rbm.hidden_bias)  # linear code
    autoencoder = unrolled(rbm, "linear", False, "sigmoid").double()
    with torch.no_grad():
        torch.testing.assert_close(autoencoder.encode(v), means, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(autoencoder.decode(means), rbm.visible_mean(means),
                                   rtol=1e-6, atol=1e-6)
    draws = torch.stack([rbm.sample_hidden(v, None) for _ in range(4000)])
    assert abs((draws - means).std().item() - 1) < 0.02  # unit variance


# --- RBM pretraining -----------------------------------------------------------------------

def test_unrolled_tanh_network_is_the_rbm_stacks_mean_field_pass():
    torch.manual_seed(0)
    first, second = RBMModule(6, 4).double(), RBMModule(4, 3).double()
    for rbm in (first, second):
        with torch.no_grad():
            for parameter in rbm.parameters():
                parameter.normal_()
    network = DeepAutoencoder(6, [4, 3], "tanh", "tanh", tied=True,
                              output_activation="sigmoid").double()
    network.load_encoders([unrolled(first, "tanh", False, "sigmoid"),
                           unrolled(second, "tanh", True, "tanh")])
    x = torch.rand(5, 6, dtype=torch.float64)
    h1 = first.hidden_probabilities(x)
    h2 = second.hidden_probabilities(h1)
    with torch.no_grad():
        torch.testing.assert_close(network.encode(x), 2 * h2 - 1)
        # decoding the code: σ(W₂ᵀh₂ + b₂) one layer down, then σ(W₁ᵀ · + b₁) for the input
        h1_down = torch.sigmoid(h2 @ second.weight + second.visible_bias)
        torch.testing.assert_close(network.decode(2 * h2 - 1),
                                   first.visible_mean(h1_down))


def test_rbm_pretraining_initializes_the_deep_models(binary_digits):
    X, _ = binary_digits
    y = np.arange(len(X)) % 3
    classifier = DeepClassifier((16,), pretraining="rbm", pretrain_epochs=2, max_epochs=2,
                                random_state=0).fit(X, y)
    assert len(classifier.pretraining_history_[0]) == 2
    stacked = StackedAutoencoder((32,), activation="sigmoid", code_activation="sigmoid",
                                 pretraining="rbm", pretrain_epochs=5,
                                 fine_tune=False,
                                 random_state=0).fit(X)
    # the RBM's mean-field reconstruction, not fine-tuned, beats predicting the mean pixel
    assert stacked.reconstruction_error(X).mean() < 0.8 * ((X - X.mean(0)) ** 2).sum(1).mean()
    with pytest.raises(ValueError, match="set activation='sigmoid'"):
        StackedAutoencoder((16, 4), activation="relu", pretraining="rbm", max_epochs=1).fit(X)


@pytest.mark.parametrize("pretraining, resolved", [("rbm", 1e-3), ("denoising", 0.0)])
def test_stacked_autoencoders_auto_weight_decay(binary_digits, pretraining, resolved):
    # "auto" is 0.001 with RBM pretraining (an unrolled RBM stack overfits without it), else
    # 0: the same fit, bit for bit, as the explicit value
    X = binary_digits[0][:300]
    params = dict(activation="sigmoid", pretraining=pretraining, pretrain_epochs=2,
                  max_epochs=3, random_state=0, device="cpu")
    auto = StackedAutoencoder((16, 4), **params).fit(X)
    explicit = StackedAutoencoder((16, 4), weight_decay=resolved, **params).fit(X)
    np.testing.assert_array_equal(auto.transform(X), explicit.transform(X))
    other = StackedAutoencoder((16, 4), weight_decay=0.01, **params).fit(X)
    assert not np.array_equal(other.transform(X), auto.transform(X))
    with pytest.raises(ValueError, match="weight_decay"):
        StackedAutoencoder((16, 4), weight_decay=-1.0, **params).fit(X)


def test_cli_weight_decay_takes_auto_or_a_number(binary_digits, tmp_path):
    X = binary_digits[0][:100]
    np.save(tmp_path / "x.npy", X)
    for value in ("auto", "0.001"):
        assert cli.main(["fit", "stacked", str(tmp_path / "x.npy"), "-o",
                         str(tmp_path / f"{value}.deepae"), "--weight-decay", value,
                         "--param", "max_epochs=1", "--param", "pretraining=null"]) == 0
    assert deepae.load(tmp_path / "auto.deepae").weight_decay == "auto"
    assert deepae.load(tmp_path / "0.001.deepae").weight_decay == 0.001
