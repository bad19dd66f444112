"""ONNX export: an estimator's outputs as one ONNX graph (``model.export_onnx(path)``,
``deepae export MODEL -o model.onnx``).

Every estimator gives, through its ``_export_module()`` hook, a small torch module that
computes its outputs from the input rows, including any standardization it applies inside,
with an ``output_names`` tuple naming them after the estimator's methods. The modules below
wrap the estimators' own torch modules; :func:`export_onnx` turns any of them into ONNX with
torch's exporter, with one float32 input ``X`` of shape ``(batch, n_features)`` whose batch
size is free. The packages ``onnx``, ``onnxruntime`` and ``onnxscript`` (the ``deepae[onnx]``
extra) are needed to export and to run the graph.
"""

import contextlib
import copy
import logging
import os
import warnings

import torch
from torch import nn

#: The optional packages torch's ONNX exporter needs.
ONNX_PACKAGES = ("onnx", "onnxscript")
INPUT_NAME = "X"


class ReconstructionOutputs(nn.Module):
    """``transform``, ``reconstruction_error`` and ``score_samples`` of a model whose module
    (``coder``) has ``encode`` and ``decode``."""

    output_names = ("transform", "reconstruction_error", "score_samples")

    def __init__(self, coder: nn.Module):
        super().__init__()
        self.coder = coder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        codes = self.coder.encode(x)
        errors = (self.coder.decode(codes) - x).square().sum(1)
        return codes, errors, -errors


class GaussianScoreOutputs(ReconstructionOutputs):
    """``transform``, ``reconstruction_error`` and, as ``score_samples``, the Gaussian
    log-density ``−½ (x − m)ᵀ P (x − m) + c`` of probabilistic PCA."""

    def __init__(self, coder: nn.Module, mean, precision, constant: float):
        super().__init__(coder)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("precision", torch.tensor(precision, dtype=torch.float32))
        self.constant = float(constant)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        codes, errors, _ = super().forward(x)
        centered = x - self.mean
        quadratic = ((centered @ self.precision) * centered).sum(1)
        return codes, errors, self.constant - 0.5 * quadratic


class LowRankGaussianScoreOutputs(ReconstructionOutputs):
    """The same outputs with the precision ``α I − B Bᵀ`` (``B`` is d × k): the quadratic
    ``α ‖x − m‖² − ‖(x − m) B‖²``, never a d × d matrix."""

    def __init__(self, coder: nn.Module, mean, alpha: float, basis, constant: float):
        super().__init__(coder)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("basis", torch.tensor(basis, dtype=torch.float32))
        self.alpha, self.constant = float(alpha), float(constant)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        codes, errors, _ = super().forward(x)
        centered = x - self.mean
        reduced = centered @ self.basis
        quadratic = self.alpha * (centered * centered).sum(1) - (reduced * reduced).sum(1)
        return codes, errors, self.constant - 0.5 * quadratic


class ClassifierOutputs(nn.Module):
    """``predict_proba``: the softmax of a network's outputs."""

    output_names = ("predict_proba",)

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.network(x).softmax(1),)


