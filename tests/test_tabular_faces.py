"""Tables (strings, booleans, missing cells) at the face of the other estimators: each
reads a table as :class:`deepae.TableEncoder` encodes it, missing cells as 0."""

import numpy as np
import pytest
from sklearn.decomposition import PCA as SklearnPCA

from deepae import (
    PCA,
    DeepClassifier,
    DeepRegressor,
    StackedAutoencoder,
    TableEncoder,
    VariationalAutoencoder,
    load,
)

pd = pytest.importorskip("pandas")


def tiny_table(n: int = 80, seed: int = 0) -> "pd.DataFrame":
    """Strings, booleans, integers, floats, missing cells; ``income`` depends on ``colour``."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    income = np.where(colour == "red", 80.0, 40.0) + rng.normal(0.0, 5.0, n)
    income[::7] = np.nan
    colour[3::11] = None
    return pd.DataFrame({"colour": colour, "member": rng.random(n) < 0.5,
                         "age": rng.integers(18, 80, n), "income": income})


def encoded(table) -> np.ndarray:
    return np.nan_to_num(TableEncoder().fit(table).transform(table))


def test_pca_of_a_table_is_pca_of_its_encoding(tmp_path):
    table = tiny_table()
    pca = PCA(n_components=3).fit(table)
    reference = SklearnPCA(n_components=3).fit(encoded(table))
    np.testing.assert_allclose(np.abs(pca.transform(table)),
                               np.abs(reference.transform(encoded(table))), atol=1e-4)
    rebuilt = pca.inverse_transform(pca.transform(table))
    assert list(rebuilt.columns) == list(table.columns)
    assert set(rebuilt["colour"]) <= {"red", "green", "blue"}
    pca.save(tmp_path / "pca.deepae")
    np.testing.assert_array_equal(load(tmp_path / "pca.deepae").transform(table),
                                  pca.transform(table))


@pytest.mark.parametrize("make", [
    lambda: StackedAutoencoder(hidden_layer_sizes=(8, 3), max_epochs=3, pretrain_epochs=2,
                               random_state=0),
    lambda: VariationalAutoencoder(hidden_size=8, code_size=2, max_epochs=3, random_state=0),
])
def test_deep_autoencoders_read_a_table_as_its_encoding(make):
    table = tiny_table()
    on_table, on_numbers = make().fit(table), make().fit(encoded(table))
    np.testing.assert_allclose(on_table.transform(table), on_numbers.transform(encoded(table)),
                               rtol=1e-5, atol=1e-6)
    rebuilt = on_table.inverse_transform(on_table.transform(table[:5]))
    assert list(rebuilt.columns) == list(table.columns) and len(rebuilt) == 5
    unseen = table[:2].assign(colour=["purple", None])  # an unseen level, a missing cell
    assert np.isfinite(on_table.transform(unseen)).all()


def test_deep_classifier_and_regressor_learn_from_categories():
    table = tiny_table(200)
    red = (table["colour"] == "red").to_numpy()
    classifier = DeepClassifier(hidden_layer_sizes=(8,), pretraining=None, max_epochs=60,
                                learning_rate=1e-2, random_state=0).fit(table, red)
    assert (classifier.predict(table) == red).mean() >= 0.95
    known = table["income"].notna().to_numpy()
    regressor = DeepRegressor(hidden_layer_sizes=(8,), pretraining=None, max_epochs=60,
                              learning_rate=1e-2, random_state=0)
    regressor.fit(table[known].drop(columns="income"), table["income"][known])
    error = regressor.predict(table[known].drop(columns="income")) - table["income"][known]
    assert np.sqrt(np.mean(error ** 2)) < 0.5 * table["income"].std()


def test_an_arrow_table_reads_as_its_pandas_frame():
    pa = pytest.importorskip("pyarrow")
    table = tiny_table()
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    np.testing.assert_allclose(PCA(n_components=2).fit(arrow).transform(arrow),
                               PCA(n_components=2).fit(table).transform(table), atol=1e-6)


def test_pca_partial_fit_reads_every_table_batch_through_the_first_batch_encoder():
    table = tiny_table().astype({"age": float})
    table.loc[50, "colour"] = "purple"  # a level unseen in the first batch
    table.loc[60, "age"] = np.nan  # a column complete in the first batch
    first = table[:40]
    stream = PCA(n_components=3).partial_fit(first).partial_fit(table[40:])
    encoder = TableEncoder().fit(first)
    reference = SklearnPCA(n_components=3).fit(np.nan_to_num(encoder.transform(table)))
    np.testing.assert_allclose(np.abs(stream.transform(table)),
                               np.abs(reference.transform(np.nan_to_num(
                                   encoder.transform(table)))), atol=1e-4)
    assert encoder.transform(table[50:51])[0, 3] == 1  # colour's unseen-level slot
    numbers = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) ** 2})
    model = PCA(n_components=1).partial_fit(numbers)
    with pytest.raises(ValueError, match="first batch was numbers only"):
        model.partial_fit(numbers.mask(np.eye(6, 2, dtype=bool)))
