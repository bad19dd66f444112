"""Fuzzing the model-file loader: 10,000+ mutated files of every estimator class.

The mutations are hypothesis strategies (``tests/model_mutations.py``, shared with the fixed-
seed slice in ``tests/test_fuzz.py``): bit flips, truncation, configuration and header edits
with the checksum recomputed, tensor shapes (huge ones too) and dtypes edited in the header,
NaN weights. Every case must load or raise the documented ``ValueError``; each is timed
(an alarm turns a hang into a counted failure; the slowest is loaded again after the run, to
tell a slow load from a stall of the machine) and its peak memory is measured: Linux's
high-water mark of resident memory is reset before the load (``/proc/self/clear_refs``) and
read after it, so the figure is what that one load added above the process's resident
memory before it (the process's own peak grows besides: hypothesis keeps a record of the
cases it drew).
"""

import collections
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from model_mutations import fitted_models, mutations  # noqa: E402

import deepae  # noqa: E402

CASES = 10_000
HANG_SECONDS = 10
#: A load whose peak is above this many KiB is repeated, and the repeat's peak kept: the first
#: run of a code path (a warning's formatting, an error path, a lazy import) allocates once.
REPEAT_ABOVE_KIB = 64


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (``VmRSS``, ``VmHWM``), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def load(path) -> tuple[str, float]:
    """``deepae.load(path)``: ("loaded" or "refused"), and the KiB of resident memory the load
    added at its peak above the memory before it (Linux: the high-water mark reset first)."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = status_kib("VmRSS")
    try:
        deepae.load(path)
        outcome = "loaded"
    except ValueError:
        outcome = "refused"
    return outcome, status_kib("VmHWM") - before


class Hang(Exception):
    pass


def alarm(signum, frame):
    raise Hang


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files = {}
        for name, model in fitted_models().items():
            model.save(directory / f"{name}.deepae")
            files[name] = (directory / f"{name}.deepae").read_bytes()
        for name in files:  # the first loads import what loading needs
            deepae.load(directory / f"{name}.deepae")
        sound = max(load(directory / f"{name}.deepae")[1] for name in files)
        peaks: list[float] = []
        first_peaks: list[float] = []  # of the loads repeated
        largest_peak = [0.0, ""]
        path = directory / "mutated.deepae"
        outcomes = collections.Counter()  # (kind of mutation, outcome) -> cases
        failures: list[str] = []
        slowest = [0.0, "", b""]  # seconds, description, file
        baseline = peak_rss_mib()
        signal.signal(signal.SIGALRM, alarm)

        @settings(max_examples=CASES, database=None, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(mutations(files))
        def case(mutation):
            description, data = mutation
            kind = " ".join(description.split(": ")[1].split(" ")[:2])
            path.write_bytes(data)
            start = time.perf_counter()
            signal.alarm(HANG_SECONDS)
            try:
                outcome, peak = load(path)
                outcomes[kind, outcome] += 1
            except Hang:
                outcomes[kind, "other"] += 1
                failures.append(f"hang: {description}")
                return
            except Exception as error:  # noqa: BLE001 - what the fuzzing looks for
                outcomes[kind, "other"] += 1
                failures.append(f"{type(error).__name__}: {description}: {error}"[:300])
                return
            finally:
                signal.alarm(0)
                seconds = time.perf_counter() - start
                if seconds > slowest[0]:
                    slowest[:] = [seconds, description, data]
            if peak > REPEAT_ABOVE_KIB:
                first_peaks.append(peak)
                peak = min(peak, load(path)[1])
            peaks.append(peak)
            if peak > largest_peak[0]:
                largest_peak[:] = [peak, f"{description}, a file of {len(data) / 2**10:.1f} KiB"]

        began = time.perf_counter()
        case()
        total = time.perf_counter() - began
        path.write_bytes(slowest[2])  # timed again alone: was it the load or a stall?
        again = []
        for _ in range(3):
            start = time.perf_counter()
            load(path)
            again.append(time.perf_counter() - start)
    n = sum(outcomes.values())
    kinds = sorted({kind for kind, _ in outcomes})
    largest = max(len(data) for data in files.values()) / 2**10
    lines = [
        "## Fuzzing the model-file loader",
        "",
        f"{n:,} mutated model files of the {len(files)} estimator classes (hypothesis, "
        "derandomized; mutations in `tests/model_mutations.py`: bit flips, truncation, "
        "configuration and header edits with the checksum recomputed, huge and wrong shapes, "
        "wrong dtypes, NaN weights), each loaded with `deepae.load`. Reproduce: "
        "`.venv/bin/python benchmarks/run.py fuzz` (measured under load).",
        "",
        "| mutation | cases | refused (`ValueError`) | loaded | anything else |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {kind} | {sum(outcomes[kind, o] for o in ('refused', 'loaded', 'other')):,} | "
          f"{outcomes[kind, 'refused']:,} | {outcomes[kind, 'loaded']:,} | "
          f"{outcomes[kind, 'other']} |" for kind in kinds],
        f"| **all** | {n:,} | {sum(v for (_, o), v in outcomes.items() if o == 'refused'):,} | "
        f"{sum(v for (_, o), v in outcomes.items() if o == 'loaded'):,} | "
        f"**{len(failures)}** |",
        "",
        f"Anything else: another exception, or a hang over {HANG_SECONDS} s. Loaded: edits "
        "the loader may accept (NaN weights, a harmless configuration value).",
        f"Slowest case {slowest[0] * 1000:.0f} ms ({slowest[1]}; goal < 1 s; loaded again "
        f"after the run, best of 3: {min(again) * 1000:.0f} ms); {total:.0f} s in "
        f"all. Memory of one load at its peak above the process's resident memory before it "
        f"(Linux's high-water mark, reset before each load, in 4 KiB pages; a load above "
        f"{REPEAT_ABOVE_KIB} KiB repeated and the repeat's kept, as the first run of a code path "
        f"allocates once: {len(first_peaks)} loads, up to {max(first_peaks, default=0):,} KiB "
        f"the first time): median {statistics.median(peaks):.0f} KiB, 99th percentile "
        f"{statistics.quantiles(peaks, n=100)[98]:.0f} KiB, largest {largest_peak[0]} KiB "
        f"({largest_peak[1]}); a sound file's load up to {sound} KiB; the largest sound file "
        f"{largest:.1f} KiB. The process's peak rose {peak_rss_mib() - baseline:.0f} MiB over "
        f"the run (to {peak_rss_mib():.0f} MiB), loads aside: hypothesis keeps a record of the "
        "cases it drew.",
    ]
    lines += [f"- {failure}" for failure in failures[:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
