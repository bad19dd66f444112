"""Tests of the convolutional autoencoder: the convolutions against numpy, image sizes, the
estimator (scikit-learn checks, against PCA, sources, save and load, command line)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae import PCA, ConvolutionalAutoencoder, ReconstructionOutlierDetector, cli
from deepae.blur import GaussianBlur
from deepae.convnet import ConvAutoencoder, ConvEncoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FAST = dict(code_size=8, channels=(16, 32), kernel_size=3, max_epochs=20, learning_rate=5e-3,
            random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:600] / 16.0


@pytest.fixture(scope="module")
def fitted(digits):
    # on the CPU: bit-for-bit round trips (a GPU's kernels may differ in the last bit)
    return ConvolutionalAutoencoder((1, 8, 8), **FAST, device="cpu").fit(digits)


@parametrize_with_checks([ConvolutionalAutoencoder(code_size=2, channels=(3,), max_epochs=3),
                          ConvolutionalAutoencoder(code_size=2, channels=(2, 3), kernel_size=5,
                                                   noise="masking", noise_level=0.2,
                                                   max_epochs=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# --- the module against numpy ----------------------------------------------------------------

def numpy_conv(images, weight, bias, stride=2):
    """Cross-correlation with zero padding k // 2 and the given stride, in plain numpy."""
    n, _, h, w = images.shape
    out_channels, _, k, _ = weight.shape
    pad = k // 2
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    rows, cols = range(0, h, stride), range(0, w, stride)
    out = np.zeros((n, out_channels, len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            patch = padded[:, :, r:r + k, c:c + k]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, weight) + bias
    return out


def test_encoder_equals_strided_convolutions_in_numpy():
    encoder = ConvEncoder((2, 5, 6), (3, 4), 3, 2).double()
    encoder.reset_parameters(torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in encoder.parameters():
            p.add_(0.1)  # nonzero biases too
    x = np.random.default_rng(0).random((4, 60))
    h = x.reshape(4, 2, 5, 6)
    for conv in encoder.convolutions:
        h = np.maximum(numpy_conv(h, conv.weight.detach().numpy(), conv.bias.detach().numpy()),
                       0)
    assert h.shape == (4, 4, 2, 2)  # 5×6 → 3×3 → 2×2
    code = h.reshape(4, -1) @ encoder.code.weight.detach().numpy().T + (
        encoder.code.bias.detach().numpy())
    np.testing.assert_allclose(encoder(torch.as_tensor(x)).detach().numpy(), code, rtol=1e-12)


def test_transposed_convolution_is_the_adjoint_of_the_strided_one():
    """⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ with the decoder's output padding, for odd and even sizes:
    the decoder maps back onto exactly the encoder's input grid."""
    module = ConvAutoencoder((1, 7, 8), (2,), 3, 2).double()
    conv, deconv = module.encoder.convolutions[0], module.decoder.convolutions[0]
    with torch.no_grad():
        deconv.weight.copy_(conv.weight)
    x = torch.randn(3, 1, 7, 8, dtype=torch.float64)
    y = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    forward = torch.nn.functional.conv2d(x, conv.weight, stride=2, padding=1)
    adjoint = torch.nn.functional.conv_transpose2d(y, deconv.weight, stride=2, padding=1,
                                                   output_padding=deconv.output_padding)
    assert adjoint.shape == x.shape
    assert (forward * y).sum().item() == pytest.approx((x * adjoint).sum().item(), rel=1e-12)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 1, 9), (3, 5, 4), (2, 28, 28), (1, 13, 17)])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_any_image_size_comes_back_to_its_size(shape, kernel_size):
    module = ConvAutoencoder(shape, (2, 3, 2), kernel_size, 4)
    x = torch.rand(2, int(np.prod(shape)))
    assert module.encode(x).shape == (2, 4)
    assert module(x).shape == x.shape


@pytest.mark.parametrize("shape, sigma", [((1, 28, 28), 1.0), ((3, 5, 7), 0.7),
                                          ((2, 4, 3), 2.5), ((1, 1, 9), 0.3),
                                          ((2, 3, 300), 1.5)])  # convolutions: a long side
