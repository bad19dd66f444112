"""Tests of deepae.timeseries: windows, the step-score map, the window length, the detector."""

import numpy as np
import pytest

import deepae
from deepae import PCA, ConvolutionalSequenceAutoencoder, RecurrentSequenceAutoencoder
from deepae.timeseries import (
    TimeSeriesOutlierDetector,
    estimate_period,
    sliding_windows,
    step_scores,
)
from deepae.timeseries.detector import channel_scaling
from deepae.timeseries.period import autocorrelation


def test_windows_by_hand():
    X = np.array([[0, 10], [1, 11], [2, 12], [3, 13]], dtype=float)
    np.testing.assert_array_equal(sliding_windows(X, 3), [[0, 1, 2, 10, 11, 12],
                                                          [1, 2, 3, 11, 12, 13]])
    causal = sliding_windows(X, 3, causal=True)
    np.testing.assert_array_equal(causal[:, :3], [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]])
    short = sliding_windows(X[:2], 3)  # shorter than a window: preceded by its first step
    np.testing.assert_array_equal(short[:, :3], [[0, 0, 1]])


def test_step_scores_by_hand():
    # 5 steps, windows of 3 start at 0, 1, 2 with scores 1, 2, 6.
    mean = step_scores(np.array([1.0, 2.0, 6.0]), 5, 3)
    np.testing.assert_allclose(mean, [1, 1.5, 3, 4, 6])  # every step covered
    causal = step_scores(np.arange(5.0), 5, 3, causal=True)
    np.testing.assert_array_equal(causal, np.arange(5.0))
    np.testing.assert_array_equal(step_scores(np.array([4.0]), 2, 3), [4.0, 4.0])


def test_causal_scores_use_no_future_step():
    rng = np.random.default_rng(0)
    x = np.sin(np.arange(600) / 5.0) + 0.05 * rng.standard_normal(600)
    detector = TimeSeriesOutlierDetector(window=20, causal=True).fit(x[:300])
    test = x[300:].copy()
    before = detector.outlier_scores(test)
    test[150:] += 5.0
    after = detector.outlier_scores(test)
    np.testing.assert_array_equal(before[:150], after[:150])
    assert np.all(after[150:170] > before[150:170])


def test_stream_equals_causal_scores():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 3)).cumsum(0)
    detector = TimeSeriesOutlierDetector(window=16, causal=True).fit(X[:200])
    pieces = [X[200:203], X[203:250], X[250:251], X[251:]]
    stream = np.concatenate([detector.score_stream(p) for p in pieces])
    np.testing.assert_allclose(stream, detector.outlier_scores(X[200:]), rtol=1e-6)


def test_model_is_fitted_on_evenly_spaced_windows():
    rng = np.random.default_rng(4)
    series = [rng.standard_normal((60, 2)), rng.standard_normal((40, 2))]
    detector = TimeSeriesOutlierDetector(window=5, max_windows=7).fit(series)
    scaled = [((s - detector.mean_) / detector.scale_).astype(np.float32) for s in series]
    windows = np.concatenate([sliding_windows(s, 5) for s in scaled])  # 56 + 36 windows
    expected = PCA(n_components=0.9).fit(windows[[0, 15, 30, 45, 60, 75, 91]])
    np.testing.assert_allclose(detector.model_.explained_variance_,
                               expected.explained_variance_, rtol=1e-5)
    np.testing.assert_allclose(np.abs(detector.model_.components_),
                               np.abs(expected.components_), rtol=1e-4, atol=1e-6)
    assert len(detector.decision_scores_) == 100  # every training step is still scored


def test_autocorrelation_and_period():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(500)
    xc = x - x.mean()
    direct = [np.dot(xc[: len(x) - k], xc[k:]) / np.dot(xc, xc) for k in range(6)]
    np.testing.assert_allclose(autocorrelation(x, 5), direct, atol=1e-12)
    t = np.arange(3000)
    assert estimate_period(np.sin(2 * np.pi * t / 37) + 0.1 * rng.standard_normal(3000)) == 37
    assert estimate_period(np.zeros(100)) == 125  # no period: the fallback


def planted_series(rng):
    """A noisy two-tone series of 3,000 steps (train: the first 1,500) with a level shift,
    a spike and a frequency change planted in the test part."""
    t = np.arange(3000)
    x = np.sin(2 * np.pi * t / 40) + 0.3 * np.sin(2 * np.pi * t / 13)
    x = x + 0.05 * rng.standard_normal(len(t))
    test = x[1500:].copy()
    test[300:340] += 1.5  # level shift
    test[700] += 2.5  # spike
    test[1100:1180] = np.sin(2 * np.pi * t[1100:1180] / 17)  # frequency change
    labels = np.zeros(len(test), bool)
    labels[[*range(300, 340), 700, *range(1100, 1180)]] = True
    return x[:1500], test, labels


