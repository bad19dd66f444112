"""A fixed-seed slice of the model-file fuzzing of ``benchmarks/bench_fuzz.py``: mutated model
files of every estimator class load or raise the documented ``ValueError``, nothing else."""

import pytest
from hypothesis import HealthCheck, given, settings
from model_mutations import fitted_models, mutations

import deepae


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("fuzz")
    contents = {}
    for name, model in fitted_models().items():
        model.save(directory / f"{name}.deepae")
        contents[name] = (directory / f"{name}.deepae").read_bytes()
    return contents


def test_mutated_model_files_load_or_raise_the_documented_error(files, tmp_path):
    path = tmp_path / "mutated.deepae"

    @settings(max_examples=150, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations(files))
    def load(mutation):
        description, data = mutation
        path.write_bytes(data)
        try:
            deepae.load(path)
        except ValueError as error:
            assert str(path) in str(error), description

    load()
