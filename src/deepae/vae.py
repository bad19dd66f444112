"""Scikit-learn face of the variational autoencoder: a generative model of the data with an
encoder to a Gaussian code, trained on the evidence lower bound with KL warm-up."""

import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_array, check_is_fitted

from . import modules
from ._base import TorchEstimatorMixin, resolve_device, seed_from
from ._validation import FLOAT_DTYPES, check_option, resolve_image_shape
from .blur import DENSE_MAX_SIDE, GaussianBlur
from .checkpoint import checkpointed
from .data import feature_range
from .persistence import SaveMixin
from .tabular import estimators as tables
from .training import train

#: The seed of the draws behind :meth:`VariationalAutoencoder.score_samples`.
SCORE_SEED = 0


def elbo_objective(beta: float, warmup_rows: int):
    """The loss function of :func:`train` for a VAE: minus the mean ELBO of the batch.

    In training the KL weight ramps linearly from 0 to ``beta`` over the first
    ``warmup_rows`` training rows seen (KL warm-up, Sønderby et al. 2016); evaluation (the
    validation loss) always uses ``beta``, so early stopping watches the true objective.
    """
    seen = 0

    def loss_fn(model, batch, generator):
        nonlocal seen
        x = batch[0]
        weight = beta
        if model.training and seen < warmup_rows:
            weight = beta * seen / warmup_rows
            seen += len(x)
        return -model(x, generator, weight).mean()

    def load_state_dict(state: dict) -> None:
        nonlocal seen
        seen = int(state["seen"])

    loss_fn.state_dict = lambda: {"seen": torch.tensor(seen)}  # for checkpoints
    loss_fn.load_state_dict = load_state_dict
    return loss_fn


def count_rows(data) -> int:
    """Rows per epoch of a training source (one pass over the user's batches)."""
    if hasattr(data, "__len__"):
        return len(data)
    return sum(len(batch[0]) for batch in data.batches(0, None))


