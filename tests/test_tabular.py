"""Tables as users have them: the column-type encoder, the per-type loss, and the table
path of the autoencoder and the outlier detector."""

import numpy as np
import pytest
import torch

from deepae import (
    Autoencoder,
    DenoisingAutoencoder,
    ReconstructionOutlierDetector,
    TableEncoder,
    load,
)
from deepae.tabular import is_table
from deepae.tabular.loss import column_losses

pd = pytest.importorskip("pandas")


def tiny_table(n: int = 60, seed: int = 0) -> "pd.DataFrame":
    """Strings, booleans, integers, floats and missing cells."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0, 10.0, n)
    income[::7] = np.nan
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    colour[3::11] = np.nan
    return pd.DataFrame({
        "colour": colour,
        "member": rng.random(n) < 0.5,
        "age": rng.integers(18, 80, n),
        "income": income,
    })


def test_encoder_layout_and_round_trip():
    table = tiny_table()
    encoder = TableEncoder().fit(table)
    assert encoder.kinds_ == ["categorical", "categorical", "numeric", "numeric"]
    assert list(encoder.categories_[0]) == ["blue", "green", "red"]
    assert list(encoder.categories_[1]) == [False, True]
    # colour: 3 levels, unseen, missing; member: 2, unseen; age; income, [present, missing]
    assert encoder.n_features_out_ == 5 + 3 + 1 + 3
    encoded = encoder.transform(table)
    assert np.isnan(encoded[:, 9]).sum() == table["income"].isna().sum()
    back = encoder.inverse_transform(np.nan_to_num(encoded))
    present = table["colour"].notna()
    assert (back["colour"][present] == table["colour"][present]).all()
    assert (back["member"] == table["member"]).all() and back["member"].dtype == bool
    assert (back["age"] == table["age"]).all() and back["age"].dtype == table["age"].dtype
    rows = table["income"].notna()
    np.testing.assert_allclose(back["income"][rows], table["income"][rows], rtol=1e-5)


def test_unseen_level_takes_its_slot():
    encoder = TableEncoder().fit(tiny_table())
    unseen = tiny_table(3).assign(colour=["purple", "red", np.nan])
    block = encoder.transform(unseen)[:, :5]
    np.testing.assert_array_equal(block, [[0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]])


def test_is_table():
    assert is_table(tiny_table())
    assert is_table(np.array([["a", 1.0]], dtype=object))
    assert not is_table(np.zeros((3, 2)))
    assert not is_table(pd.DataFrame(np.zeros((3, 2))))  # numbers only: the numeric path
    assert is_table(pd.DataFrame({"a": [1.0, np.nan]}))


def test_per_type_loss_against_a_hand_computation():
    table = pd.DataFrame({"x": [1.0, 3.0, np.nan], "c": ["a", "b", "a"]})
    encoder = TableEncoder().fit(table)
    # x: value (mean 2, scale 1) then [present, missing]; c: [a, b, unseen]
    target = torch.tensor(encoder.transform(table), dtype=torch.float64)
    logits = torch.tensor([[0.5, 2.0, 0.0, 1.0, 0.0, -1.0],
                           [0.0, 0.0, 1.0, 0.0, 2.0, 0.0],
                           [9.0, -1.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    losses = column_losses(logits, target, encoder.layout_).numpy()

    def cross_entropy(row, observed):
        row = np.asarray(row)
        return np.log(np.exp(row).sum()) - row[observed]

    expected = np.array([
        [(0.5 - (-1.0)) ** 2 + cross_entropy([2.0, 0.0], 0), cross_entropy([1.0, 0.0, -1.0], 0)],
        [(0.0 - 1.0) ** 2 + cross_entropy([0.0, 1.0], 0), cross_entropy([0.0, 2.0, 0.0], 1)],
        [cross_entropy([-1.0, 1.0], 1), cross_entropy([0.0, 0.0, 0.0], 0)],
    ])
    np.testing.assert_allclose(losses, expected, rtol=1e-12)


def test_masked_cells_do_not_change_the_loss():
    table = tiny_table(20)
    encoder = TableEncoder().fit(table)
    target = torch.tensor(encoder.transform(table), dtype=torch.float64)
    logits = torch.randn(target.shape, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)
    before = column_losses(logits, target, encoder.layout_)
    masked = torch.isnan(target)
    changed = logits.clone()
    changed[masked] = 1e6  # whatever the network says of a missing cell costs nothing
    np.testing.assert_allclose(column_losses(changed, target, encoder.layout_), before)


def test_autoencoder_on_a_table(tmp_path):
    table = tiny_table()
    model = Autoencoder(hidden_size=3, max_epochs=20, random_state=0).fit(table)
    codes = model.transform(table)
    assert codes.shape == (60, 3)
    rebuilt = model.inverse_transform(codes)
    assert list(rebuilt.columns) == list(table.columns)
    assert set(rebuilt["colour"]) <= {"red", "green", "blue"}
    errors = model.reconstruction_error(table)
    assert errors.shape == (60,) and np.isfinite(errors).all()
    model.save(tmp_path / "model.deepae")
    np.testing.assert_array_equal(load(tmp_path / "model.deepae").transform(table), codes)


def test_masking_noise_blanks_whole_cells():
    from deepae.tabular.loss import mask_cells

    encoder = TableEncoder().fit(tiny_table())
    inputs = torch.ones(500, encoder.n_features_out_)
    masked = mask_cells(inputs, encoder.layout_, 0.3, torch.Generator().manual_seed(0))
    colour = masked[:, :5]  # one cell: blanked all together or not at all
    assert set(colour.sum(dim=1).tolist()) == {0.0, 5.0}
    assert abs(float((colour.sum(dim=1) == 0).float().mean()) - 0.3) < 0.06
    model = DenoisingAutoencoder(hidden_size=3, max_epochs=5, random_state=0).fit(tiny_table())
    assert np.isfinite(model.reconstruction_error(tiny_table())).all()


def test_detector_on_a_table(tmp_path):
    table = tiny_table()
    detector = ReconstructionOutlierDetector(random_state=0).fit(table)
    test = tiny_table(5, seed=1).assign(colour=["purple", "red", np.nan, "blue", "green"])
    scores = detector.score_samples(test)
    assert scores.shape == (5,) and np.isfinite(scores).all()
    per_column = detector.reconstruction_error(test, per_feature=True)
    assert per_column.shape == (5, 4)
    assert per_column[0, 0] == per_column[:, 0].max()  # the unseen level stands out
    path = tmp_path / "detector.deepae"
    detector.save(path)
    np.testing.assert_array_equal(load(path).score_samples(test), scores)
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="fitted on a table"):
        detector.export_onnx(tmp_path / "detector.onnx")


def test_a_rare_combination_of_two_categories_ranks_first():
    rng = np.random.default_rng(0)
    n = 400
    shape = rng.choice(["round", "square"], n)
    table = pd.DataFrame({
        "shape": shape,
        "colour": np.where(shape == "round", "red", "blue").astype(object),
        "material": rng.choice(["wood", "steel", "glass"], n),
        "size": rng.integers(1, 4, n),
    })
    table.loc[0, ["shape", "colour"]] = ["round", "blue"]  # each level common, the pair not
    scores = ReconstructionOutlierDetector(random_state=0).fit(table).score_samples(table)
    assert scores[0] < scores[1:].min()


def test_command_line_reads_a_table(tmp_path, capsys):
    from deepae import cli
    from deepae.datafiles import read_data

    table = tiny_table()
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)  # missing cells written empty
    read, _, columns = read_data(str(path))
    assert columns == list(table.columns) and read["income"].isna().sum() == 9
    model = tmp_path / "outliers.deepae"
    assert cli.main(["fit", "outliers", str(path), "-o", str(model), "-q"]) == 0
    assert cli.main(["score", str(model), str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    np.testing.assert_allclose(np.array(out[1:], dtype=float),
                               -load(model).score_samples(read), rtol=1e-12)
    assert cli.main(["fit", "pca", str(path), "-o", str(model), "-q"]) == 2
    assert "is not a number (if it holds labels, name it with --target); model 'pca' takes " \
        "numbers only" in capsys.readouterr().err
    read, _, _ = read_data(str(path), categorical=["age"])
    assert TableEncoder().fit(read).kinds_[2] == "categorical"