def test_gaussian_blur_equals_scipy(shape, sigma):
    from scipy.ndimage import gaussian_filter

    x = np.random.default_rng(0).normal(size=(4, int(np.prod(shape))))
    got = GaussianBlur(shape, sigma)(torch.from_numpy(x)).numpy()
    expected = gaussian_filter(x.reshape(-1, *shape), (0, 0, sigma, sigma), mode="constant")
    np.testing.assert_allclose(got, expected.reshape(4, -1), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shape, sigma", [((1, 6, 5), 1.0), ((2, 4, 3), 0.7)])
def test_gaussian_blur_log_determinant_equals_numpy(shape, sigma):
    from scipy.ndimage import gaussian_filter

    n = int(np.prod(shape))
    dense = gaussian_filter(np.eye(n).reshape(n, *shape), (0, 0, sigma, sigma),
                            mode="constant").reshape(n, n)
    sign, expected = np.linalg.slogdet(dense)
    assert sign != 0
    np.testing.assert_allclose(float(GaussianBlur(shape, sigma).log_abs_det), expected,
                               rtol=1e-10)


# --- the estimator -----------------------------------------------------------------------------

def test_output_shapes_and_range(fitted, digits):
    codes = fitted.transform(digits)
    assert codes.shape == (600, 8)
    rebuilt = fitted.inverse_transform(codes)
    assert rebuilt.shape == digits.shape
    assert rebuilt.min() >= 0 and rebuilt.max() <= 1  # sigmoid output for pixels in [0, 1]
    assert (fitted.output_activation_, fitted.loss_) == ("sigmoid", "binary_cross_entropy")
    assert fitted.image_shape_ == (1, 8, 8)
    np.testing.assert_allclose(fitted.reconstruction_error(digits),
                               np.square(rebuilt - digits).sum(1), rtol=1e-5)
    assert fitted.get_feature_names_out()[0] == "convolutionalautoencoder0"


def test_reconstructs_its_images_better_than_pca_with_the_same_code_size(fitted, digits):
    pca = PCA(8).fit(digits)
    conv_error = fitted.reconstruction_error(digits).mean()
    pca_error = pca.reconstruction_error(digits).mean()
    assert conv_error < 0.75 * pca_error, (conv_error, pca_error)
    assert fitted.history_[-1]["train_loss"] < fitted.history_[0]["train_loss"]


def test_image_shape_none_is_a_square_or_a_strip():
    X = np.random.default_rng(0).random((20, 16))
    assert ConvolutionalAutoencoder(max_epochs=1).fit(X).image_shape_ == (1, 4, 4)
    assert ConvolutionalAutoencoder((4, 4), max_epochs=1).fit(X).image_shape_ == (1, 4, 4)
    assert ConvolutionalAutoencoder(max_epochs=1).fit(X[:, :6]).image_shape_ == (1, 1, 6)


@pytest.mark.parametrize("shape, match", [
    ((1, 8, 7), r"image_shape=\(1, 8, 7\) holds 56 pixels, but X has 64 features"),
    ((2, 8, 8), "holds 128 pixels"),
    ((1, 0, 64), r"\(channels, height, width\) of positive ints"),
    ("1x8x8", r"\(channels, height, width\)"),
    ((1, 2, 4, 8), r"\(channels, height, width\)"),
])
def test_a_wrong_image_shape_is_a_clear_value_error(digits, shape, match):
    with pytest.raises(ValueError, match=match):
        ConvolutionalAutoencoder(shape, max_epochs=1).fit(digits)


@pytest.mark.parametrize("params, match", [
    (dict(kernel_size=4), "kernel_size must be odd"),
    (dict(channels=()), "at least one convolution"),
    (dict(channels=(8, 0)), "channels entry"),
    (dict(code_size=0), "code_size"),
    (dict(activation="swish"), "activation"),
    (dict(output_activation="linear", loss="binary_cross_entropy"), "needs output_activation"),
    (dict(noise="blur"), "noise"),
])
def test_bad_parameters_are_value_errors(digits, params, match):
    with pytest.raises(ValueError, match=match):
        ConvolutionalAutoencoder(max_epochs=1, **params).fit(digits)


def test_unbounded_data_get_a_linear_output_and_squared_error(digits):
    model = ConvolutionalAutoencoder(max_epochs=1, random_state=0).fit(digits * 4 - 1)
    assert (model.output_activation_, model.loss_) == ("linear", "squared_error")
    with pytest.raises(ValueError, match=r"needs data in \[0, 1\]"):
        ConvolutionalAutoencoder(loss="binary_cross_entropy", output_activation="sigmoid",
                                 max_epochs=1).fit(digits * 2)


def test_memory_mapped_file_and_loader_sources(digits, tmp_path):
    np.save(tmp_path / "X.npy", digits.astype(np.float32))
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    params = dict(FAST, max_epochs=2)
    in_memory = ConvolutionalAutoencoder(**params).fit(digits.astype(np.float32))
    from_file = ConvolutionalAutoencoder(**params).fit(mapped)
    assert from_file.n_epochs_ == 2 and from_file.image_shape_ == (1, 8, 8)
    first, second = from_file.history_
    assert second["train_loss"] < first["train_loss"] and second["valid_loss"] is not None
    assert in_memory.n_epochs_ == 2
    loader = DataLoader(TensorDataset(torch.as_tensor(digits, dtype=torch.float32)),
                        batch_size=32)
    streamed = ConvolutionalAutoencoder(**params).fit(loader)
    assert streamed.n_epochs_ == 2 and streamed.output_activation_ == "sigmoid"


def test_denoising_trains_on_corrupted_inputs(digits):
    clean = ConvolutionalAutoencoder(**dict(FAST, max_epochs=3)).fit(digits)
    noisy = ConvolutionalAutoencoder(**dict(FAST, max_epochs=3, noise="masking",
                                            noise_level=0.5)).fit(digits)
    # rebuilding from half the pixels is harder: a higher training loss than without noise
    assert noisy.history_[-1]["train_loss"] > clean.history_[-1]["train_loss"]


def test_repeatable_with_a_seed(digits):
    first = ConvolutionalAutoencoder(**dict(FAST, max_epochs=2)).fit(digits)
    second = ConvolutionalAutoencoder(**dict(FAST, max_epochs=2)).fit(digits)
    np.testing.assert_array_equal(first.transform(digits), second.transform(digits))


def test_save_and_load_round_trip_bit_for_bit(fitted, digits, tmp_path):
    fitted.save(tmp_path / "conv.deepae")
    loaded = deepae.load(tmp_path / "conv.deepae")
    assert loaded.get_params() == fitted.get_params()
    assert loaded.image_shape_ == fitted.image_shape_ and loaded.history_ == fitted.history_
    for name, value in fitted.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[name], value), name
    for method in ("transform", "reconstruction_error", "score_samples"):
        np.testing.assert_array_equal(getattr(loaded, method)(digits),
                                      getattr(fitted, method)(digits))


