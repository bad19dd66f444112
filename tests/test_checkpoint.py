"""Checkpoints: a fit killed part-way and run again ends bit for bit as the uninterrupted fit."""

import multiprocessing
import os
import signal

import numpy as np
import pytest
import torch

import deepae
from deepae import checkpoint, cli, data

RNG = np.random.default_rng(0)
X = RNG.normal(size=(240, 10)).astype(np.float32)
Y = np.where(RNG.random(240) < 0.3, -1, (X[:, 0] > 0).astype(int))


class Killed(Exception):
    """Stands for the process being killed."""


@pytest.fixture(autouse=True)
def every_epoch(monkeypatch):
    """Checkpoints at every epoch end (by default at most one every 30 s)."""
    monkeypatch.setattr(checkpoint, "EPOCH_SECONDS", 0.0)


@pytest.fixture
def every_batch(monkeypatch):
    """Checkpoints after every batch (not only at epoch ends)."""
    monkeypatch.setattr(checkpoint, "INTERVAL_SECONDS", 0.0)


def kill_at(monkeypatch, n_batches: int, error: type = Killed) -> None:
    """Raise ``error`` when the training loop asks for its ``n_batches``-th batch."""
    batches, count = data.TensorRows.batches, [0]

    def counted(self, batch_size, generator):
        for batch in batches(self, batch_size, generator):
            if generator is not None:  # a training epoch, not an evaluation
                count[0] += 1
                if count[0] == n_batches:
                    raise error
            yield batch

    monkeypatch.setattr(data.TensorRows, "batches", counted)


def weights(model) -> dict[str, torch.Tensor]:
    return model.module_.state_dict()


def assert_same_weights(a, b) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def files(directory) -> list[str]:
    return sorted(os.listdir(directory))


ESTIMATORS = {
    "autoencoder": (lambda: deepae.DenoisingAutoencoder(4, max_epochs=6, patience=2,
                                                       random_state=0, device="cpu"), (X,), 15),
    "classifier": (lambda: deepae.DeepClassifier((6,), pretrain_epochs=2, max_epochs=4,
                                                 batch_size=32, random_state=0, device="cpu"),
                   (X, Y), 25),
    "sequence": (lambda: deepae.ConvolutionalSequenceAutoencoder(
        n_channels=2, code_size=3, channels=(4,), max_epochs=4, batch_size=32,
        random_state=0, device="cpu"), (X,), 9),
}


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_killed_fit_resumes_to_the_uninterrupted_fit(name, tmp_path, monkeypatch,
                                                        every_batch):
    make, args, kill = ESTIMATORS[name]
    expected = make().fit(*args)
    directory = tmp_path / "ck"
    with monkeypatch.context() as patch:
        kill_at(patch, kill)
        with pytest.raises(Killed):
            make().set_params(checkpoint=str(directory)).fit(*args)
    assert len(files(directory)) == checkpoint.KEEP  # the newest kept
    resumed = make().set_params(checkpoint=str(directory), verbose=1).fit(*args)
    assert_same_weights(resumed, expected)
    assert [h["train_loss"] for h in resumed.history_] == [
        h["train_loss"] for h in expected.history_]
    assert not directory.exists()  # removed by the successful fit


def test_a_checkpoint_at_an_epoch_end_resumes_too(tmp_path, monkeypatch):
    make = ESTIMATORS["autoencoder"][0]
    expected = make().fit(X)
    with monkeypatch.context() as patch:
        kill_at(patch, 3 * 4 + 2)  # 4 batches an epoch: in the 4th epoch
        with pytest.raises(Killed):
            make().set_params(checkpoint=tmp_path).fit(X)
    saved, _ = checkpoint.read(str(tmp_path / files(tmp_path)[-1]))
    assert saved["current"]["progress"]["epoch"] == 3
    assert_same_weights(make().set_params(checkpoint=tmp_path).fit(X), expected)


