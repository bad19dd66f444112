"""The models the detector knows by name, and the ``"auto"`` options of its model that it
resolves from the data.

``ReconstructionOutlierDetector(model="vae")`` (or ``"conv"``) fits that deepae model with its
defaults and the detector's seed. On flattened images (data that :func:`is_tabular` does not
take as a table) the detector gives the ``"auto"`` options of its model the values measured
best for scoring: the pixel grid it finds (``image_shape``); for a
:class:`deepae.VariationalAutoencoder` a Gaussian decoder of blurred residuals of fixed
variance and a training length; for a :class:`deepae.ConvolutionalAutoencoder` a code size
and a training length. Options the user set, and every option on tabular data, are left as
they are. The measurements are in ``benchmarks/results.md``
(sections ``vae`` and ``conv``).
"""

from sklearn.base import clone

from .._validation import resolve_image_shape
from ..blur import DENSE_MAX_SIDE
from ..convolutional import ConvolutionalAutoencoder
from ..vae import VariationalAutoencoder
from .data_kind import image_grid
from .scaling import mean_energy

#: The models ``ReconstructionOutlierDetector(model=NAME)`` fits, by name.
MODEL_NAMES = {"conv": ConvolutionalAutoencoder, "vae": VariationalAutoencoder}
#: ``decoder_blur="auto"`` of a VAE on images: the residual's blur in pixels, per pixel of the
#: image's shorter side (1 pixel on MNIST's 28 × 28; 0.29 on 8 × 8 digits).
IMAGE_DECODER_BLUR = 1 / 28
#: ``decoder_variance="auto"`` of a VAE on images: this fraction of the mean square of the
#: detector's scaled pixels (0.001 on MNIST's pixels in [0, 1]).
IMAGE_DECODER_VARIANCE = 0.01
#: ``max_epochs="auto"`` of a VAE on images.
IMAGE_VAE_EPOCHS = 30
#: ``code_size="auto"`` of a convolutional autoencoder on images.
IMAGE_CONV_CODE_SIZE = 16
#: ``max_epochs="auto"`` of a convolutional autoencoder on images (``early_stopping="auto"``:
#: none).
IMAGE_CONV_EPOCHS = 60


def named_model(name: str, random_state: int | None):
    """The unfitted model of a name in :data:`MODEL_NAMES`, with the seed ``random_state``."""
    return MODEL_NAMES[name](random_state=random_state)


def is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def image_options(model, Z) -> dict:
    """The values the detector gives to the ``"auto"`` options of ``model`` on flattened
    images ``Z`` (the detector's scaled rows, all ranks' statistics)."""
    params = model.get_params(deep=False)
    options = {}
    grid = image_grid(Z)
    if grid is not None:
        options["image_shape"] = (1, *grid)
    if isinstance(model, VariationalAutoencoder):
        options["max_epochs"] = IMAGE_VAE_EPOCHS
        shape = resolve_image_shape(options.get("image_shape", params["image_shape"]),
                                    Z.shape[1])
        if params["decoder"] != "bernoulli" and max(shape[1:]) <= DENSE_MAX_SIDE:
            options["decoder_blur"] = IMAGE_DECODER_BLUR * min(shape[1:])
            options["decoder_variance"] = IMAGE_DECODER_VARIANCE * mean_energy(Z) / Z.shape[1]
    if isinstance(model, ConvolutionalAutoencoder):
        options.update(code_size=IMAGE_CONV_CODE_SIZE, max_epochs=IMAGE_CONV_EPOCHS,
                       early_stopping=False)
    return {name: value for name, value in options.items() if is_auto(params.get(name))}


def resolved_model(model, Z, tabular: bool):
    """``model`` with its ``"auto"`` options set for flattened images ``Z`` (a copy; the
    model itself on ``tabular`` data)."""
    if tabular:
        return model
    return clone(model).set_params(**image_options(model, Z))
