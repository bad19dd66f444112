"""One rank of the two-process tests in test_distributed.py (run as a script, with torchrun's
environment variables set by the test): fits estimators on this rank's shard of
``DIR/data.npz`` and writes what they learned to ``DIR/rank<r>.npz``."""

import os
import sys

import numpy as np
import scipy.sparse
import torch
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae import checkpoint, distributed
from deepae.outliers import grid_smoothness_ratio


def fit_linear(data, rank, directory):
    X = data["X"]
    shard = np.array_split(X, 2)[rank]
    stream = deepae.PCA(5)
    for half in np.array_split(shard, 2):
        stream.partial_fit(half)
    mapped = np.load(os.path.join(directory, "X.npy"), mmap_mode="r")
    start = 0 if rank == 0 else len(np.array_split(X, 2)[0])
    models = {
        "pca": deepae.PCA(5).fit(shard),
        "linear": deepae.LinearAutoencoder(4).fit(shard),
        "stream": stream,
        "mapped": deepae.PCA(5).fit(mapped[start : start + len(shard)]),
        "randomized": deepae.PCA(5, svd_solver="randomized", n_oversamples=2,
                                 random_state=0).fit(mapped[start : start + len(shard)]),
        "sparse_arpack": deepae.PCA(5, svd_solver="arpack", random_state=0).fit(
            sparse_shard(rank)),
        "sparse_covariance": deepae.PCA(5, svd_solver="covariance_eigh").fit(
            sparse_shard(rank)),
    }
    return {f"{name}.{attribute}": getattr(model, attribute)
            for name, model in models.items()
            for attribute in ("components_", "explained_variance_", "mean_",
                              "singular_values_", "n_samples_seen_")}


def sparse_data():
    """A 301 × 40 CSR matrix, 20% non-zeros (the sparse cases' data)."""
    return scipy.sparse.random(301, 40, density=0.2, format="csr", random_state=0)


def sparse_shard(rank):
    """Rank ``rank``'s rows of :func:`sparse_data` (the first 151, or the other 150)."""
    return sparse_data()[:151] if rank == 0 else sparse_data()[151:]


def vae_shard(X, rank):
    """Rank ``rank``'s rows of the first 300 (every other row), standardized, in batches of 8."""
    X = X[:300]
    shard = torch.as_tensor((X[rank::2] - X.mean(0)) / X.std(0), dtype=torch.float32)
    return DataLoader(TensorDataset(shard), batch_size=8, shuffle=False)


VAE_PARAMS = dict(code_size=2, hidden_size=6, max_epochs=3, warmup_epochs=1, learning_rate=1e-2,
                  random_state=0)


def fit_loader(data, rank, directory):
    shard = torch.as_tensor(data["X"][rank::2], dtype=torch.float32)
    loader = DataLoader(TensorDataset(shard), batch_size=8, shuffle=False)
    model = deepae.Autoencoder(5, max_epochs=3, learning_rate=1e-2, random_state=0)
    model.fit(loader)
    vae = deepae.VariationalAutoencoder(**VAE_PARAMS).fit(vae_shard(data["X"], rank))
    centered = DataLoader(TensorDataset((shard[:144] - 1000.0) / 3.0), batch_size=8,
                          shuffle=False)
    conv = deepae.ConvolutionalAutoencoder((1, 2, 5), code_size=3, channels=(4,), max_epochs=3,
                                           learning_rate=1e-2, random_state=0).fit(centered)
    return {"components": model.components_, "decoder": model.decoder_intercept_,
            "conv.weights": np.concatenate([p.detach().numpy().ravel()
                                            for p in conv.module_.parameters()]),
            **{f"vae.{name}": value.numpy() for name, value in vae.module_.state_dict().items()}}


