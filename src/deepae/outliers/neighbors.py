"""Exact k-nearest-neighbour distances to stored training rows, in chunks, on a torch device.

The detector's local-density term: a row's distance to its ``k``-th nearest training row
(what PyOD's ``KNN`` scores). The search is exact (every stored row is compared), runs on
the device given (a GPU when the model trains on one), and holds at most about
:data:`CHUNK_ELEMENTS` distances at a time, so its memory is bounded whatever the number of
rows searched.
"""

import numpy as np
import torch

#: At most this many query × reference distances are held at once (128 MiB of float64).
CHUNK_ELEMENTS = 2**24


def neighbor_distances(queries: np.ndarray, reference: np.ndarray, n_neighbors: int,
                       device: torch.device | str = "cpu",
                       chunk_elements: int = CHUNK_ELEMENTS) -> np.ndarray:
    """Euclidean distances from each row of ``queries`` to its ``n_neighbors`` nearest rows
    of ``reference``, nearest first.

    Distances come from ``‖q‖² − 2 q·r + ‖r‖²`` in float64 on ``device``, a chunk of query
    rows at a time (about ``chunk_elements`` distances per chunk). Queried with the rows of
    ``reference`` themselves, the first column is each row's own (0, up to rounding) and
    the others are its leave-one-out distances.

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
    """
    k = min(n_neighbors, len(reference))
    ref = torch.as_tensor(np.asarray(reference), dtype=torch.float64, device=device)
    ref_norms = ref.square().sum(1)
    rows = max(1, chunk_elements // max(1, len(reference)))
    out = []
    with torch.inference_mode():
        for start in range(0, len(queries), rows):
            q = torch.as_tensor(np.asarray(queries[start:start + rows]), dtype=torch.float64,
                                device=device)
            # ‖r‖² − 2 q·r in one fused product; ‖q‖², the same along a row, is added after
            partial = torch.addmm(ref_norms, q, ref.T, alpha=-2)
            nearest = partial.topk(k, dim=1, largest=False).values
            squared = nearest + q.square().sum(1, keepdim=True)
            out.append(squared.clamp_min(0).sqrt().cpu().numpy())
    if not out:
        return np.empty((0, k))
    return np.concatenate(out)
