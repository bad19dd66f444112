"""The detector's neighbour term: exact chunked k-nearest-neighbour distances."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from deepae.outliers.neighbors import neighbor_distances


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 7)), rng.normal(size=(35, 7))


@pytest.mark.parametrize("k", [1, 5, 20])
def test_distances_equal_scikit_learns_nearest_neighbors(rows, k):
    reference, queries = rows
    expected = NearestNeighbors(n_neighbors=k).fit(reference).kneighbors(queries)[0]
    np.testing.assert_allclose(neighbor_distances(queries, reference, k), expected,
                               rtol=1e-9)


def test_the_rows_themselves_get_their_leave_one_out_distances_after_their_own(rows):
    reference, _ = rows
    reference = np.vstack([reference, reference[:3]])  # duplicates count as neighbours
    expected = NearestNeighbors(n_neighbors=4).fit(reference).kneighbors()[0]
    distances = neighbor_distances(reference, reference, 5)
    np.testing.assert_allclose(distances[:, 0], 0, atol=1e-6)
    np.testing.assert_allclose(distances[:, 1:], expected, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("chunk_elements", [1, 200, 201, 999, 10**6])
def test_chunked_equals_unchunked(rows, chunk_elements):
    reference, queries = rows
    whole = neighbor_distances(queries, reference, 6)
    # equal up to the rounding of a matrix product whose blocking follows the chunk's size
    np.testing.assert_allclose(
        neighbor_distances(queries, reference, 6, chunk_elements=chunk_elements), whole,
        rtol=1e-13)


def test_more_neighbours_than_rows_and_no_queries(rows):
    reference, queries = rows
    assert neighbor_distances(queries, reference[:3], 10).shape == (35, 3)
    assert neighbor_distances(queries[:0], reference, 4).shape == (0, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_the_gpu_equals_on_the_cpu(rows):
    reference, queries = rows
    np.testing.assert_allclose(neighbor_distances(queries, reference, 5, device="cuda"),
                               neighbor_distances(queries, reference, 5), rtol=1e-9)