def fit_deep(data, rank, directory):
    X, y = np.array_split(data["X"], 2)[rank], np.array_split(data["y"], 2)[rank]
    common = dict(max_epochs=6, patience=2, random_state=0, batch_size=16)
    models = {
        "denoising": deepae.DenoisingAutoencoder(4, **common),
        "stacked": deepae.StackedAutoencoder((6, 3), pretrain_epochs=2, **common),
        "classifier": deepae.DeepClassifier((8,), pretrain_epochs=2, **common),
        "regressor": deepae.DeepRegressor((8,), pretrain_epochs=2, **common),
        "outliers": deepae.ReconstructionOutlierDetector(),
    }
    models["denoising"].fit(X)
    models["stacked"].fit(X)
    models["classifier"].fit(X, y)
    models["regressor"].fit(X, X[:, 0] * 100 + 5)
    models["outliers"].fit(X)
    models["classifier"].save(os.path.join(directory, f"classifier-{rank}.safetensors"))
    fitted = {name: getattr(model, "model_", model) for name, model in models.items()}
    out = {f"{name}.weights": np.concatenate(
        [p.detach().numpy().ravel() for p in model.module_.parameters()])
        for name, model in fitted.items()}
    out.update({f"{name}.n_epochs": model.n_epochs_ for name, model in fitted.items()})
    out["classifier.classes"] = models["classifier"].classes_
    out["regressor.y_mean"] = models["regressor"].y_mean_
    out["regressor.y_scale"] = models["regressor"].y_scale_
    out["outliers.threshold"] = models["outliers"].threshold_
    out["outliers.scaling"] = np.r_[models["outliers"].mean_, models["outliers"].scale_]
    out["outliers.code_precision"] = models["outliers"].code_precision_
    out["outliers.residual_variance"] = models["outliers"].residual_variance_
    out["outliers.local_scores"] = models["outliers"].decision_scores_
    out["outliers.members"] = np.concatenate([
        p.detach().numpy().ravel() for member in models["outliers"].ensemble_
        for p in member.model_.module_.parameters()])
    out["grid.ratio"] = grid_smoothness_ratio(X[:, :9])
    trimmed = deepae.ReconstructionOutlierDetector(deepae.PCA(3), code_density=True,
                                                  density_trim=0.3).fit(X)
    out["trimmed.residual_variance"] = trimmed.residual_variance_
    out["trimmed.code_precision"] = trimmed.code_precision_
    image = deepae.ReconstructionOutlierDetector(deepae.ConvolutionalAutoencoder(
        (1, 2, 5), code_size=3, channels=(4,), max_epochs=2, random_state=0), scaling=None,
        code_density=False).fit(X)
    out["image.energy_floor"] = image.energy_floor_
    out["rows.row_norm"] = deepae.ReconstructionOutlierDetector(
        deepae.PCA(3), scaling="rows").fit(X).row_norm_
    neighbors = deepae.ReconstructionOutlierDetector(deepae.PCA(3), n_neighbors=3).fit(X)
    out["neighbors.rows"] = neighbors.neighbor_rows_
    out["neighbors.term_scaling"] = np.r_[neighbors.term_center_, neighbors.term_scale_]
    out["neighbors.local_scores"] = neighbors.decision_scores_
    return out


def fit_resume(data, rank, directory):
    """A fit stopped on every rank after its third checkpoint (in fine-tuning), run again."""
    X = np.array_split(data["X"], 2)[rank]

    def make(**params):
        return deepae.StackedAutoencoder((6, 3), pretrain_epochs=2, max_epochs=4,
                                         batch_size=16, random_state=0, **params)

    expected = make().fit(X)
    checkpoint.EPOCH_SECONDS = 0.0  # a checkpoint at every epoch end
    after_epoch, saves = checkpoint.Stage.after_epoch, [0]

    def stopping(stage, *state):
        after_epoch(stage, *state)
        saves[0] += 1
        if saves[0] == 3:
            raise KeyError("stopped")

    checkpoint.Stage.after_epoch = stopping
    try:
        make(checkpoint=os.path.join(directory, "ck")).fit(X)
    except KeyError:
        pass
    else:
        raise AssertionError("the first fit was not stopped")
    checkpoint.Stage.after_epoch = after_epoch
    resumed = make(checkpoint=os.path.join(directory, "ck")).fit(X)
    return {f"{name}.{key}": value.numpy() for name, model in
            (("expected", expected), ("resumed", resumed))
            for key, value in model.module_.state_dict().items()}


def fleet():
    """Four short series of three channels (the second channel an on/off flag), the fleet the
    time-series case splits over the ranks (two each)."""
    rng = np.random.default_rng(3)
    t = np.arange(260)
    out = []
    for i in range(4):
        wave = np.sin(2 * np.pi * t / (20 + i)) + 0.1 * rng.standard_normal(len(t))
        flag = (np.sin(t / 30.0 + i) > 0.9).astype(float)
        out.append(np.column_stack([wave, flag, rng.standard_normal(len(t)).cumsum() / 10]))
    return out


def fit_fleet(data, rank, directory):
    from deepae.timeseries import TimeSeriesOutlierDetector

    series = fleet()
    detector = TimeSeriesOutlierDetector(max_windows=300, max_references=100).fit(
        series[2 * rank : 2 * rank + 2])
    return {"window": detector.window_, "scaling": np.r_[detector.mean_, detector.scale_],
            "channel_scale": detector.channel_scale_, "references": detector.references_,
            "reference_positions": detector.reference_positions_,
            "threshold": detector.threshold_, "local_scores": detector.decision_scores_,
            "scores": detector.outlier_scores(series[0][::-1].copy())}


if __name__ == "__main__":
    case, directory = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    assert distributed.active()
    rank = distributed.rank()
    data = np.load(os.path.join(directory, "data.npz"))
    result = {"pca": fit_linear, "loader": fit_loader, "deep": fit_deep,
              "resume": fit_resume, "fleet": fit_fleet}[case](
        data, rank, directory)
    np.savez(os.path.join(directory, f"rank{rank}.npz"), **result)
    print("rank", rank, "wrote its results", flush=True)