class RegressorOutputs(nn.Module):
    """``predict``: a network's outputs mapped back to the targets' scale (one column per
    target, or a vector for a single 1-D target)."""

    output_names = ("predict",)

    def __init__(self, network: nn.Module, mean: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.network = network
        self.flat = mean.dim() == 0
        self.register_buffer("mean", mean.reshape(-1))
        self.register_buffer("scale", scale.reshape(-1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        prediction = self.network(x) * self.scale + self.mean
        return (prediction[:, 0] if self.flat else prediction,)


class RBMOutputs(nn.Module):
    """``transform`` (the hidden probabilities) and ``score_samples`` (the exact
    pseudo-log-likelihood, or ``−F(x)`` for Gaussian visible units) of an RBM."""

    output_names = ("transform", "score_samples")

    def __init__(self, rbm: nn.Module):
        super().__init__()
        self.rbm = rbm

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        rbm = self.rbm
        if rbm.visible == "gaussian":
            return rbm.hidden_probabilities(x), -rbm(x)
        # one block of every visible unit: the graph does not depend on the batch size
        return rbm.hidden_probabilities(x), rbm.pseudo_log_likelihood(x, block=rbm.n_visible)


class VAEBound(nn.Module):
    """The log-likelihood estimate of a variational autoencoder at fixed standard normal draws
    ``noise`` of shape ``(k, 1, code_size)`` shared by all rows: the ELBO (closed-form KL) at
    the first draw, or with ``importance`` the importance-weighted bound of the ``k`` draws
    — what :meth:`deepae.VariationalAutoencoder.score_samples` computes."""

    def __init__(self, vae: nn.Module, noise: torch.Tensor, importance: bool):
        super().__init__()
        self.vae = vae
        self.importance = importance
        self.register_buffer("noise", noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.importance:
            return self.vae.importance_weighted_at(x, self.noise)
        return self.vae.elbo_at(x, self.noise[0])


class VAEOutputs(nn.Module):
    """``transform`` (the means of ``q(z | x)``), ``reconstruction_error`` (of the decoded
    means) and ``score_samples`` (a :class:`VAEBound`) of a variational autoencoder."""

    output_names = ("transform", "reconstruction_error", "score_samples")

    def __init__(self, bound: VAEBound):
        super().__init__()
        self.bound = bound

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        vae = self.bound.vae
        codes = vae.encode(x)[0]
        errors = (vae.decode(codes) - x).square().sum(1)
        return codes, errors, self.bound(x)


class DetectorOutputs(nn.Module):
    """``score_samples`` (minus the per-row outlier score that ``scores`` computes) and
    ``decision_function`` (``score_samples − offset``) of an outlier detector."""

    output_names = ("score_samples", "decision_function")

    def __init__(self, scores: nn.Module, offset: float):
        super().__init__()
        self.scores = scores
        self.offset = float(offset)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        scores = -self.scores(x)
        return scores, scores - self.offset


class RowScaling(nn.Module):
    """The scaling of :class:`deepae.ReconstructionOutlierDetector`: ``z = (x − mean) /
    scale``, then, with a ``row_norm``, each row scaled to that norm (its norm counted as at
    least ``norm_floor``)."""

    def __init__(self, mean: torch.Tensor, scale: torch.Tensor, row_norm: float | None = None,
                 norm_floor: float = 0.0):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.row_norm = row_norm
        self.norm_floor = norm_floor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.scale
        if self.row_norm is None:
            return z
        return z * (self.row_norm / z.norm(dim=1, keepdim=True).clamp_min(self.norm_floor))


class DetectorScore(nn.Module):
    """The outlier score of :class:`deepae.ReconstructionOutlierDetector`: the rows scaled
    (a :class:`RowScaling`), then the squared reconstruction error of a ``coder``
    (``encode`` and ``decode``), its residual smoothed by ``blur`` first when one is given —
    each feature's divided by its ``residual_variance``, plus the squared Mahalanobis
    distance of the code under ``code_mean`` and ``code_precision``, when these are given
    (the code density); or, with an ``energy_floor``, divided by the row's energy ``‖z‖²``
    (at least ``energy_floor``: the relative error)."""

    def __init__(self, coder: nn.Module, scaling: RowScaling,
                 residual_variance: torch.Tensor | None = None,
                 code_mean: torch.Tensor | None = None,
                 code_precision: torch.Tensor | None = None,
                 blur: nn.Module | None = None, energy_floor: float | None = None):
        super().__init__()
        self.coder = coder
        self.scaling = scaling
        self.blur = blur
        self.density = residual_variance is not None
        self.energy_floor = energy_floor
        if self.density:
            self.register_buffer("weights", 1 / residual_variance)
            self.register_buffer("code_mean", code_mean)
            self.register_buffer("code_precision", code_precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scaling(x)
        codes = self.coder.encode(z)
        residuals = self.coder.decode(codes) - z
        if self.blur is not None:
            residuals = self.blur(residuals)
        residuals = residuals.square()
        if self.density:
            centered = codes - self.code_mean
            return residuals @ self.weights + (centered @ self.code_precision * centered).sum(1)
        if self.energy_floor is None:
            return residuals.sum(1)
        return residuals.sum(1) / z.square().sum(1).clamp_min(self.energy_floor)


class EnsembleScore(nn.Module):
    """The median or the mean (``combine``) of several score modules' outputs: the outlier
    score of an ensemble of models."""

    def __init__(self, scores: list[nn.Module], combine: str):
        super().__init__()
        self.scores = nn.ModuleList(scores)
        self.combine = combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.stack([score(x) for score in self.scores], dim=1)
        if self.combine == "mean":
            return scores.mean(1)
        ordered = scores.sort(dim=1).values
        count = len(self.scores)
        return (ordered[:, (count - 1) // 2] + ordered[:, count // 2]) / 2


class NeighborTermScore(nn.Module):
    """The outlier score of :class:`deepae.ReconstructionOutlierDetector` with its neighbour
    term: the larger of the models' score (``scores``) and the distance from the scaled row
    to its ``n_neighbors``-th nearest stored training row (``rows``), each minus its
    ``center`` and divided by its ``scale``. The search is exact over the stored rows, in
    one batch × rows matrix (not chunked as in the detector)."""

    def __init__(self, scores: nn.Module, scaling: RowScaling, rows: torch.Tensor,
                 n_neighbors: int, center: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.scores = scores
        self.scaling = scaling
        self.n_neighbors = int(n_neighbors)
        self.register_buffer("rows", rows)
        self.register_buffer("row_norms", rows.square().sum(1))
        self.register_buffer("center", center)
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.scaling(x)
        squared = z.square().sum(1, keepdim=True) - 2 * z @ self.rows.T + self.row_norms
        nearest = squared.topk(self.n_neighbors, dim=1, largest=False).values
        terms = torch.stack([self.scores(x), nearest[:, -1].clamp_min(0).sqrt()], dim=1)
        return ((terms - self.center) / self.scale).amax(1)


class LikelihoodScore(nn.Module):
    """The outlier score of :class:`deepae.ReconstructionOutlierDetector` with a density
    model: minus the ``likelihood`` module's log-likelihood estimate of the rows scaled by
    ``scaling`` (a :class:`RowScaling`)."""

    def __init__(self, likelihood: nn.Module, scaling: RowScaling):
        super().__init__()
        self.likelihood = likelihood
        self.scaling = scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.likelihood(self.scaling(x))


class WindowScore(nn.Module):
    """The window score of :class:`deepae.TimeSeriesOutlierDetector` for flat windows of raw
    values: each value standardized (``mean``, ``scale``), then ``sqrt(e + d²)`` with ``e``
    the coder's squared reconstruction error per channel, divided by ``channel_scale``,
    reduced over channels by ``channel_error`` (max, mean or sum) and times ``error_factor``,
    and ``d²`` the mean squared distance of the code to its ``n_neighbors`` nearest
    ``references`` (none: ``d = 0``)."""

    output_names = ("score_windows",)

    def __init__(self, coder: nn.Module, mean: torch.Tensor, scale: torch.Tensor,
                 references: torch.Tensor, n_neighbors: int, channel_scale: torch.Tensor,
                 error_factor: float, channel_error: str):
        super().__init__()
        self.coder = coder
        self.n_inputs = len(mean)
        self.n_neighbors = min(n_neighbors, len(references))
        self.error_factor = error_factor
        self.channel_error = channel_error
        self.register_buffer("channel_scale", channel_scale)
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.register_buffer("references", references)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x - self.mean) / self.scale
        codes = self.coder.encode(z)
        error = (self.coder.decode(codes) - z).square().reshape(
            -1, len(self.channel_scale), self.n_inputs // len(self.channel_scale)).sum(2)
        error = error / self.channel_scale
        if self.channel_error == "max":
            error = error.amax(1)
        else:
            error = error.mean(1) if self.channel_error == "mean" else error.sum(1)
        error = error * self.error_factor
        if self.n_neighbors == 0:
            return error.sqrt()
        distances = (codes.square().sum(1, keepdim=True) - 2 * codes @ self.references.T
                     + self.references.square().sum(1))
        nearest = distances.topk(self.n_neighbors, dim=1, largest=False).values
        return (error + nearest.clamp_min(0).mean(1)).sqrt()


def check_onnx_packages() -> None:
    """Raise an ImportError naming the extra when an ONNX package is missing."""
    import importlib.util

    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"ONNX export needs the package(s) {', '.join(missing)}: install "
                          "them with pip install 'deepae[onnx]'")


def export_onnx(estimator, path) -> tuple[str, ...]:
    """Write ``estimator``'s outputs to the ONNX file ``path``; return the output names.

    The graph has one float32 input ``X`` of shape ``(batch, n_features_in_)`` (any batch
    size; a module with ``n_inputs`` takes that many columns: a time-series detector's flat
    windows) and one output per method, named after it (``transform``, ``score_samples``,
    ``predict_proba``, ...); it computes what the fitted estimator computes on float32 rows.
    """
    check_onnx_packages()
    hook = getattr(estimator, "_export_module", None)
    if hook is None:
        raise TypeError(f"{type(estimator).__name__} cannot be exported to ONNX")
    if not hasattr(estimator, "n_features_in_"):
        raise ValueError(f"This {type(estimator).__name__} is not fitted yet: fit it before "
                         "exporting it.")
    if getattr(estimator, "table_", False) or getattr(estimator, "encoder_", None) is not None:
        raise ValueError(f"This {type(estimator).__name__} was fitted on a table (strings or "
                         "missing cells): ONNX export takes rows of numbers only; encode the "
                         "table with deepae.TableEncoder and fit on its output to export.")
    module = copy.deepcopy(hook()).to("cpu", torch.float32).eval()
    example = torch.zeros(2, getattr(module, "n_inputs", estimator.n_features_in_))
    with quiet_exporter():
        torch.onnx.export(
            module, (example,), os.fspath(path), input_names=[INPUT_NAME],
            output_names=list(module.output_names),
            dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False,
        )
    return tuple(module.output_names)


@contextlib.contextmanager
def quiet_exporter():
    """Silence the exporter's progress messages and warnings (about packages it does not
    need, such as torchvision)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), open(os.devnull, "w") as devnull, \
                contextlib.redirect_stdout(devnull):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