def test_a_model_file_whose_image_shape_does_not_fit_is_refused(fitted, tmp_path):
    bad = ConvolutionalAutoencoder(**FAST)
    bad.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    bad.image_shape_ = (1, 2, 32)  # 64 pixels, but a 1×8 grid of features (not 2×2)
    bad.save(tmp_path / "shape.deepae")
    with pytest.raises(ValueError, match="the saved weights do not fit the module"):
        deepae.load(tmp_path / "shape.deepae")
    bad.image_shape_ = (1, 8, 9)
    bad.save(tmp_path / "pixels.deepae")
    with pytest.raises(ValueError, match="holds 72 pixels, but X has 64 features"):
        deepae.load(tmp_path / "pixels.deepae")
    bad.image_shape_ = (1, 2**25, 1)
    bad.save(tmp_path / "huge.deepae")
    with pytest.raises(ValueError, match="beyond the largest size"):
        deepae.load(tmp_path / "huge.deepae")


def test_command_line_fit_transform_and_score(digits, tmp_path, capsys):
    np.save(tmp_path / "data.npy", digits)
    model_file = str(tmp_path / "conv.deepae")
    code = cli.main(["fit", "conv", str(tmp_path / "data.npy"), "-o", model_file,
                     "--image-shape", "1x8x8", "--param", "code_size=4",
                     "--param", "channels=[4,8]", "--max-epochs", "2", "--random-state", "0",
                     "-q"])
    assert code == 0
    model = deepae.load(model_file)
    assert model.image_shape == (1, 8, 8) and model.code_size == 4 and model.n_epochs_ == 2
    assert cli.main(["transform", model_file, str(tmp_path / "data.npy"), "-o",
                     str(tmp_path / "codes.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "codes.npy"), model.transform(digits),
                               rtol=1e-6)
    assert cli.main(["score", model_file, str(tmp_path / "data.npy"), "-o",
                     str(tmp_path / "errors.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "errors.npy"),
                               model.reconstruction_error(digits), rtol=1e-6)
    capsys.readouterr()
    assert cli.main(["fit", "conv", str(tmp_path / "data.npy"), "-o", model_file,
                     "--image-shape", "1x8x9"]) == 2
    assert "holds 72 pixels, but X has 64 features" in capsys.readouterr().err


def test_as_the_model_of_the_outlier_detector(digits):
    rng = np.random.default_rng(0)
    noise = rng.random((30, 64))  # pixels at random: no digit
    detector = ReconstructionOutlierDetector(
        ConvolutionalAutoencoder(**dict(FAST, max_epochs=10))).fit(digits)
    assert isinstance(detector.model_, ConvolutionalAutoencoder)
    scores = -detector.score_samples(np.vstack([digits[:100], noise]))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(np.r_[np.zeros(100), np.ones(30)], scores) > 0.99


# --- the first stage of a deep network ---------------------------------------------------------

SMALL_ENCODER = dict(code_size=16, channels=(8, 16), max_epochs=8, learning_rate=5e-3,
                     batch_size=32)


@parametrize_with_checks([
    deepae.DeepClassifier((6,), pretrain_epochs=1, max_epochs=30, learning_rate=1e-2,
                          encoder=ConvolutionalAutoencoder(code_size=4, channels=(4,),
                                                           max_epochs=2)),
    deepae.DeepRegressor((6,), pretrain_epochs=1, max_epochs=30, learning_rate=1e-2,
                         encoder=ConvolutionalAutoencoder(code_size=4, channels=(4,),
                                                          max_epochs=2)),
])
def test_deep_networks_with_an_encoder_are_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digit_labels():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_classifier_pretrains_the_encoder_then_fine_tunes_the_network(digit_labels):
    X, y = digit_labels
    encoder = ConvolutionalAutoencoder((1, 8, 8), **SMALL_ENCODER)
    classifier = deepae.DeepClassifier((32,), encoder=encoder, pretrain_epochs=3,
                                       learning_rate=5e-3, max_epochs=30,
                                       random_state=0).fit(X[:1000], y[:1000])
    assert not hasattr(encoder, "module_")  # a copy was fitted
    encoder_history, layer_history = classifier.pretraining_history_
    assert len(encoder_history) == 8 and len(layer_history) == 3
    assert classifier.module_.encoder.image_shape == (1, 8, 8)
    assert classifier.score(X[1000:], y[1000:]) > 0.85
    # the pretrained encoder: the same weights as the autoencoder fitted alone, with the
    # classifier's seed, before fine-tuning moved them
    alone = ConvolutionalAutoencoder((1, 8, 8), **SMALL_ENCODER,
                                     random_state=deepae.deep.seed_from(0)).fit(X[:1000])
    untuned = deepae.DeepClassifier((32,), encoder=encoder, pretrain_epochs=3, max_epochs=1,
                                    learning_rate=1e-12, random_state=0).fit(X[:1000], y[:1000])
    for name, value in alone.module_.encoder.state_dict().items():
        torch.testing.assert_close(untuned.module_.encoder.state_dict()[name], value,
                                   rtol=1e-6, atol=1e-8)


def test_classifier_with_an_encoder_round_trips_bit_for_bit(digit_labels, tmp_path):
    X, y = digit_labels
    classifier = deepae.DeepClassifier(
        (16,), encoder=ConvolutionalAutoencoder((1, 8, 8), **dict(SMALL_ENCODER, max_epochs=2)),
        pretrain_epochs=1, max_epochs=2, random_state=0).fit(X[:300], y[:300])
    classifier.save(tmp_path / "clf.deepae")
    loaded = deepae.load(tmp_path / "clf.deepae")
    assert loaded.encoder.get_params() == classifier.encoder.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), classifier.predict_proba(X))


def test_a_wrong_encoder_is_a_clear_error(digit_labels):
    X, y = digit_labels
    with pytest.raises(TypeError, match="encoder must be a ConvolutionalAutoencoder or None"):
        deepae.DeepClassifier(encoder=PCA(5)).fit(X, y)
    with pytest.raises(ValueError, match="holds 49 pixels, but X has 64 features"):
        deepae.DeepClassifier(encoder=ConvolutionalAutoencoder((7, 7))).fit(X, y)


def test_command_line_classifier_with_a_convolutional_first_stage(digit_labels, tmp_path):
    X, y = digit_labels
    np.savez(tmp_path / "data.npz", X=X[:300], y=y[:300])
    model_file = str(tmp_path / "clf.deepae")
    assert cli.main(["fit", "classifier", str(tmp_path / "data.npz"), "--target", "y",
                     "-o", model_file, "--image-shape", "1x8x8", "--hidden-layer-sizes", "16",
                     "--param", "encoder__code_size=6", "--param", "encoder__max_epochs=2",
                     "--param", "pretrain_epochs=1", "--max-epochs", "2",
                     "--random-state", "0", "--device", "cpu", "-q"]) == 0
    classifier = deepae.load(model_file)
    assert classifier.encoder.get_params() == ConvolutionalAutoencoder(
        (1, 8, 8), code_size=6, max_epochs=2).get_params()
    assert classifier.module_.encoder.image_shape == (1, 8, 8)
    expected = deepae.DeepClassifier(
        (16,), encoder=ConvolutionalAutoencoder((1, 8, 8), code_size=6, max_epochs=2),
        pretrain_epochs=1, max_epochs=2, random_state=0, device="cpu").fit(X[:300], y[:300])
    np.testing.assert_array_equal(classifier.predict_proba(X), expected.predict_proba(X))
