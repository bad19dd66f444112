"""Two processes on this machine (gloo over 127.0.0.1) give the models of one process.

Each test starts two ranks of ``rank_worker.py`` with the environment variables torchrun
sets, so the estimators find the process group by themselves, as under torchrun.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rank_worker import VAE_PARAMS, fleet, sparse_data, vae_shard
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae._base import seed_from
from deepae.modules import VAE
from deepae.outliers import grid_smoothness_ratio
from deepae.training import TrainingConfig, make_optimizer
from deepae.vae import elbo_objective

WORKER = Path(__file__).with_name("rank_worker.py")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(301, 10)) @ RNG.normal(size=(10, 10)) + 1000.0
Y = np.where(RNG.random(301) < 0.3, -1, np.arange(301) % 3)
Y[150:][Y[150:] == 2] = 0  # rank 1's shard has no label 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(case: str, directory: Path, world_size: int = 2) -> list[dict]:
    """Run ``case`` of the worker on ``world_size`` ranks; their results, in rank order."""
    np.savez(directory / "data.npz", X=X, y=Y)
    np.save(directory / "X.npy", X)
    port = str(free_port())
    processes = []
    for rank in range(world_size):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                   LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                   OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
        if Path("/sys/class/net/lo").exists():
            env["GLOO_SOCKET_IFNAME"] = "lo"
        processes.append(subprocess.Popen(
            [sys.executable, str(WORKER), case, str(directory)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=240)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    assert all(p.returncode == 0 for p in processes), "\n".join(outputs)
    return [dict(np.load(directory / f"rank{r}.npz")) for r in range(world_size)]


@pytest.fixture(scope="module")
def linear_results(tmp_path_factory):
    return run_ranks("pca", tmp_path_factory.mktemp("pca"))


@pytest.mark.parametrize("name", ["pca", "linear", "stream", "mapped", "randomized",
                                  "sparse_arpack", "sparse_covariance"])
def test_all_reduced_linear_models_equal_the_one_process_fit(linear_results, name):
    """Dense shards, and CSR shards (Lanczos products or sparse XᵀX all-reduced)."""
    single = {"linear": deepae.LinearAutoencoder(4),
              "randomized": deepae.PCA(5, svd_solver="randomized", n_oversamples=2,
                                       random_state=0),
              "sparse_arpack": deepae.PCA(5, svd_solver="arpack", random_state=0),
              "sparse_covariance": deepae.PCA(5, svd_solver="covariance_eigh"),
              }.get(name, deepae.PCA(5)).fit(sparse_data() if "sparse" in name else X)
    for result in linear_results:
        assert result[f"{name}.n_samples_seen_"] == len(X)
        for attribute in ("components_", "explained_variance_", "mean_", "singular_values_"):
            expected = getattr(single, attribute)  # equal to rounding at the spectrum's scale
            atol = max(1e-10, 1e-14 * np.abs(expected).max())
            np.testing.assert_allclose(result[f"{name}.{attribute}"], expected, rtol=1e-10,
                                       atol=atol)


@pytest.fixture(scope="module")
def loader_results(tmp_path_factory):
    return run_ranks("loader", tmp_path_factory.mktemp("loader"))


def single_process_loader(centered: bool = False) -> DataLoader:
    """Rank r trains on rows r, r+2, ... in batches of 8: together, the 16 consecutive rows
    that one process sees in its batches of 16. ``centered``: the first 288 rows (18 full
    batches: no uneven last batch, whose two means differ from the mean over all its rows)
    of ``(X − 1000) / 3``."""
    rows = torch.as_tensor(X, dtype=torch.float32)
    if centered:
        rows = (rows[:288] - 1000.0) / 3.0
    return DataLoader(TensorDataset(rows), batch_size=16)


def test_ddp_training_equals_one_process_with_the_same_global_batch(loader_results):
    loader = single_process_loader()
    single = deepae.Autoencoder(5, max_epochs=3, learning_rate=1e-2, random_state=0).fit(loader)
    assert not np.allclose(single.components_, deepae.Autoencoder(
        5, max_epochs=1, learning_rate=1e-2, random_state=0).fit(loader).components_)
    for result in loader_results:
        np.testing.assert_allclose(result["components"], single.components_, atol=2e-5)
        np.testing.assert_allclose(result["decoder"], single.decoder_intercept_, atol=2e-5)


def test_ddp_vae_equals_one_process_averaging_the_two_ranks_losses(loader_results):
    """Each rank draws its codes' noise from its own generator (seed + 7919 · rank); one
    process that averages the two ranks' batch losses at every step, with those generators,
    takes the same steps as the two DDP ranks."""
    seed = seed_from(VAE_PARAMS["random_state"])
    module = VAE(10, VAE_PARAMS["code_size"], VAE_PARAMS["hidden_size"], "relu", "gaussian")
    module.reset_parameters(torch.Generator().manual_seed(seed))
    optimizer = make_optimizer(module, TrainingConfig(learning_rate=VAE_PARAMS["learning_rate"]))
    losses = [elbo_objective(1.0, warmup_rows=150) for _ in range(2)]
    generators = [torch.Generator().manual_seed(seed + 7919 * r) for r in range(2)]
    loaders = [vae_shard(X, r) for r in range(2)]
    for _ in range(VAE_PARAMS["max_epochs"]):
        for batches in zip(*loaders, strict=True):
            loss = sum(f(module, b, g) for f, b, g in zip(losses, batches, generators,
                                                             strict=True)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for result in loader_results:
        for name, value in module.state_dict().items():
            np.testing.assert_allclose(result[f"vae.{name}"], value.detach().numpy(),
                                       atol=2e-5, err_msg=name)


def test_ddp_convolutional_training_equals_one_process(loader_results):
    params = dict(code_size=3, channels=(4,), learning_rate=1e-2, random_state=0, device="cpu")
    single = deepae.ConvolutionalAutoencoder((1, 2, 5), max_epochs=3, **params).fit(
        single_process_loader(centered=True))
    weights = np.concatenate([p.detach().numpy().ravel() for p in single.module_.parameters()])
    shorter = deepae.ConvolutionalAutoencoder((1, 2, 5), max_epochs=1, **params).fit(
        single_process_loader(centered=True))
    assert not np.allclose(weights, np.concatenate(
        [p.detach().numpy().ravel() for p in shorter.module_.parameters()]), atol=1e-3)
    for result in loader_results:
        np.testing.assert_allclose(result["conv.weights"], weights, atol=2e-5)


def test_every_rank_ends_with_the_same_deep_models(tmp_path):
    first, second = run_ranks("deep", tmp_path)
    for key, value in first.items():
        if "local" not in key:
            np.testing.assert_array_equal(value, second[key], err_msg=key)
    scores = np.concatenate([first["outliers.local_scores"], second["outliers.local_scores"]])
    assert first["outliers.threshold"] == pytest.approx(np.percentile(scores, 90), rel=1e-12)
    np.testing.assert_allclose(first["outliers.scaling"], np.r_[X.mean(0), X.std(0)], rtol=1e-9)
    # the default's ensemble (the same members on every rank: checked above) and the grid
    # rule of the "auto" options, from all ranks' rows
    assert len(first["outliers.members"]) > 0
    assert first["grid.ratio"] == pytest.approx(grid_smoothness_ratio(X[:, :9]), rel=1e-9)
    # the rows kept by density_trim are chosen among all ranks' rows
    single = deepae.ReconstructionOutlierDetector(deepae.PCA(3), code_density=True,
                                                 density_trim=0.3).fit(X)
    np.testing.assert_allclose(first["trimmed.residual_variance"], single.residual_variance_,
                               rtol=1e-7)
    np.testing.assert_allclose(first["trimmed.code_precision"], single.code_precision_,
                               rtol=1e-7)
    # the relative error's energy floor: of the mean energy of all ranks' rows
    assert first["image.energy_floor"] == pytest.approx(1e-6 * np.square(X).sum(1).mean(),
                                                        rel=1e-12)
    # the row scaling's norm: the mean norm of all ranks' rows
    assert first["rows.row_norm"] == pytest.approx(np.linalg.norm(X, axis=1).mean(), rel=1e-12)
    # the neighbour term searches all ranks' rows; its scaling is of all ranks' terms
    single = deepae.ReconstructionOutlierDetector(deepae.PCA(3), n_neighbors=3).fit(X)
    np.testing.assert_allclose(first["neighbors.rows"], single.neighbor_rows_, rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(first["neighbors.term_scaling"],
                               np.r_[single.term_center_, single.term_scale_], rtol=1e-5)
    np.testing.assert_allclose(np.concatenate([first["neighbors.local_scores"],
                                               second["neighbors.local_scores"]]),
                               single.decision_scores_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(first["classifier.classes"], [0, 1, 2])
    target = X[:, 0] * 100 + 5
    np.testing.assert_allclose(first["regressor.y_mean"], target.mean(), rtol=1e-12)
    np.testing.assert_allclose(first["regressor.y_scale"], target.std(), rtol=1e-12)
    assert (tmp_path / "classifier-0.safetensors").exists()
    assert not (tmp_path / "classifier-1.safetensors").exists()  # only rank 0 writes files


def test_a_fleet_of_series_split_over_two_ranks_fits_the_one_process_detector(tmp_path):
    from deepae.timeseries import TimeSeriesOutlierDetector

    first, second = run_ranks("fleet", tmp_path)
    for key, value in first.items():
        if "local" not in key:
            np.testing.assert_allclose(value, second[key], rtol=1e-6, err_msg=key)
    series = fleet()
    single = TimeSeriesOutlierDetector(max_windows=300, max_references=100).fit(series)
    assert first["window"] == single.window_
    np.testing.assert_allclose(first["scaling"], np.r_[single.mean_, single.scale_], rtol=1e-9)
    np.testing.assert_allclose(first["channel_scale"], single.channel_scale_, rtol=1e-5)
    np.testing.assert_allclose(first["references"], single.references_, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(first["reference_positions"], single.reference_positions_)
    np.testing.assert_allclose(np.concatenate([first["local_scores"], second["local_scores"]]),
                               single.decision_scores_, rtol=1e-4, atol=1e-5)
    assert first["threshold"] == pytest.approx(single.threshold_, rel=1e-4)
    np.testing.assert_allclose(first["scores"], single.outlier_scores(series[0][::-1].copy()),
                               rtol=1e-4, atol=1e-5)


def test_cli_fit_under_torchrun_with_shards_writes_the_model_of_all_rows(tmp_path):
    np.save(tmp_path / "data.npy", X)
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}",
               "-m", "deepae", "fit", "pca", str(tmp_path / "data.npy"),
               "-o", str(tmp_path / "pca.deepae"), "--n-components", "4", "--shard"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("fitted PCA on 301 samples") == 1  # rank 0 reports
    model, single = deepae.load(tmp_path / "pca.deepae"), deepae.PCA(4).fit(X)
    assert model.n_samples_seen_ == len(X)
    np.testing.assert_allclose(model.components_, single.components_, rtol=1e-10, atol=1e-10)


def test_two_ranks_stopped_mid_fit_resume_from_rank_0s_checkpoint(tmp_path):
    for result in run_ranks("resume", tmp_path):
        names = [name for name in result if name.startswith("expected.")]
        assert names
        for name in names:
            np.testing.assert_array_equal(result[name], result[name.replace("expected",
                                                                            "resumed")])
    assert not (tmp_path / "ck").exists()