def test_ctrl_c_stops_a_fit_with_checkpoints_and_keeps_them(tmp_path, monkeypatch):
    make = ESTIMATORS["autoencoder"][0]
    with monkeypatch.context() as patch:
        kill_at(patch, 10, KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            make().set_params(checkpoint=tmp_path).fit(X)
    assert files(tmp_path)
    assert_same_weights(make().set_params(checkpoint=tmp_path).fit(X), make().fit(X))


def stacked(**params):
    return deepae.StackedAutoencoder((6, 3), pretrain_epochs=3, max_epochs=4, random_state=0,
                                     device="cpu", **params)


def fit_killed_at_batch(n_batches: int, directory) -> None:
    """In a forked process: fit with checkpoints after every batch, SIGKILL itself at the
    ``n_batches``-th batch."""
    torch.set_num_threads(1)
    checkpoint.INTERVAL_SECONDS = 0.0
    batches, count = data.TensorRows.batches, [0]

    def counted(self, size, generator):
        for batch in batches(self, size, generator):
            count[0] += generator is not None
            if count[0] == n_batches:
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch

    data.TensorRows.batches = counted
    stacked(checkpoint=directory).fit(X)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a process")
def test_a_sigkilled_process_resumes(tmp_path):
    process = multiprocessing.get_context("fork").Process(target=fit_killed_at_batch,
                                                          args=(18, tmp_path / "ck"))
    process.start()  # forked: the imports are done, and the fit is the child's alone
    process.join(120)
    assert process.exitcode == -signal.SIGKILL
    saved, _ = checkpoint.read(str(tmp_path / "ck" / files(tmp_path / "ck")[-1]))
    assert len(saved["stages"]) == 1  # killed in the second layer's pretraining
    torch.set_num_threads(1)
    assert_same_weights(stacked(checkpoint=tmp_path / "ck").fit(X), stacked().fit(X))


def test_a_checkpoint_of_other_parameters_or_data_is_refused(tmp_path, monkeypatch):
    make = ESTIMATORS["autoencoder"][0]
    with monkeypatch.context() as patch:
        kill_at(patch, 10)
        with pytest.raises(Killed):
            make().set_params(checkpoint=tmp_path).fit(X)
    with pytest.raises(ValueError, match="other parameters; remove it"):
        make().set_params(checkpoint=tmp_path, learning_rate=0.01).fit(X)
    changed = X.copy()
    changed[-1, 0] += 1
    with pytest.raises(ValueError, match="other data; remove it"):
        make().set_params(checkpoint=tmp_path).fit(changed)


def test_a_corrupt_newest_checkpoint_is_skipped_for_the_one_before(tmp_path, monkeypatch,
                                                                   every_batch):
    make = ESTIMATORS["autoencoder"][0]
    expected = make().fit(X)
    with monkeypatch.context() as patch:
        kill_at(patch, 13)
        with pytest.raises(Killed):
            make().set_params(checkpoint=tmp_path).fit(X)
    newest = tmp_path / files(tmp_path)[-1]
    content = bytearray(newest.read_bytes())
    content[-5] ^= 0x10
    newest.write_bytes(bytes(content))
    truncated = tmp_path / files(tmp_path)[-2]
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="unreadable") as caught:
        resumed = make().set_params(checkpoint=tmp_path).fit(X)
    assert ["checksum" in str(w.message) for w in caught] == [True, False]  # then truncated
    assert_same_weights(resumed, expected)


def test_an_unwritable_checkpoint_stops_the_fit_and_keeps_the_previous(tmp_path, monkeypatch):
    make = ESTIMATORS["autoencoder"][0]
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(checkpoint.CheckpointError, match="cannot create checkpoint"):
        make().set_params(checkpoint=a_file).fit(X)
    with pytest.raises(checkpoint.CheckpointError, match="cannot create checkpoint"):
        make().set_params(checkpoint=a_file / "below").fit(X)
    writes, fsync = [0], os.fsync

    def full_disk(fd):
        writes[0] += 1
        if writes[0] == 3:
            raise OSError(28, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    directory = tmp_path / "ck"
    with pytest.raises(checkpoint.CheckpointError, match="No space left on device; the fit "
                       "stopped"):
        make().set_params(checkpoint=directory).fit(X)
    assert files(directory) == ["checkpoint-000000.safetensors",
                                "checkpoint-000001.safetensors"]
    config, _ = checkpoint.read(str(directory / files(directory)[-1]))
    assert config["current"]["progress"]["epoch"] == 2


def test_the_command_line_resumes_with_the_same_command(tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "X.npy", X)
    command = ["fit", "autoencoder", tmp_path / "X.npy", "--hidden-size", "3",
               "--max-epochs", "5", "--random-state", "0", "--device", "cpu"]
    assert cli.main([str(a) for a in [*command, "-o", tmp_path / "expected.deepae"]]) == 0
    resumable = [*command, "-o", tmp_path / "resumed.deepae", "--checkpoint", tmp_path / "ck"]
    with monkeypatch.context() as patch:
        kill_at(patch, 2 * 4 + 1)  # in the third epoch
        assert cli.main([str(a) for a in resumable]) != 0
    assert "error: Killed" in capsys.readouterr().err
    assert cli.main([str(a) for a in resumable]) == 0
    assert "2/5" in capsys.readouterr().err  # the bar starts at the resumed epoch
    assert_same_weights(deepae.load(tmp_path / "resumed.deepae"),
                        deepae.load(tmp_path / "expected.deepae"))
    assert not (tmp_path / "ck").exists()


def test_concurrent_scoring_equals_serial_scoring():
    from concurrent.futures import ThreadPoolExecutor

    models = [deepae.Autoencoder(4, max_epochs=2, random_state=0, device="cpu").fit(X),
              deepae.ReconstructionOutlierDetector().fit(X)]
    calls = [(model, method) for model in models
             for method in ("score_samples", "transform", "predict") if hasattr(model, method)]
    serial = [getattr(model, method)(X) for model, method in calls]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: getattr(calls[i % len(calls)][0],
                                                  calls[i % len(calls)][1])(X),
                                range(8 * len(calls))))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, serial[i % len(calls)])
