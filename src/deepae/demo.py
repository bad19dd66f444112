"""The demo behind ``deepae demo`` / ``make demo``: the lecture's story on the bundled digits.

On scikit-learn's 8×8 handwritten digits (pixels scaled to [0, 1]) it shows, in order:

1. shallow vs deep networks, from random weights vs autoencoder vs denoising-autoencoder
   pretraining, on the lecture's 1 vs 5 task and on all ten digits, with all labels and
   with a tenth of them;
2. the first layer's weights drawn as images (the "strokes" a network learns);
3. denoising: masked digits rebuilt by a plain and by a denoising autoencoder;
4. the linear autoencoder = PCA: the closed form next to gradient descent, the error against
   the number of components, and the 2-D codes of PCA and of a deep autoencoder;
5. images as images: a convolutional autoencoder against PCA with the same code size;
6. outliers: the test digits with the largest reconstruction error;
7. a variational autoencoder: digits drawn from it, and its test log-likelihood bounds.

It prints the tables and writes them with the pictures to ``OUT/index.html``.
"""

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from tqdm.auto import tqdm

from .autoencoder import Autoencoder, DenoisingAutoencoder
from .convolutional import ConvolutionalAutoencoder
from .deep import StackedAutoencoder
from .figures import (
    Section,
    Table,
    check_matplotlib,
    format_table,
    save_codes,
    save_error_curves,
    save_image_grid,
    save_learning_curves,
    write_page,
)
from .linear import PCA, LinearAutoencoder
from .outliers import ReconstructionOutlierDetector, default_model
from .supervised import DeepClassifier
from .vae import VariationalAutoencoder

PRETRAININGS = {"random init": None, "autoencoder": "autoencoder", "denoising": "denoising",
                "sparse": "sparse", "contractive": "contractive", "RBM": "rbm"}
TEST_NOISE = 0.3  # fraction of the pixels masked in the denoising pictures
N_OUTLIERS = 16
N_VAE_SAMPLES = 20
VAE_IMPORTANCE_SAMPLES = 100


@dataclass(frozen=True)
class Settings:
    """Sizes and training budgets of one demo run."""

    shallow: tuple[int, ...]
    deep: tuple[int, ...]
    label_fractions: tuple[float, ...]
    pretrain_epochs: int
    max_epochs: int
    hidden_size: int
    autoencoder_epochs: int
    linear_code_size: int
    linear_epochs: int
    code_layers: tuple[int, ...]
    code_epochs: int
    outlier_epochs: int
    vae_epochs: int
    conv_epochs: int


FULL = Settings(
    shallow=(100,), deep=(100, 100, 100), label_fractions=(1.0, 0.1), pretrain_epochs=10,
    max_epochs=100, hidden_size=32, autoencoder_epochs=150, linear_code_size=10,
    linear_epochs=1000, code_layers=(64, 32, 2), code_epochs=200, outlier_epochs=50,
    vae_epochs=100,
    conv_epochs=60,
)
QUICK = Settings(
    shallow=(32,), deep=(32, 32), label_fractions=(1.0, 0.1), pretrain_epochs=2,
    max_epochs=5, hidden_size=16, autoencoder_epochs=5, linear_code_size=5,
    linear_epochs=100, code_layers=(16, 2), code_epochs=5, outlier_epochs=5, conv_epochs=3,
    vae_epochs=5,
)


@dataclass
class Digits:
    """The bundled digits, pixels in [0, 1], split into training and test rows."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def principal_angle(A: np.ndarray, B: np.ndarray) -> float:
    """Largest principal angle (radians) between the row spaces of ``A`` and ``B``."""
    Qa, _ = np.linalg.qr(A.T)
    Qb, _ = np.linalg.qr(B.T)
    cosines = np.linalg.svd(Qa.T @ Qb, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1.0, 1.0)))


@contextlib.contextmanager
def one_torch_thread():
    """Train on one thread: the demo's networks are tiny, and several threads only add
    synchronization (many-fold slower on a busy machine). Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def load_data(seed: int) -> Digits:
    """The digits scaled to [0, 1], a stratified quarter held out for testing."""
    X, y = load_digits(return_X_y=True)
    split = train_test_split(X / 16.0, y, test_size=0.25, random_state=seed, stratify=y)
    return Digits(*split)


