"""Data that need not fit in memory: memory-mapped files and iterables of batches."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

import deepae
from deepae import data as data_module
from deepae.data import ArrayRows, iter_chunks, release_pages

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(500, 12)) @ RNG.normal(size=(12, 12)) + 10.0).astype(np.float32)


@pytest.fixture
def mapped(tmp_path):
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


@pytest.fixture(scope="module")
def digits():
    return (load_digits().data / 16).astype(np.float32)


def assert_same_pca(a, b, rtol=1e-6):
    for attribute in ("components_", "explained_variance_", "mean_"):
        np.testing.assert_allclose(getattr(a, attribute), getattr(b, attribute), rtol=rtol,
                                   atol=1e-6 * np.abs(getattr(b, attribute)).max())
    assert a.n_samples_seen_ == b.n_samples_seen_


def test_pca_of_an_iterable_of_batches_is_the_pca_of_their_rows():
    whole = deepae.PCA(5).fit(X)
    assert_same_pca(deepae.PCA(5).fit(iter(np.array_split(X, 7))), whole)
    loader = DataLoader(TensorDataset(torch.as_tensor(X)), batch_size=64)
    assert_same_pca(deepae.PCA(5).fit(loader), whole)
    assert_same_pca(deepae.LinearAutoencoder(3).partial_fit(loader),
                    deepae.LinearAutoencoder(3).fit(X))


def test_pca_of_a_memory_mapped_file_is_that_of_the_array_and_leaves_it_intact(mapped):
    assert_same_pca(deepae.PCA(5).fit(mapped), deepae.PCA(5).fit(X), rtol=1e-12)
    np.testing.assert_array_equal(mapped, X)


def test_released_pages_read_back_the_same_numbers(mapped):
    chunks = [np.array(chunk) for chunk in iter_chunks(mapped, 33)]
    release_pages(mapped, 0, len(mapped))
    np.testing.assert_array_equal(np.concatenate(chunks), X)
    np.testing.assert_array_equal(mapped[100:200], X[100:200])


def test_block_shuffling_visits_every_selected_row_once_per_epoch(mapped, monkeypatch):
    monkeypatch.setattr(data_module, "WINDOW_NUMBERS", 12 * 64)  # windows of 64 rows
    rows = np.sort(RNG.choice(len(X), 300, replace=False))
    source = ArrayRows(mapped, rows, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    epochs = [torch.cat([b for (b,) in source.batches(10, generator)]).numpy()
              for _ in range(2)]
    for seen in epochs:
        assert len(seen) == len(rows)
        order = np.lexsort(seen.T[::-1])
        np.testing.assert_array_equal(seen[order], X[rows][np.lexsort(X[rows].T[::-1])])
    assert not np.array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[0], X[rows])
    low, high = source.column_range()
    np.testing.assert_array_equal(low.numpy(), X[rows].min(0))
    np.testing.assert_array_equal(high.numpy(), X[rows].max(0))


def test_autoencoder_trains_on_a_memory_mapped_file_as_well_as_in_memory(tmp_path, digits):
    np.save(tmp_path / "digits.npy", digits)
    mapped = np.load(tmp_path / "digits.npy", mmap_mode="r")
    params = dict(hidden_size=16, max_epochs=15, noise="salt_and_pepper", noise_level=0.1,
                  random_state=0)
    in_memory = deepae.Autoencoder(**params).fit(digits)
    from_file = deepae.Autoencoder(**params).fit(mapped)
    assert from_file.history_[-1]["valid_loss"] is not None
    error = from_file.reconstruction_error(mapped).mean()
    assert error == pytest.approx(in_memory.reconstruction_error(digits).mean(), rel=0.1)
    assert error < 0.5 * deepae.Autoencoder(**params | {"max_epochs": 1}).fit(
        digits).reconstruction_error(digits).mean()


def test_autoencoder_trains_on_a_dataloader_for_max_epochs(digits):
    loader = DataLoader(TensorDataset(torch.as_tensor(digits)), batch_size=32, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = deepae.Autoencoder(16, max_epochs=4, random_state=0).fit(loader)
    assert model.n_epochs_ == 4 and model.n_features_in_ == 64
    assert all(h["valid_loss"] is None for h in model.history_)
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]
    assert model.transform(digits).shape == (len(digits), 16)


def test_gradient_training_refuses_a_one_pass_iterator_and_non_finite_rows(tmp_path):
    with pytest.raises(ValueError, match="re-iterable"):
        deepae.Autoencoder(4).fit(iter(np.array_split(X, 3)))
    bad = X.copy()
    bad[123, 4] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match="NaN"):
        deepae.Autoencoder(4, max_epochs=1).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"))


def test_models_apply_to_a_memory_mapped_file_chunk_by_chunk(tmp_path, mapped):
    for model in (deepae.PCA(4, whiten=True).fit(X), deepae.Autoencoder(4, max_epochs=2,
                                                                          random_state=0).fit(X)):
        np.testing.assert_allclose(model.transform(mapped), model.transform(X), rtol=1e-6)
        np.testing.assert_allclose(model.reconstruction_error(mapped),
                                   model.reconstruction_error(X), rtol=1e-6)
        bad = X.copy()
        bad[-1, 0] = np.inf
        np.save(tmp_path / "bad.npy", bad)
        with pytest.raises(ValueError, match="infinity"):
            model.transform(np.load(tmp_path / "bad.npy", mmap_mode="r"))