@pytest.mark.parametrize("causal", [False, True])
def test_planted_anomalies_rank_above_normal_steps(causal):
    train, test, labels = planted_series(np.random.default_rng(3))
    scores = TimeSeriesOutlierDetector(causal=causal).fit(train).outlier_scores(test)
    # Each anomaly's highest step beats every normal step away from the anomalies' windows
    # (and, when causal, past the first window: steps scored from padded windows).
    normal = np.ones(len(test), bool)
    normal[:45 if causal else 0] = False
    for start, stop in [(300, 340), (700, 701), (1100, 1180)]:
        normal[start - 45:stop + 45] = False
    for start, stop in [(300, 340), (700, 701), (1100, 1180)]:
        assert scores[start:stop + (40 if causal else 0)].max() > scores[normal].max()


def command_flags(n_steps: int) -> np.ndarray:
    """Four one-hot command flags (one command held for 20 to 60 steps at a time) and a rare
    flag (on for 3 steps, 15 times): channels of another nature than a measurement."""
    rng = np.random.default_rng(0)
    flags = np.zeros((n_steps, 5))
    t = 0
    while t < n_steps:
        command, length = rng.integers(4), rng.integers(20, 60)
        flags[t:t + length, command] = 1
        t += length
    for start in np.random.default_rng(10).choice(n_steps - 100, 15, replace=False):
        flags[start:start + 3, 4] = 1
    return flags


@pytest.mark.parametrize("causal", [False, True])
def test_planted_anomalies_beside_command_flags(causal):
    train, test, _ = planted_series(np.random.default_rng(3))
    X = np.column_stack([np.concatenate([train, test]),
                         command_flags(3000)])
    normal = np.ones(len(test), bool)
    normal[:45 if causal else 0] = False
    for start, stop in [(300, 340), (700, 701), (1100, 1180)]:
        normal[start - 45:stop + 45] = False
    found = {}
    for channel_error in ("max", "sum"):
        detector = TimeSeriesOutlierDetector(channel_error=channel_error,
                                             indicators="standard", causal=causal)
        scores = detector.fit(X[:1500]).outlier_scores(X[1500:])
        found[channel_error] = [scores[start:stop + (40 if causal else 0)].max()
                                > scores[normal].max()
                                for start, stop in [(300, 340), (700, 701), (1100, 1180)]]
    # The flags standardized (each switch a jump of several units): with each channel's error
    # relative to its training error the measurement's anomalies beat every normal step;
    # summed, the flags' switches drown them.
    assert found == {"max": [True] * 3, "sum": [False] * 3}


def test_channel_error_by_hand():
    rng = np.random.default_rng(5)
    t = np.arange(700)
    X = np.column_stack([np.sin(t / 4) + 0.1 * rng.standard_normal(700),
                         (rng.random(700) < 0.05).astype(float),
                         np.zeros(700)])  # constant in training: floored scale
    X[650:, 2] = 1.0
    scores = {}
    for channel_error, reduce in [("max", np.max), ("mean", np.mean), ("sum", np.sum)]:
        detector = TimeSeriesOutlierDetector(window=8, channel_error=channel_error,
                                             n_neighbors=2).fit(X[:500])
        scaled = ((X - detector.mean_) / detector.scale_).astype(np.float32)
        train, test = sliding_windows(scaled[:500], 8), sliding_windows(scaled[500:], 8)
        errors = [np.square(w - detector.model_.inverse_transform(
            detector.model_.transform(w))).reshape(len(w), 3, 8).sum(2) for w in (train, test)]
        scale = errors[0].mean(0) if channel_error != "sum" else np.ones(3)
        scale = np.maximum(scale, 0.01 * scale.mean())
        factor = errors[0].sum(1).mean() / reduce(errors[0] / scale, axis=1).mean()
        np.testing.assert_allclose(detector.channel_scale_, scale, rtol=1e-5)
        np.testing.assert_allclose(detector.error_factor_, factor, rtol=1e-5)
        codes = detector.model_.transform(test)
        d2 = np.sort(np.square(codes[:, None] - detector.references_[None]).sum(2), 1)
        expected = np.sqrt(reduce(errors[1] / scale, axis=1) * factor + d2[:, :2].mean(1))
        scores[channel_error] = detector.score_windows(sliding_windows(X[500:], 8))
        np.testing.assert_allclose(scores[channel_error], expected, rtol=1e-4)
    assert detector.channel_scale_[2] == 1.0 and detector.error_factor_ == 1.0
    assert np.argmax(scores["max"]) >= 150 - 8  # the constant channel's change