class VariationalAutoencoder(SaveMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                             TorchEstimatorMixin, BaseEstimator):
    """Variational autoencoder ``d → hidden → code → hidden → d`` (Kingma & Welling 2014).

    The encoder gives a diagonal Gaussian ``q(z | x)``, the prior is ``N(0, I)`` and the
    decoder a Bernoulli or Gaussian ``p(x | z)``. Training maximizes the mean evidence lower
    bound (ELBO) ``E_q[log p(x | z)] − β KL(q(z | x) ‖ p(z))`` by mini-batch gradient
    descent with the reparameterization trick.

    Parameters
    ----------
    code_size : int, default=20
        Size of the latent code ``z``.
    hidden_size : int, default=256
        Units of the encoder's and the decoder's hidden layer.
    activation : {"relu", "tanh", "sigmoid", "linear"}, default="relu"
    decoder : {"auto", "bernoulli", "gaussian"}, default="auto"
        ``p(x | z)``: Bernoulli (data in ``[0, 1]``, read as probabilities) or Gaussian.
        ``auto``: Bernoulli when all the training data lie in ``[0, 1]`` and there is no
        ``decoder_blur``, else Gaussian (the rule of :class:`deepae.RBM`'s ``visible``).
    decoder_variance : "auto", "learned" or float, default="auto"
        The Gaussian decoder's variance: one learned per feature, or this fixed value for
        every feature (1.0 makes ``−log p(x | z)`` half the squared error plus a constant).
        ``"auto"``: learned; as the model of :class:`deepae.ReconstructionOutlierDetector`
        on images, the detector fixes it (see Notes).
    decoder_blur : float or "auto", default="auto"
        When positive, the Gaussian decoder is one of correlated pixels for rows read as
        images: the residual image ``x − μ(z)`` blurred by a Gaussian of this standard
        deviation in pixels (:class:`deepae.blur.GaussianBlur`, ``B``) has independent
        pixels of the decoder's variance, so ``−log p(x | z) = ‖B(x − μ(z))‖² / (2σ²) + const``
        for a fixed variance ``σ²`` (precision ``BᵀB / σ²``; the constant holds
        ``log |det B|``, so the ELBO stays a bound of a density's log-likelihood). A missing
        or extra stroke then costs more than an edge drawn a pixel aside. Needs the Gaussian
        decoder and images of at most 256 pixels a side, no narrower than the blur; 0
        gives independent pixels. ``"auto"``: 0; the detector sets it on images.
    image_shape : tuple of int, "auto" or None, default="auto"
        ``(channels, height, width)`` of each row, for ``decoder_blur``; ``None`` reads a row
        of a square number of pixels as one square channel (784 → ``(1, 28, 28)``), any
        other as a one-pixel-high strip (the rule of :class:`deepae.ConvolutionalAutoencoder`).
        ``"auto"``: as ``None``; as the detector's model, the pixel grid the detector finds.
    beta : float, default=1.0
        Weight of the KL term in training (``β > 1``: a β-VAE); :meth:`score_samples` is
        the bound at β = 1 whatever ``beta`` is.
    warmup_epochs : int, default=10
        The KL weight ramps linearly from 0 to ``beta`` over this many epochs of training
        rows (0: no warm-up). The validation loss of early stopping always uses ``beta``.
    n_importance_samples : int, default=0
        When positive, :meth:`score_samples` is the importance-weighted bound with this many
        draws (tighter than the ELBO); 0 gives the ELBO.
    optimizer : {"adam", "sgd"}, default="adam"
    learning_rate : float, default=1e-3
    weight_decay : float, default=0.0
    batch_size : int, default=64
    max_epochs : int or "auto", default="auto"
        ``"auto"``: 100; as the detector's model on images, the detector sets it.
    early_stopping : bool, default=True
    validation_fraction : float, default=0.1
    patience : int, default=10
    random_state : int, RandomState or None, default=None
    device : str or torch.device, default="auto"
    verbose : int, default=0
    checkpoint : str, path or None, default=None
        See :class:`deepae.Autoencoder` for the training parameters.

    Attributes
    ----------
    module_ : deepae.modules.VAE
        The trained torch module.
    decoder_ : str
        The decoder used (``auto`` resolved).
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``valid_loss``, ``seconds`` (losses are minus
        the mean ELBO, its KL term weighted by ``beta``).
    n_epochs_ : int
    n_features_in_ : int

    Notes
    -----
    As the model of :class:`deepae.ReconstructionOutlierDetector` it scores each sample by
    minus :meth:`score_samples`, of the rows scaled to one norm (the detector's
    ``scaling="rows"``, its ``"auto"`` on wide data unless the decoder is set to Bernoulli).
    On images the detector sets the ``"auto"`` options to what scored best: ``image_shape``
    the pixel grid it finds, ``decoder_blur`` 1 pixel per 28 of the image's shorter side,
    ``decoder_variance`` 1% of the scaled pixels' mean square, ``max_epochs=30``
    (:mod:`deepae.outliers.named_models`); one-class
    MNIST-5k mean ROC-AUC in ``benchmarks/results.md`` (section ``vae``).
    ``export_onnx`` writes ``transform``, ``reconstruction_error``
    and ``score_samples``, the bound at the fixed draws of :meth:`score_noise`.

    The defaults were measured on MNIST-5k (4,000 training, 1,000 test images, Bernoulli
    decoder, early stopping; test ELBO / importance-weighted bound with k = 100, in nats):
    10 codes −121.0 / −115.1, 20 codes −116.9 / −107.9 (kept), 20 codes with 512 hidden
    units −116.2 / −106.8 for twice the time, 128 hidden units −122.0 / −116.5, learning rate
    3e-3 −123.0 / −115.5 (early stopping after 50 epochs), no KL warm-up −121.5 / −115.7.
    """

    #: A table (strings, missing cells) is read through a fitted ``TableEncoder``
    #: (``encoder_``; see :func:`deepae.tabular.estimators.table_numbers`).
    _reads_tables = True

    def __init__(
        self,
        code_size=20,
        hidden_size=256,
        activation="relu",
        decoder="auto",
        decoder_variance="auto",
        decoder_blur="auto",
        image_shape="auto",
        beta=1.0,
        warmup_epochs=10,
        n_importance_samples=0,
        optimizer="adam",
        learning_rate=1e-3,
        weight_decay=0.0,
        batch_size=64,
        max_epochs="auto",
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        random_state=None,
        device="auto",
        verbose=0,
        checkpoint=None,
    ):
        self.code_size = code_size
        self.hidden_size = hidden_size
        self.activation = activation
        self.decoder = decoder
        self.decoder_variance = decoder_variance
        self.decoder_blur = decoder_blur
        self.image_shape = image_shape
        self.beta = beta
        self.warmup_epochs = warmup_epochs
        self.n_importance_samples = n_importance_samples
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.checkpoint = checkpoint

    def _check_params(self) -> None:
        check_scalar(self.code_size, "code_size", numbers.Integral, min_val=1)
        check_scalar(self.hidden_size, "hidden_size", numbers.Integral, min_val=1)
        check_option("activation", self.activation, tuple(modules.ACTIVATIONS))
        check_option("decoder", self.decoder, ("auto", *modules.DECODERS))
        if not (isinstance(self.decoder_variance, str)
                and self.decoder_variance in ("auto", "learned")):
            check_scalar(self.decoder_variance, "decoder_variance", numbers.Real, min_val=0,
                         include_boundaries="neither")
        if isinstance(self.decoder_blur, bool):
            raise TypeError("decoder_blur must be 'auto' or a float ≥ 0, got a bool.")
        if not (isinstance(self.decoder_blur, str) and self.decoder_blur == "auto"):
            check_scalar(self.decoder_blur, "decoder_blur", numbers.Real, min_val=0)
        resolve_image_shape(self.image_shape, self.n_features_in_)
        check_scalar(self.beta, "beta", numbers.Real, min_val=0)
        check_scalar(self.warmup_epochs, "warmup_epochs", numbers.Integral, min_val=0)
        check_scalar(self.n_importance_samples, "n_importance_samples", numbers.Integral,
                     min_val=0)
        self._check_training_params()

    @checkpointed
    def fit(self, X, y=None):
        """Train on ``X`` (the sources of :meth:`deepae.Autoencoder.fit`); ``y`` is ignored."""
        seed = seed_from(self.random_state)
        device = resolve_device(self.device)
        train_data, valid_data = self._training_sources(X, seed, device)
        self._check_params()
        self.decoder_ = self._resolve_decoder(train_data, valid_data)
        module = self._new_module()
        module.reset_parameters(torch.Generator().manual_seed(seed))
        self.module_ = module.to(device)
        warmup_rows = int(self.warmup_epochs) * count_rows(train_data)
        self.history_ = train(
            self.module_,
            elbo_objective(float(self.beta), warmup_rows),
            train_data,
            self._training_config(seed, type(self).__name__),
            valid_data,
        )
        self.n_epochs_ = len(self.history_)
        return self

    def _resolve_decoder(self, *sources) -> str:
        """``decoder`` with ``auto`` resolved; Bernoulli needs all the data in [0, 1] and no
        ``decoder_blur``."""
        ranges = [feature_range(s) for s in sources if s is not None]
        unit = all(low.min() >= 0 and high.max() <= 1 for low, high in ranges)
        if self.decoder == "auto":
            return "bernoulli" if unit and self._blur_sigma() == 0 else "gaussian"
        if self.decoder == "bernoulli" and not unit:
            raise ValueError("decoder='bernoulli' needs data in [0, 1].")
        if self.decoder == "bernoulli" and self._blur_sigma() > 0:
            raise ValueError(f"decoder_blur={self.decoder_blur} needs the Gaussian decoder, "
                             "got decoder='bernoulli'.")
        return self.decoder

    def _auto(self) -> dict:
        """``max_epochs="auto"``: 100 (the detector sets its own on images)."""
        return {"max_epochs": 100}

    def _blur_sigma(self) -> float:
        """``decoder_blur`` with ``"auto"`` resolved (0: no blur)."""
        return 0.0 if isinstance(self.decoder_blur, str) else float(self.decoder_blur)

    def _new_module(self) -> modules.VAE:
        """An untrained module of this estimator's architecture (needs ``n_features_in_``
        and ``decoder_``)."""
        variance = None if isinstance(self.decoder_variance, str) else float(
            self.decoder_variance)
        blur = None
        sigma = self._blur_sigma()
        if sigma > 0 and self.decoder_ == "gaussian":
            shape = resolve_image_shape(self.image_shape, self.n_features_in_)
            if not sigma <= max(shape[1:]) <= DENSE_MAX_SIDE:
                raise ValueError(f"decoder_blur={self.decoder_blur} needs images of at most "
                                 f"{DENSE_MAX_SIDE} pixels a side, at least as wide as the "
                                 f"blur; got image_shape={shape}.")
            blur = GaussianBlur(shape, sigma)
        return modules.VAE(self.n_features_in_, int(self.code_size), int(self.hidden_size),
                           self.activation, self.decoder_, variance, blur)

    def transform(self, X):
        """The mean ``μ(x)`` of ``q(z | x)`` for each row."""
        check_is_fitted(self, "module_")
        return self._apply(lambda module, x: module.encode(x)[0], X)

    def inverse_transform(self, X):
        """The decoder's mean ``E[x | z]`` for codes of shape (n_samples, code_size) (fitted on
        a table: a DataFrame of its columns, each category its most likely level)."""
        check_is_fitted(self, "module_")
        codes = check_array(X, dtype=FLOAT_DTYPES)
        if codes.shape[1] != self.module_.code_size:
            raise ValueError(f"X has {codes.shape[1]} code columns, but {type(self).__name__} "
                             f"has code_size={self.module_.code_size}.")
        return tables.decoded(self, self._run(lambda module, z: module.decode(z), codes))

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample squared error ``‖x − E[x | z = μ(x)]‖²`` of the mean reconstruction."""
        check_is_fitted(self, "module_")
        return self._apply(lambda m, x: (m.decode(m.encode(x)[0]) - x).square().sum(1), X)

    def score_samples(self, X) -> np.ndarray:
        """A lower bound of ``log p(x)`` per row: the ELBO from one draw of ``z``, or the
        importance-weighted bound with ``n_importance_samples`` draws. The standard normal
        draws ``ε`` (``z = μ + σ ε``) are :meth:`score_noise`, shared by all rows, so a row's
        score depends neither on the call, the device nor the other rows."""
        noise = self.score_noise()
        if self.n_importance_samples == 0:
            return self._apply(lambda module, x: module.elbo_at(x, noise[0].to(x)), X)
        return self._apply(lambda module, x: module.importance_weighted_at(
            x, noise.to(x), chunk=max(1, (1 << 22) // (len(x) * module.n_features))), X)

    def score_noise(self) -> torch.Tensor:
        """The draws ``ε`` behind :meth:`score_samples`: shape ``(max(1, k), 1, code_size)``
        for ``k = n_importance_samples``, from the seed :data:`SCORE_SEED` (on the CPU)."""
        check_is_fitted(self, "module_")
        check_scalar(self.n_importance_samples, "n_importance_samples", numbers.Integral,
                     min_val=0)
        generator = torch.Generator().manual_seed(SCORE_SEED)
        shape = (max(1, int(self.n_importance_samples)), 1, self.module_.code_size)
        return torch.randn(shape, generator=generator)

    def _likelihood_module(self):
        """A torch module computing :meth:`score_samples` from float32 rows (ONNX export)."""
        from .export import VAEBound

        check_is_fitted(self, "module_")
        return VAEBound(self.module_, self.score_noise(), self.n_importance_samples > 0)

    def _export_module(self):
        """The torch module of ONNX export: ``transform`` (the code means),
        ``reconstruction_error`` and ``score_samples`` (the bound at :meth:`score_noise`)."""
        from .export import VAEOutputs

        return VAEOutputs(self._likelihood_module())

    def score(self, X, y=None) -> float:
        """Mean of :meth:`score_samples`."""
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Decoder means ``E[x | z]`` of ``n_samples`` codes drawn from the prior ``N(0, I)``
        (probabilities in ``[0, 1]`` for the Bernoulli decoder), as float32."""
        check_is_fitted(self, "module_")
        check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        generator = torch.Generator().manual_seed(seed_from(random_state))
        codes = torch.randn(n_samples, self.module_.code_size, generator=generator)
        return self._run(lambda module, z: module.decode(z), codes.numpy())

    @property
    def _n_features_out(self):
        return self.module_.code_size

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        tags.input_tags.string = True  # tables (deepae.tabular)
        return tags
