"""Imputation by reconstruction: TableImputer fills a table's missing cells."""

import copy

import numpy as np
import pytest
import torch

import deepae
from deepae import TableEncoder, TableImputer
from deepae.tabular.loss import fill_objective

pd = pytest.importorskip("pandas")


def related_table(n: int = 400, seed: int = 0) -> "pd.DataFrame":
    """``double`` is twice ``x``; ``shade`` is the colour's shade; a fifth of both hidden."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    colour = rng.choice(["red", "green", "blue"], n)
    shade = pd.Series(colour).map({"red": "warm", "green": "cold", "blue": "cold"})
    return pd.DataFrame({"x": x, "double": 2 * x + rng.normal(0, 0.05, n),
                         "colour": colour, "shade": shade})


def test_filled_cells_follow_the_other_columns():
    truth = related_table()
    holes = np.random.default_rng(1).random(truth.shape) < 0.2
    holes[:, [0, 2]] = False  # x and colour stay observed
    table = truth.mask(holes)
    filled = TableImputer(max_epochs=60, random_state=0).fit_transform(table)
    pd.testing.assert_frame_equal(filled[~holes[:, 1]][["x", "colour"]],
                                  truth[~holes[:, 1]][["x", "colour"]])
    assert filled.notna().all().all()
    assert list(filled.columns) == list(truth.columns)
    hidden = holes[:, 1]
    error = filled["double"][hidden] - truth["double"][hidden]
    mean_error = table["double"].mean() - truth["double"][hidden]
    assert np.sqrt(np.mean(error ** 2)) < 0.3 * np.sqrt(np.mean(mean_error ** 2))
    hidden = holes[:, 3]
    assert (filled["shade"][hidden] == truth["shade"][hidden]).mean() >= 0.95
    assert set(filled["shade"]) == {"warm", "cold"}


def test_one_draw_is_repeatable_and_a_full_table_is_unchanged():
    table = related_table(n=120).mask(np.eye(120, 4, dtype=bool))
    imputer = TableImputer(hidden_size=16, max_epochs=3, n_draws=1, random_state=0).fit(table)
    first = imputer.transform(table)
    pd.testing.assert_frame_equal(first, imputer.transform(table))
    full = related_table(n=10, seed=3)
    pd.testing.assert_frame_equal(imputer.transform(full), full)


def test_a_saved_imputer_fills_as_the_original(tmp_path):
    table = related_table(n=120).mask(np.eye(120, 4, dtype=bool))
    imputer = TableImputer(hidden_size=16, max_epochs=3, random_state=0).fit(table)
    imputer.save(tmp_path / "imputer.deepae")
    loaded = deepae.load(tmp_path / "imputer.deepae")
    pd.testing.assert_frame_equal(loaded.transform(table), imputer.transform(table))
    with pytest.raises((TypeError, ValueError), match="(?i)table|onnx"):
        imputer.export_onnx(tmp_path / "imputer.onnx")


def test_fill_objective_blanks_missing_cells_and_scores_blanked_observed_ones():
    table = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": ["a", None, "b"]})
    encoder = TableEncoder().fit(table)  # x: value, [present, missing]; c: a, b, unseen, missing
    rows = torch.tensor(encoder.transform(table))
    missing = torch.tensor(table.isna().to_numpy())
    seen = []

    def zero_logits(inputs):
        seen.append(inputs)
        return torch.zeros_like(inputs)

    generator = torch.Generator().manual_seed(0)
    assert fill_objective(encoder.layout_, 0.0)(zero_logits, (rows, missing), generator) == 0
    np.testing.assert_array_equal(seen[0][1], np.zeros(7))  # the missing row reads as blanked
    np.testing.assert_array_equal(seen[0][0], rows[0])
    loss = fill_objective(encoder.layout_, 1.0)(zero_logits, (rows, missing), generator)
    # all cells blanked: per observed row, x costs 1² + log 2 (its indicator), c costs log 4
    np.testing.assert_allclose(float(loss), 2 * (1 + np.log(2) + np.log(4)) / 3, rtol=1e-6)
    np.testing.assert_array_equal(seen[1], np.zeros((3, 7)))


def test_a_fill_averages_the_networks_of_the_ensemble():
    table = related_table(n=120)
    holes = np.random.default_rng(2).random(table.shape) < 0.2
    table = table.mask(holes)
    pair = TableImputer(hidden_size=8, max_epochs=2, n_models=2, random_state=0).fit(table)
    singles = []
    for i, network in enumerate(pair.module_):
        single = copy.deepcopy(pair).set_params(n_models=1)
        single.module_, single.seed_ = torch.nn.ModuleList([network]), pair.seed_ + i
        singles.append(single.transform(table)["double"][holes[:, 1]])
    np.testing.assert_allclose(pair.transform(table)["double"][holes[:, 1]],
                               np.mean(singles, axis=0), rtol=1e-5)
