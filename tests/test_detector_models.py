"""Tests of the detector's models by name and of the ``"auto"`` model options it resolves."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

import deepae
from deepae import ConvolutionalAutoencoder, VariationalAutoencoder
from deepae.outliers import ReconstructionOutlierDetector, image_grid
from deepae.outliers.named_models import (
    IMAGE_CONV_CODE_SIZE,
    IMAGE_CONV_EPOCHS,
    IMAGE_DECODER_VARIANCE,
    IMAGE_VAE_EPOCHS,
    image_options,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    """300 bundled 8×8 digits in [0, 1], each padded by two blank columns: 8×10 images."""
    images = load_digits().data[:300].reshape(-1, 8, 8) / 16
    return np.pad(images, ((0, 0), (0, 0), (0, 2))).reshape(300, 80)


def test_image_grid_finds_the_images_shape(digits):
    assert image_grid(digits) == (8, 10)
    assert image_grid(digits[:, :79]) is None  # 79 is prime: no grid


def test_flattened_images_get_the_image_recipe(digits):
    vae = VariationalAutoencoder(random_state=0)
    detector = ReconstructionOutlierDetector(vae).fit(digits)
    params = detector.model_.get_params()
    # The detector scales each row to the mean training norm, so the rows' mean square per
    # pixel is row_norm_² / 80.
    variance = IMAGE_DECODER_VARIANCE * detector.row_norm_ ** 2 / 80
    assert params["image_shape"] == (1, 8, 10)
    assert params["decoder_blur"] == pytest.approx(8 / 28)
    assert detector.model_.decoder_ == "gaussian"
    assert params["decoder_variance"] == pytest.approx(variance, rel=1e-6)
    assert params["max_epochs"] == IMAGE_VAE_EPOCHS == detector.model_.n_epochs_
    assert vae.get_params() == VariationalAutoencoder(random_state=0).get_params()

    assert image_options(ConvolutionalAutoencoder(), digits) == {
        "image_shape": (1, 8, 10), "code_size": IMAGE_CONV_CODE_SIZE,
        "max_epochs": IMAGE_CONV_EPOCHS, "early_stopping": False}
    conv = ConvolutionalAutoencoder(code_size=4, channels=(4,), max_epochs=1, random_state=0)
    detector = ReconstructionOutlierDetector(conv).fit(digits)
    assert detector.model_.image_shape_ == (1, 8, 10) and detector.residual_blur_ == 1.0
    assert detector.model_.get_params()["code_size"] == 4


def test_a_table_keeps_the_models_auto_options():
    table = np.random.default_rng(0).normal(size=(200, 80))
    vae = VariationalAutoencoder(max_epochs=2, random_state=0)
    detector = ReconstructionOutlierDetector(vae).fit(table)
    assert detector.model_.get_params() == vae.get_params()
    assert detector.model_.decoder_blur == "auto" and detector.model_.n_epochs_ == 2
    conv = ConvolutionalAutoencoder(channels=(4,), max_epochs=1, random_state=0)
    assert ReconstructionOutlierDetector(conv).fit(table).model_.image_shape_ == (1, 1, 80)


@pytest.mark.parametrize("model", [
    VariationalAutoencoder(code_size=4, hidden_size=16, decoder="gaussian",
                           decoder_variance=0.05, decoder_blur=0.0, image_shape=None,
                           max_epochs=2, random_state=0),
    VariationalAutoencoder(decoder="bernoulli", image_shape=None, max_epochs=2,
                           random_state=0),  # no blur nor variance for a Bernoulli decoder
    ConvolutionalAutoencoder(image_shape=(1, 10, 8), code_size=4, channels=(4,),
                             max_epochs=1, early_stopping=True, random_state=0),
])
def test_an_explicitly_configured_model_is_never_changed(digits, model):
    before = clone(model).get_params()
    detector = ReconstructionOutlierDetector(model).fit(digits)
    assert model.get_params() == before and detector.model_.get_params() == before


def test_auto_options_of_a_model_alone_are_the_earlier_defaults(digits):
    small = {"code_size": 4, "hidden_size": 16, "patience": 2, "random_state": 0}
    auto = VariationalAutoencoder(**small).fit(digits[:60])
    earlier = VariationalAutoencoder(**small, decoder_variance="learned", decoder_blur=0.0,
                                     image_shape=None, max_epochs=100).fit(digits[:60])
    assert auto.decoder_ == earlier.decoder_ == "bernoulli"
    assert auto.n_epochs_ == earlier.n_epochs_
    np.testing.assert_array_equal(auto.score_samples(digits), earlier.score_samples(digits))


def test_models_by_name(digits, tmp_path):
    digits = digits[:60]
    detector = ReconstructionOutlierDetector("vae", random_state=3).fit(digits)
    assert isinstance(detector.model_, VariationalAutoencoder)
    assert detector.model_.random_state == 3 and detector.row_norm_ is not None
    same = ReconstructionOutlierDetector(VariationalAutoencoder(random_state=3)).fit(digits)
    np.testing.assert_array_equal(detector.score_samples(digits), same.score_samples(digits))
    detector.save(tmp_path / "vae.deepae")
    loaded = deepae.load(tmp_path / "vae.deepae")
    np.testing.assert_array_equal(loaded.score_samples(digits), detector.score_samples(digits))
    with pytest.raises(ValueError, match="'conv', 'vae'"):
        ReconstructionOutlierDetector("dense").fit(digits)


def test_auto_options_of_a_convolutional_model_alone_are_the_earlier_defaults(digits):
    model = ConvolutionalAutoencoder(channels=(4,), max_epochs="auto", validation_fraction=0.5,
                                     patience=1, random_state=0).fit(digits[:40])
    assert model.module_.encoder.code_size == 30 and model._setting("max_epochs") == 100
