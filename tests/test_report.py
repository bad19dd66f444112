"""The report on a fitted model and the user's data: Python, command line, a real browser."""

import base64
import html.parser
import io
import shutil
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_digits

import deepae
from deepae import cli

pytest.importorskip("matplotlib", reason="the report needs matplotlib (deepae[plot])")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 6)) @ RNG.normal(size=(6, 6)) + 1.0
X[17, 4] += 25.0  # one row far off in one feature
Y = (X[:, 0] > 1.0).astype(int)
FAST = dict(max_epochs=3, random_state=0, device="cpu")
DEEP = dict(FAST, hidden_layer_sizes=(5, 2), pretrain_epochs=2)
MODELS = {
    "pca": lambda: deepae.PCA(n_components=3).fit(X),
    "autoencoder": lambda: deepae.Autoencoder(hidden_size=2, **FAST).fit(X),
    "stacked": lambda: deepae.StackedAutoencoder(**DEEP).fit(X),
    "detector": lambda: deepae.ReconstructionOutlierDetector(
        deepae.PCA(n_components=3)).fit(X),
    "detector-rows": lambda: deepae.ReconstructionOutlierDetector(
        deepae.PCA(n_components=3), scaling="rows").fit(X),
    "classifier": lambda: deepae.DeepClassifier(**DEEP).fit(X, Y),
    "regressor": lambda: deepae.DeepRegressor(**DEEP).fit(X, X[:, 0]),
    "vae": lambda: deepae.VariationalAutoencoder(code_size=2, hidden_size=8, **FAST).fit(X),
}


class Page(html.parser.HTMLParser):
    """The headings, table cells and decoded images of a report page."""

    def __init__(self, text: str):
        super().__init__()
        self.headings, self.cells, self.images, self.tag = [], [], [], None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tag = tag
        if tag == "img":
            import matplotlib.image

            source = dict(attrs)["src"]
            assert source.startswith("data:image/png;base64,"), source[:40]
            data = base64.b64decode(source.split(",", 1)[1], validate=True)
            self.images.append(matplotlib.image.imread(io.BytesIO(data), format="png"))

    def handle_data(self, data):
        if self.tag == "h2":
            self.headings.append(data.split(". ", 1)[1])
        elif self.tag == "td":
            self.cells.append(data)
        self.tag = None


def read_page(index) -> Page:
    text = index.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text  # no network
    page = Page(text)
    assert all(image.ndim == 3 and min(image.shape[:2]) > 50 for image in page.images)
    return page


@pytest.mark.parametrize("name", list(MODELS))
def test_report_of_every_model_kind(name, tmp_path):
    model = MODELS[name]()
    index = deepae.report(model, X, tmp_path / "out", y=Y)
    assert index == tmp_path / "out" / "index.html"
    page = read_page(index)
    assert page.headings[0] == "Learning curves" or name in ("pca", "detector",
                                                             "detector-rows")
    if name in ("classifier", "regressor"):
        assert "Predictions" in page.headings and "Most atypical rows" not in page.headings
        return
    histogram = {"detector": "Outlier scores", "detector-rows": "Outlier scores",
                 "vae": "Likelihood bounds"}.get(name, "Reconstruction errors")
    assert {histogram, "Most atypical rows", "Map of the codes"} <= set(page.headings)
    if name.startswith("detector"):  # ranked by its score, residuals of the scaled rows
        Z = (X - model.mean_) / model.scale_
        if name == "detector-rows":
            Z = Z / np.linalg.norm(Z, axis=1, keepdims=True) * model.row_norm_
        residuals = np.square(Z - model.model_.inverse_transform(model.model_.transform(Z)))
        scores = -model.score_samples(X)
    else:  # a VAE is ranked by its negative log-likelihood bound, the others by the error
        residuals = np.square(X - model.inverse_transform(model.transform(X)))
        scores = -model.score_samples(X) if name == "vae" else residuals.sum(1)
    worst = int(np.argmax(scores))
    assert page.cells[0] == str(worst)  # the first atypical row, with its score
    assert float(page.cells[1]) == pytest.approx(scores[worst], rel=1e-3)
    assert page.cells[2].startswith(f"x{int(np.argmax(residuals[worst]))} (")


def test_report_command_on_csv_with_header(tmp_path, capsys):
    names = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
    csv = tmp_path / "data.csv"
    np.savetxt(csv, np.column_stack([X, Y]), delimiter=",", header=",".join([*names, "label"]),
               comments="")
    model = tmp_path / "pca.deepae"
    deepae.PCA(n_components=3).fit(X).save(model)
    code = cli.main(["report", str(model), str(csv), "--target", "label", "-o",
                     str(tmp_path / "rep"), "--max-rows", "150"])
    assert code == 0, capsys.readouterr().err
    text = (tmp_path / "rep" / "index.html").read_text()
    assert "a random sample of 150 of its 200 rows" in text
    page = read_page(tmp_path / "rep" / "index.html")
    assert any(name in page.cells[2] for name in names)
    assert "colored by its target" in text


def test_report_command_on_npy_with_images(tmp_path, capsys):
    digits = load_digits().data[:300] / 16
    np.save(tmp_path / "digits.npy", digits)
    model = tmp_path / "ae.deepae"
    deepae.Autoencoder(hidden_size=8, **FAST).fit(digits).save(model)
    out = tmp_path / "rep"
    assert cli.main(["report", str(model), str(tmp_path / "digits.npy"), "-o", str(out),
                     "--image-shape", "8x8"]) == 0
    page = read_page(out / "index.html")
    assert "Images" in page.headings
    assert len(page.images) == 5  # curves, errors, codes, filters, reconstructions
    assert "colored by its squared reconstruction error" in (out / "index.html").read_text()
    code = cli.main(["report", str(model), str(tmp_path / "digits.npy"), "-o", str(out),
                     "--image-shape", "8x9"])
    err = capsys.readouterr().err
    assert code == 2 and "image_shape=(8, 9) has 72 pixels, but the data has 64" in err


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
PROBE = """<script>window.addEventListener("load", () => {
  const images = [...document.images];
  const ok = images.filter(image => image.complete && image.naturalWidth > 0).length;
  const probe = document.createElement("p");
  probe.id = "probe";
  probe.textContent = `images ${ok} of ${images.length}`;
  document.body.append(probe);
});</script>"""


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here: make browser "
                    "(apt-get install chromium) to check the page in a real browser")
def test_page_loads_in_headless_chromium(tmp_path):
    model = deepae.ReconstructionOutlierDetector(deepae.PCA(n_components=3)).fit(X)
    index = deepae.report(model, X, tmp_path / "rep", y=Y)
    n_images = len(read_page(index).images)
    probed = tmp_path / "probed.html"  # a copy that counts the images the browser decoded
    probed.write_text(index.read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120)
    assert f'<p id="probe">images {n_images} of {n_images}</p>' in result.stdout
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