def test_indicator_channels_are_scaled_by_their_gap():
    rng = np.random.default_rng(6)
    X = np.column_stack([rng.standard_normal(1000),  # a measurement: standardized
                         np.where(rng.random(1000) < 0.01, 5.0, 2.0),  # a rare flag: gap 3
                         np.full(1000, 7.0),  # constant: only centered
                         rng.integers(0, 3, 1000)])  # three values: standardized
    mean, scale = channel_scaling(X, "range")
    np.testing.assert_allclose(mean, X.mean(0))
    np.testing.assert_allclose(scale, [X[:, 0].std(), 3.0, 1.0, X[:, 3].std()])
    np.testing.assert_allclose(channel_scaling(X, "standard")[1],
                               [X[:, 0].std(), X[:, 1].std(), 1.0, X[:, 3].std()])
    detector = TimeSeriesOutlierDetector(window=10).fit(X)
    np.testing.assert_allclose(detector.scale_, scale)


def two_tone_windows(start: int, n_steps: int) -> np.ndarray:
    """Windows of 16 steps of a mixture of two sines (periods 11 and 7): the windows lie on
    a 2-D torus (the two phases), which a linear code of size 2 cannot follow."""
    t = np.arange(start, start + n_steps)
    x = np.sin(2 * np.pi * t / 11) + 0.6 * np.sin(2 * np.pi * t / 7)
    noise = 0.01 * np.random.default_rng(start).standard_normal(n_steps)
    return sliding_windows((x + noise)[:, None].astype(np.float32), 16)


@pytest.mark.parametrize("model", [
    ConvolutionalSequenceAutoencoder(code_size=2, channels=(16, 16), max_epochs=60,
                                     random_state=0),
    RecurrentSequenceAutoencoder(code_size=2, hidden_size=16, learning_rate=3e-3,
                                 max_epochs=60, random_state=0),
], ids=["conv", "gru"])
def test_sequence_autoencoders_beat_pca_on_a_sine_mixture(model):
    train, test = two_tone_windows(0, 1200), two_tone_windows(5000, 400)
    pca_error = PCA(n_components=2).fit(train).reconstruction_error(test).mean()
    error = model.fit(train).reconstruction_error(test).mean()
    assert error < 0.8 * pca_error


def test_model_file_round_trip_and_onnx_parity(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((600, 3)).cumsum(0)
    model = ConvolutionalSequenceAutoencoder(code_size=4, channels=(8,), max_epochs=2,
                                             random_state=0)
    for detector in (TimeSeriesOutlierDetector(window=12, n_neighbors=2),
                     TimeSeriesOutlierDetector(window=12, channel_error="max"),
                     TimeSeriesOutlierDetector(model=model, window=12)):
        detector.fit(X[:400])
        detector.save(tmp_path / "ts.deepae")
        loaded = deepae.load(tmp_path / "ts.deepae")
        np.testing.assert_array_equal(loaded.outlier_scores(X[400:]),
                                      detector.outlier_scores(X[400:]))
        assert loaded.threshold_ == detector.threshold_
        windows = sliding_windows(X[400:], 12).astype(np.float32)
        onnxruntime = pytest.importorskip("onnxruntime")
        detector.export_onnx(tmp_path / "ts.onnx")
        session = onnxruntime.InferenceSession(str(tmp_path / "ts.onnx"))
        (onnx_scores,) = session.run(None, {"X": windows})
        np.testing.assert_allclose(onnx_scores, detector.score_windows(windows), rtol=2e-3,
                                   atol=2e-3)


def test_a_file_from_before_channel_error_scores_as_it_did():
    # Such a file has no channel_scale_ and is built with today's defaults; the load hook
    # reads it as the summed errors of standardized channels it was fitted with.
    X = np.random.default_rng(5).standard_normal((500, 3)).cumsum(0)
    earlier = TimeSeriesOutlierDetector(window=12, channel_error="sum",
                                        indicators="standard").fit(X[:300])
    loaded = TimeSeriesOutlierDetector(window=12)
    loaded.__dict__.update({k: v for k, v in vars(earlier).items()
                            if k not in ("channel_error", "indicators", "channel_scale_",
                                         "error_factor_")})
    loaded._check_loaded_state()
    assert loaded.get_params() == earlier.get_params()
    np.testing.assert_array_equal(loaded.outlier_scores(X[300:]),
                                  earlier.outlier_scores(X[300:]))


def test_cli_end_to_end_on_a_csv_with_a_time_column(tmp_path):
    from deepae.cli import main

    t = np.arange(400)
    a, b = np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)
    a[300] += 3
    lines = ["time,a,b"] + [f"2024-01-01T{i // 60:02d}:{i % 60:02d},{a[i]:.5f},{b[i]:.5f}"
                            for i in t]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    model, scores = tmp_path / "ts.deepae", tmp_path / "scores.csv"
    assert main(["fit", "timeseries", str(tmp_path / "s.csv"), "-o", str(model), "-q",
                 "--channel-error", "max", "--indicators", "standard"]) == 0
    assert deepae.load(model).get_params()["channel_error"] == "max"
    assert deepae.load(model).get_params()["indicators"] == "standard"
    assert main(["score", str(model), str(tmp_path / "s.csv"), "-o", str(scores)]) == 0
    column = np.loadtxt(scores, skiprows=1)
    values = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    np.testing.assert_allclose(column, deepae.load(model).outlier_scores(values), rtol=1e-6)
    assert len(column) == 400 and np.argmax(column) in range(290, 311)
    report = tmp_path / "report"
    assert main(["report", str(model), str(tmp_path / "s.csv"), "-o", str(report), "-q"]) == 0
    assert (report / "series.png").stat().st_size > 0
    page = (report / "index.html").read_text()  # the top stretch holds step 300, by its time
    top = page[page.index("<td>", page.index("<h2>Flagged stretches</h2>")):]
    cells = top[:top.index("</tr>")].replace("</td>", "").split("<td>")[1:]
    assert int(cells[0]) <= 300 <= int(cells[1]) and cells[2] <= "2024-01-01T05:00" <= cells[3]


