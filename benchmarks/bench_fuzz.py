"""Fuzzing the model-file loader: 10,000+ mutated files of every estimator class.

The mutations are hypothesis strategies (``tests/model_mutations.py``, shared with the fixed-
seed slice in ``tests/test_fuzz.py``): bit flips, truncation, configuration and header edits
with the checksum recomputed, tensor shapes (huge ones too) and dtypes edited in the header,
NaN weights. Every case must load or raise the documented ``ValueError``; each is timed
(an alarm turns a hang into a counted failure) and the peak resident memory is watched.
"""

import collections
import resource
import signal
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


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        path = directory / "mutated.deepae"
        outcomes = collections.Counter()  # (kind of mutation, outcome) -> cases
        failures: list[str] = []
        slowest = [0.0, ""]
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
                deepae.load(path)
                outcomes[kind, "loaded"] += 1
            except ValueError:
                outcomes[kind, "refused"] += 1
            except Hang:
                outcomes[kind, "other"] += 1
                failures.append(f"hang: {description}")
            except Exception as error:  # noqa: BLE001 - what the fuzzing looks for
                outcomes[kind, "other"] += 1
                failures.append(f"{type(error).__name__}: {description}: {error}"[:300])
            finally:
                signal.alarm(0)
            seconds = time.perf_counter() - start
            if seconds > slowest[0]:
                slowest[:] = [seconds, description]

        began = time.perf_counter()
        case()
        total = time.perf_counter() - began
    n = sum(outcomes.values())
    kinds = sorted({kind for kind, _ in outcomes})
    largest = max(len(data) for data in files.values()) / 2**20
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
        f"Slowest case {slowest[0] * 1000:.0f} ms ({slowest[1]}; goal < 1 s); {total:.0f} s in "
        f"all. Peak resident memory {peak_rss_mib():.0f} MiB, {peak_rss_mib() - baseline:.0f} "
        f"MiB above the process's peak before the cases (largest file {largest:.2f} MiB).",
    ]
    lines += [f"- {failure}" for failure in failures[:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