def hide_labels(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A copy of ``y`` keeping a stratified ``fraction`` of the labels, the rest -1."""
    if fraction >= 1.0:
        return y.copy()
    keep, _ = train_test_split(np.arange(len(y)), train_size=fraction, random_state=seed,
                               stratify=y)
    hidden = np.full_like(y, -1)
    hidden[keep] = y[keep]
    return hidden


def select_digits(data: Digits, digits: tuple[int, ...]) -> Digits:
    """The rows of ``data`` whose label is one of ``digits``."""
    train = np.isin(data.y_train, digits)
    test = np.isin(data.y_test, digits)
    return Digits(data.X_train[train], data.X_test[test], data.y_train[train],
                  data.y_test[test])


def fit(bar: tqdm, label: str, model, X: np.ndarray, y: np.ndarray | None = None):
    """Fit ``model`` while the progress bar names it; advance the bar."""
    bar.set_postfix_str(label)
    model.fit(X, y)
    bar.update()
    return model


def count_fits(settings: Settings) -> int:
    """How many models :func:`run_demo` trains (the progress bar's total)."""
    classifiers = 2 * len(settings.label_fractions) * 2 * len(PRETRAININGS)
    return classifiers + 8  # 3 autoencoders, linear by gradient, deep codes, conv, outliers, VAE


def compare_classifiers(data: Digits, settings: Settings, seed: int,
                        bar: tqdm) -> tuple[Table, dict]:
    """Test accuracy of shallow and deep nets from each initialization; the fitted nets."""
    tasks = {"1 vs 5": select_digits(data, (1, 5)), "all ten": data}
    nets = {"shallow": settings.shallow, "deep": settings.deep}
    rows, models = [], {}
    for task, part in tasks.items():
        for fraction in settings.label_fractions:
            y_fit = hide_labels(part.y_train, fraction, seed)
            n_labels = int((y_fit != -1).sum())
            for net, sizes in nets.items():
                scores = []
                for name, pretraining in PRETRAININGS.items():
                    model = DeepClassifier(
                        sizes, pretraining=pretraining, pretrain_epochs=settings.pretrain_epochs,
                        max_epochs=settings.max_epochs, consistency=0, random_state=seed,
                    )
                    fit(bar, f"{task}, {n_labels} labels, {net}, {name}", model,
                        part.X_train, y_fit)
                    scores.append(f"{model.score(part.X_test, part.y_test):.3f}")
                    models[task, fraction, net, name] = model
                layers = "-".join(map(str, sizes))
                rows.append([task, f"{n_labels} ({fraction:.0%})", f"{net} {layers}", *scores])
    table = Table("Test accuracy (digits; pretraining uses all training images, labeled or "
                  "not)", ["task", "labels", "hidden layers", *PRETRAININGS], rows)
    return table, models


def mask_pixels(X: np.ndarray, level: float, seed: int) -> np.ndarray:
    """A copy of ``X`` with a random fraction ``level`` of the pixels set to 0."""
    rng = np.random.default_rng(seed)
    return np.where(rng.random(X.shape) < level, 0.0, X)


def train_autoencoders(data: Digits, settings: Settings, seed: int,
                       bar: tqdm) -> tuple[Autoencoder, DenoisingAutoencoder, Autoencoder]:
    """A plain, a denoising and a sparse autoencoder of the same size: sigmoid units,
    cross-entropy for pixels in [0, 1], and weight decay, which keeps the filters of the blank
    border pixels small; the sparse one keeps each unit's mean activation near 0.05."""
    shared = dict(hidden_size=settings.hidden_size, activation="sigmoid",
                  output_activation="sigmoid", loss="binary_cross_entropy",
                  learning_rate=1e-2, weight_decay=1e-2,
                  max_epochs=settings.autoencoder_epochs, random_state=seed)
    plain = fit(bar, "autoencoder", Autoencoder(**shared), data.X_train)
    denoising = fit(bar, "denoising autoencoder",
                    DenoisingAutoencoder(noise="masking", noise_level=TEST_NOISE, **shared),
                    data.X_train)
    sparse = fit(bar, "sparse autoencoder",
                 Autoencoder(sparsity_target=0.05, sparsity_weight=1.0, **shared), data.X_train)
    return plain, denoising, sparse


def rebuild(model, X: np.ndarray) -> np.ndarray:
    """The model's reconstruction of ``X``."""
    return model.inverse_transform(model.transform(X))


def first_of_each_digit(y: np.ndarray) -> list[int]:
    """The index of the first image of each digit 0–9."""
    return [int(np.flatnonzero(y == digit)[0]) for digit in range(10)]


def mean_error(X: np.ndarray, clean: np.ndarray) -> str:
    """Mean over images of the squared distance to the clean images, formatted."""
    return f"{np.square(X - clean).sum(axis=1).mean():.3f}"


def show_denoising(data: Digits, plain, denoising, seed: int, out: Path) -> Section:
    """Masked test digits rebuilt by both autoencoders; pictures and errors."""
    noisy = mask_pixels(data.X_test, TEST_NOISE, seed)
    rebuilt_plain, rebuilt_denoising = rebuild(plain, noisy), rebuild(denoising, noisy)
    table = Table(f"Mean squared error to the clean test digits ({TEST_NOISE:.0%} of the pixels "
                  "masked)", ["input", "error of the input", "plain autoencoder",
                              "denoising autoencoder"],
                  [["clean", "0.000", mean_error(rebuild(plain, data.X_test), data.X_test),
                    mean_error(rebuild(denoising, data.X_test), data.X_test)],
                   ["masked", mean_error(noisy, data.X_test),
                    mean_error(rebuilt_plain, data.X_test),
                    mean_error(rebuilt_denoising, data.X_test)]])
    shown = first_of_each_digit(data.y_test)
    grid = np.stack([data.X_test[shown], noisy[shown], rebuilt_plain[shown],
                     rebuilt_denoising[shown]])
    save_image_grid(out / "denoising.png", grid,
                    row_labels=["clean", "masked", "autoencoder", "denoising AE"])
    return Section(
        "Denoising autoencoders",
        "The lecture regularizes an autoencoder by adding noise: trained to rebuild the clean "
        "digit from a corrupted copy, a denoising autoencoder learns to fill in masked "
        "pixels, while a plain autoencoder of the same size, trained on clean digits only, "
        "carries more of the corruption into its reconstruction. The table gives both "
        "errors, on masked and on clean digits: the noise is a regularizer, and it can cost "
        "some sharpness on clean inputs.",
        [table],
        [("denoising.png", "Test digits, the same digits with pixels masked, and their "
          "reconstructions by the plain and by the denoising autoencoder.")],
    )


def show_filters(plain, denoising, sparse, data: Digits, out: Path) -> Section:
    """The hidden units' weights of the three autoencoders drawn as 8×8 images."""
    activity = {name: model.transform(data.X_train).mean()
                for name, model in (("plain", plain), ("sparse", sparse))}
    weights = {
        "filters_autoencoder.png": (plain.components_, "plain autoencoder (mean unit "
                                    f"activation {activity['plain']:.2f})"),
        "filters_denoising.png": (denoising.components_, "denoising autoencoder"),
        "filters_sparse.png": (sparse.components_, "sparse autoencoder (KL penalty towards a "
                               f"mean activation of 0.05; reached {activity['sparse']:.2f})"),
    }
    images = []
    for name, (matrix, caption) in weights.items():
        save_image_grid(out / name, matrix, signed=True, ncols=8)
        images.append((name, f"First-layer weights of the {caption}: one 8×8 image per hidden "
                       "unit, red positive, blue negative."))
    return Section(
        "What the first layer learned",
        "Weights are encodings: each hidden unit of the first layer weighs the pixels, and "
        "drawn as an image its weights show the local pattern it responds to, the strokes "
        "from which the deeper layers compose digits.",
        images=images,
    )


def train_linear_by_gradient(X: np.ndarray, settings: Settings, seed: int,
                             bar: tqdm) -> Autoencoder:
    """The seed's linear autoencoder ``h(x) = WᵀWx`` trained by full-batch gradient descent."""
    model = Autoencoder(settings.linear_code_size, activation="linear", bias=False,
                        batch_size=len(X), learning_rate=1e-2, early_stopping=False,
                        max_epochs=settings.linear_epochs, random_state=seed)
    return fit(bar, "linear autoencoder by gradient descent", model, X)


def residual_curve(model: LinearAutoencoder, X: np.ndarray) -> np.ndarray:
    """Mean reconstruction error of ``X`` keeping the first k components, for every k.

    The components are orthonormal, so keeping one more removes its squared code from the
    residual: ``‖x − h_k(x)‖² = ‖x − mean‖² − Σ_{j≤k} z_j²``.
    """
    centered = X - model.mean_
    codes = centered @ model.components_.T
    residuals = np.square(centered).sum(axis=1, keepdims=True) - np.cumsum(codes**2, axis=1)
    return residuals.mean(axis=0)


def error_curves(data: Digits) -> dict[str, dict[str, np.ndarray]]:
    """Mean reconstruction error of the linear autoencoder and PCA for k = 1, 2, …, d, on
    the training and on the test digits."""
    curves = {}
    for name, model in (("linear AE", LinearAutoencoder()), ("PCA", PCA())):
        model.fit(data.X_train)
        curves[name] = {part: residual_curve(model, X)
                        for part, X in (("train", data.X_train), ("test", data.X_test))}
    return curves


def compare_linear(data: Digits, settings: Settings, seed: int, bar: tqdm) -> Table:
    """The closed-form linear autoencoder next to one trained by gradient descent."""
    k = settings.linear_code_size
    closed = LinearAutoencoder(n_components=k).fit(data.X_train)
    bound = LinearAutoencoder().fit(data.X_train).explained_variance_[k:].sum()
    gradient = train_linear_by_gradient(data.X_train, settings, seed, bar)
    angle = np.degrees(principal_angle(closed.components_, gradient.components_))
    rows = [[name, f"{model.reconstruction_error(data.X_train).mean():.4f}",
             f"{model.reconstruction_error(data.X_test).mean():.4f}", angle_text]
            for name, model, angle_text in (
                ("closed form (top eigenvectors of XᵀX)", closed, "0"),
                (f"gradient descent ({gradient.n_epochs_} epochs)", gradient, f"{angle:.3f}°"))]
    rows.append(["Σ discarded eigenvalues / N", f"{bound:.4f}", "", ""])
    return Table(f"Linear autoencoder with k = {k}: closed form vs gradient descent",
                 ["model", "train error", "test error", "largest angle to closed form"], rows)


def show_error_curves(data: Digits, out: Path) -> Table:
    """Plot the error against the code size; the table of a few code sizes."""
    curves = error_curves(data)
    save_error_curves(out / "error_vs_components.png", curves)
    columns = [(f"{model} {part}", errors) for model, parts in curves.items()
               for part, errors in parts.items()]
    return Table("Mean reconstruction error against code size k",
                 ["k", *(name for name, _ in columns)],
                 [[str(k), *(f"{errors[k - 1]:.3f}" for _, errors in columns)]
                  for k in (2, 5, 10, 20, 40)])


def show_codes(data: Digits, settings: Settings, seed: int, bar: tqdm, out: Path) -> Table:
    """The test digits' 2-D codes under PCA and a deep autoencoder: scatter plots, and how
    well each code rebuilds the digits and separates them (5 nearest neighbors)."""
    pca = PCA(n_components=2).fit(data.X_train)
    deep = fit(bar, "deep autoencoder with a 2-D code", StackedAutoencoder(
        settings.code_layers, output_activation="sigmoid", loss="binary_cross_entropy",
        pretrain_epochs=settings.pretrain_epochs, learning_rate=3e-3, batch_size=128,
        max_epochs=settings.code_epochs, random_state=seed), data.X_train)
    models = {"PCA, 2 components": pca,
              f"deep autoencoder {'-'.join(map(str, settings.code_layers))}": deep}
    save_codes(out / "codes_2d.png",
               {name: model.transform(data.X_test) for name, model in models.items()},
               data.y_test)
    rows = []
    for name, model in models.items():
        neighbors = KNeighborsClassifier(5).fit(model.transform(data.X_train), data.y_train)
        rows.append([name, f"{model.reconstruction_error(data.X_test).mean():.3f}",
                     f"{neighbors.score(model.transform(data.X_test), data.y_test):.3f}"])
    return Table("Two-dimensional codes of the test digits",
                 ["model", "test reconstruction error", "5-NN accuracy on the codes"], rows)


def show_linear(data: Digits, settings: Settings, seed: int, bar: tqdm, out: Path) -> Section:
    """Closed form vs gradient descent, error curves, and 2-D codes of PCA and a deep AE."""
    tables = [compare_linear(data, settings, seed, bar), show_error_curves(data, out),
              show_codes(data, settings, seed, bar, out)]
    return Section(
        "The linear autoencoder is PCA",
        "Without tanh and biases, with tied weights, the autoencoder minimizes "
        "1/N Σ‖x − WWᵀx‖², whose optimum is the top eigenvectors of XᵀX: gradient descent "
        "finds the same subspace and error, the error of the optimum is the sum of the "
        "discarded eigenvalues over N, and PCA is the same on centered data. With the "
        "same two numbers per digit, a deep nonlinear autoencoder keeps more of each digit "
        "than PCA.",
        tables,
        [("error_vs_components.png", "Mean squared reconstruction error against the number "
          "of components (solid: training digits, dashed: test digits)."),
         ("codes_2d.png", "2-D codes of the test digits: PCA and a deep autoencoder "
          "(denoising-pretrained, fine-tuned), colored by digit.")],
    )


def show_convolutional(data: Digits, settings: Settings, seed: int, bar: tqdm,
                       out: Path) -> Section:
    """A convolutional autoencoder against PCA with the same code size: test errors and
    reconstructions of one test image of each digit."""
    k = settings.linear_code_size
    pca = PCA(n_components=k).fit(data.X_train)
    conv = fit(bar, "convolutional autoencoder", ConvolutionalAutoencoder(
        (1, 8, 8), code_size=k, learning_rate=5e-3, batch_size=32,
        max_epochs=settings.conv_epochs, random_state=seed), data.X_train)
    models = {f"PCA, {k} components": pca, f"convolutional autoencoder, code size {k}": conv}
    table = Table("Reconstruction of the test digits with the same code size",
                  ["model", "test reconstruction error"],
                  [[name, f"{model.reconstruction_error(data.X_test).mean():.3f}"]
                   for name, model in models.items()])
    shown = [int(np.flatnonzero(data.y_test == digit)[0]) for digit in range(10)]
    grid = np.stack([data.X_test[shown], *(rebuild(m, data.X_test[shown])
                                           for m in models.values())])
    save_image_grid(out / "convolutional.png", np.clip(grid, 0, 1),
                    row_labels=["test digit", f"PCA-{k}", f"conv AE-{k}"])
    return Section(
        "Images as images: a convolutional autoencoder",
        "A convolutional autoencoder reads each row as an image: strided convolutions (small "
        "filters shared across the image) down to a dense code, transposed convolutions back "
        "up. With the same number of code units it rebuilds the digits with a fraction of "
        "PCA's error (on MNIST at code size 30: see benchmarks/results.md).",
        [table],
        [("convolutional.png", "One test image of each digit and its reconstructions by PCA "
          "and by a convolutional autoencoder with the same code size.")],
    )


def show_outliers(data: Digits, settings: Settings, seed: int, bar: tqdm,
                  out: Path) -> Section:
    """The test digits that an autoencoder rebuilds worst, next to PCA's view of them."""
    model = default_model(data.X_train).set_params(max_epochs=settings.outlier_epochs,
                                                   random_state=seed)
    detector = fit(bar, "outlier detector", ReconstructionOutlierDetector(model),
                   data.X_train)
    pca = ReconstructionOutlierDetector(PCA(n_components=settings.linear_code_size))
    pca.fit(data.X_train)
    scores = detector.reconstruction_error(data.X_test)
    pca_scores = pca.reconstruction_error(data.X_test)
    top = np.argsort(scores)[::-1][:N_OUTLIERS]
    pca_rank = np.argsort(np.argsort(-pca_scores))
    save_image_grid(out / "outliers.png", data.X_test[top], ncols=8,
                    titles=[f"{data.y_test[i]}: {scores[i]:.1f}" for i in top])
    table = Table(f"The most atypical test digits ({len(scores)} test images)",
                  ["rank", "digit", "autoencoder error", "PCA error", "rank by PCA"],
                  [[str(rank), str(data.y_test[i]), f"{scores[i]:.2f}", f"{pca_scores[i]:.2f}",
                    str(pca_rank[i] + 1)] for rank, i in enumerate(top[:10], 1)])
    return Section(
        "Outliers",
        "An autoencoder trained on the data rebuilds typical inputs well (g(x) ≈ x where the "
        "data is dense); the images it rebuilds worst are the atypical ones: badly written, "
        "unusually thick or thin, or resembling another digit.",
        [table],
        [("outliers.png", f"The {N_OUTLIERS} test digits with the largest reconstruction "
          "error under a ReLU autoencoder (title: label: error).")],
    )


def show_vae(data: Digits, settings: Settings, seed: int, bar: tqdm, out: Path) -> Section:
    """Digits drawn from a variational autoencoder, test digits and their reconstructions,
    and the test log-likelihood bounds."""
    vae = fit(bar, "variational autoencoder",
              VariationalAutoencoder(code_size=8, hidden_size=128,
                                     max_epochs=settings.vae_epochs, random_state=seed),
              data.X_train)
    samples = vae.sample(N_VAE_SAMPLES, random_state=seed).reshape(2, N_VAE_SAMPLES // 2, -1)
    test = data.X_test[first_of_each_digit(data.y_test)]
    save_image_grid(out / "vae_samples.png",
                    np.concatenate([samples, [test, rebuild(vae, test)]]),
                    row_labels=["drawn", "drawn", "test digit", "rebuilt"])
    elbo = vae.score(data.X_test)
    iwae = vae.set_params(n_importance_samples=VAE_IMPORTANCE_SAMPLES).score(data.X_test)
    table = Table("Variational autoencoder: mean test log-likelihood bounds (nats)",
                  ["ELBO", f"importance-weighted, k = {VAE_IMPORTANCE_SAMPLES}", "gap"],
                  [[f"{elbo:.2f}", f"{iwae:.2f}", f"{iwae - elbo:.2f}"]])
    return Section(
        "A variational autoencoder",
        "A variational autoencoder is a generative model: its encoder gives a Gaussian "
        "distribution over codes, its decoder a Bernoulli distribution over the pixels, and "
        "codes drawn from the prior N(0, I) decode to new digits. Training maximizes the "
        "evidence lower bound (ELBO) of the log-likelihood; with more draws of the code the "
        "importance-weighted bound comes closer to the log-likelihood itself.",
        [table],
        [("vae_samples.png", f"{N_VAE_SAMPLES} digits drawn from the VAE (decoder means of "
          "codes from the prior), then a test digit of each class and its reconstruction from "
          "the code mean.")],
    )


def describe_pretraining(models: dict, data: Digits) -> str:
    """A sentence with the deep net's test accuracy on all ten digits from each start."""
    parts = []
    for fraction in sorted({key[1] for key in models}, reverse=True):
        scores = [f"{models['all ten', fraction, 'deep', name].score(data.X_test, data.y_test):.1%}"
                  f" {name}" for name in PRETRAININGS]
        parts.append(f"with {fraction:.0%} of the labels, {', '.join(scores)}")
    return f"Here the deep net scored, on all ten digits, {'; '.join(parts)}."


def show_classifiers(table: Table, models: dict, data: Digits, out: Path) -> Section:
    """The accuracy table and the learning curves of two of the deep nets."""
    denoising = models["all ten", 1.0, "deep", "denoising"]
    random = models["all ten", 1.0, "deep", "random init"]
    curves = {
        "pretraining layer 1 (denoising AE)": denoising.pretraining_history_[0],
        "fine-tuning, denoising-pretrained": denoising.history_,
        "fine-tuning, random init": random.history_,
    }
    save_learning_curves(out / "learning_curves.png", curves)
    n_test = (len(data.y_test), int(np.isin(data.y_test, (1, 5)).sum()))
    return Section(
        "Shallow vs deep, random vs pretrained",
        "The lecture's deep nets learn features layer by layer and start from weights that "
        "preserve information: greedy layer-wise pretraining by (denoising, sparse or "
        "contractive) autoencoders or by restricted Boltzmann machines (contrastive "
        "divergence) on all the training images, then fine-tuning by backpropagation on the "
        "labeled ones; here unlabeled images help only through pretraining (consistency=0: by "
        "default DeepClassifier also uses them in fine-tuning, through a consistency term). "
        f"{describe_pretraining(models, data)} The test sets hold {n_test[0]} images (all "
        f"ten) and {n_test[1]} (1 vs 5): one image is {1 / n_test[0]:.1%} and "
        f"{1 / n_test[1]:.1%} of accuracy, so small differences are noise.",
        [table],
        [("learning_curves.png", "Loss per epoch (cross-entropy for fine-tuning) of the deep "
          "network on all ten digits with all labels: its first pretrained layer and its "
          "fine-tuning, and the same network fine-tuned from random weights. Early stopping "
          "keeps the epoch of lowest validation loss. The training loss is averaged while "
          "the weights change (and over noisy inputs where the model adds noise), so it can "
          "lie above the validation loss.")],
    )


def run_demo(seed: int = 0, out: str | Path = "report", quick: bool = False) -> Path:
    """Run every part of the demo, print its tables and write the report.

    Parameters
    ----------
    seed : int
        Seeds the data split, the label subsets, the noise and every model.
    out : str or Path
        Folder of the report (created if needed): ``index.html`` and its PNG pictures.
    quick : bool
        Smaller networks and a few epochs each: a check in seconds, not a result.

    Returns
    -------
    Path of ``index.html``.
    """
    check_matplotlib()
    start = time.perf_counter()
    settings = QUICK if quick else FULL
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(seed)
    with one_torch_thread(), tqdm(total=count_fits(settings), desc="deepae demo",
                                  unit="model") as bar:
        table, classifiers = compare_classifiers(data, settings, seed, bar)
        plain, denoising, sparse = train_autoencoders(data, settings, seed, bar)
        sections = [
            show_classifiers(table, classifiers, data, out),
            show_filters(plain, denoising, sparse, data, out),
            show_denoising(data, plain, denoising, seed, out),
            show_linear(data, settings, seed, bar, out),
            show_convolutional(data, settings, seed, bar, out),
            show_outliers(data, settings, seed, bar, out),
            show_vae(data, settings, seed, bar, out),
        ]
    intro = (f"deepae demo on scikit-learn's digits: {len(data.X_train)} training and "
             f"{len(data.X_test)} test images of 8×8 pixels, seed {seed}"
             f"{', quick run (tiny networks, few epochs)' if quick else ''}.")
    index = out / "index.html"
    write_page(index, "Deep learning with autoencoders", intro, sections)
    print(intro)
    for section in sections:
        for table in section.tables:
            print(f"\n{format_table(table)}")
    print(f"\nreport: {index}  ({time.perf_counter() - start:.1f} s)")
    return index