@pytest.mark.parametrize("suffix", [".parquet", ".csv.gz"])
def test_cli_reads_a_table_file_with_a_time_column(tmp_path, suffix):
    pd = pytest.importorskip("pandas")
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    from deepae.cli import main

    t = np.arange(400)
    values = np.column_stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)])
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=400, freq="min"),
                          "a": values[:, 0], "b": values[:, 1]})
    path, model = tmp_path / f"s{suffix}", tmp_path / "ts.deepae"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    assert main(["fit", "timeseries", str(path), "-o", str(model), "-q"]) == 0
    assert main(["score", str(model), str(path), "-o", str(tmp_path / "scores.npy")]) == 0
    expected = TimeSeriesOutlierDetector().fit(values).outlier_scores(values)
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), expected, rtol=1e-6)
    frame.loc[5, "a"] = np.nan  # a series takes no missing cell: said in one line
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    assert main(["fit", "timeseries", str(path), "-o", str(model), "-q"]) == 2


def test_a_frame_with_a_column_of_times_is_refused_clearly():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=200, freq="min"),
                          "a": np.sin(np.arange(200) / 5)})
    with pytest.raises(ValueError, match=r"frame.set_index\('when'\)"):
        TimeSeriesOutlierDetector().fit(frame)
    scores = TimeSeriesOutlierDetector().fit(frame.set_index("when")).outlier_scores(frame["a"])
    assert scores.shape == (200,)


def test_cli_stream_scores_rows_as_they_arrive(tmp_path, monkeypatch, capsys):
    import io

    from deepae.cli import main

    t = np.arange(600)
    values = np.column_stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)])
    values += 0.05 * np.random.default_rng(0).standard_normal(values.shape)
    values[500, 0] += 3
    detector = TimeSeriesOutlierDetector(causal=True).fit(values[:400])
    detector.save(tmp_path / "ts.deepae")
    lines = ["time,a,b"] + [f"t{i},{a!r},{b!r}" for i, (a, b) in enumerate(values[400:].tolist())]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["stream", str(tmp_path / "ts.deepae")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "time,score,flag" and len(out) == 201
    times, scores, flags = zip(*(line.split(",") for line in out[1:]), strict=True)
    scores, flags = np.array(scores, float), np.array(flags, int)
    expected = TimeSeriesOutlierDetector(causal=True).fit(values[:400]).score_stream(values[400:])
    full = detector.window_ - 1  # the rows before the first full window: nan, flag 0
    assert np.isnan(scores[:full]).all() and not flags[:full].any()
    # float32 windows, scored one at a time or all together: products rounded differently
    np.testing.assert_allclose(scores[full:], expected[full:], rtol=1e-4)
    clear = np.abs(expected - detector.threshold_) > 1e-3 * detector.threshold_
    np.testing.assert_array_equal(flags[full:][clear[full:]],
                                  (expected > detector.threshold_)[full:][clear[full:]])
    assert times[100] == "t100" and flags[100] == 1  # the spike, flagged as it arrives
    monkeypatch.setattr("sys.stdin", io.StringIO("1,2,3\n"))
    assert main(["stream", str(tmp_path / "ts.deepae")]) == 2
