"""Large synthetic sparse count matrices for memory tests and speed benchmarks.

Built directly as CSR arrays (no dense intermediate, no int64 copies of the data), with a
fixed number of non-zeros per cell spread evenly over the features, so every feature has
counts. Not a model of biology: real-data claims use real data.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["sparse_counts"]


def sparse_counts(n_cells: int, n_features: int, density: float, max_count: int = 1, seed: int = 0) -> sp.csr_matrix:
    """A cells x features CSR float32 count matrix with about ``density`` non-zeros per row."""
    rng = np.random.default_rng(seed)
    k = max(1, int(round(density * n_features)))
    stride = n_features // k
    starts = rng.integers(0, stride, n_cells, dtype=np.int32)
    indices = (starts[:, None] + np.arange(k, dtype=np.int32)[None, :] * stride).ravel()
    indptr = np.arange(0, (n_cells + 1) * k, k, dtype=np.int64)
    if max_count > 1:
        data = rng.integers(1, max_count + 1, n_cells * k).astype(np.float32)
    else:
        data = np.ones(n_cells * k, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(n_cells, n_features))
