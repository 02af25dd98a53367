"""Large synthetic sparse count matrices for memory tests and speed benchmarks.

Built directly as CSR arrays (no dense intermediate, no int64 copies of the data), with a
fixed number of non-zeros per cell spread evenly over the features, so every feature has
counts. Not a model of biology: real-data claims use real data.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["sparse_counts", "paired_groups", "write_sparse_h5mu"]


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


def paired_groups(n_cells: int = 3000, n_genes: int = 2000, n_peaks: int = 10000,
                  rna_programs: int = 3, atac_programs: int = 2, marker_fraction: float = 0.05,
                  rna_fold: float = 2.5, atac_fold: float = 2.0, seed: int = 0):
    """Paired RNA and ATAC counts whose cell groups need both views to be told apart.

    Each cell has an RNA program (one of ``rna_programs``) and, independently, an ATAC program
    (one of ``atac_programs``); its group is the pair, so there are ``rna_programs x
    atac_programs`` groups. Cells of one RNA program share their expression whatever their
    chromatin, and the other way round: the RNA alone sees ``rna_programs`` groups, the ATAC
    alone ``atac_programs``, and only both views together see them all.

    RNA: gamma-Poisson (negative binomial, inverse dispersion 5) around a baseline profile, each
    program raising ``marker_fraction`` of the genes ``rna_fold``-fold; library sizes log-normal
    around 2,000 counts. ATAC: Poisson around a baseline accessibility, each program opening
    ``marker_fraction`` of the peaks ``atac_fold``-fold, capped at 4 per peak; library sizes
    log-normal around 2,000 fragments. Returns ``(rna, atac, groups, rna_program, atac_program)``
    with CSR float32 counts (cells x features) and integer labels.

    >>> rna, atac, groups, r, a = paired_groups(n_cells=60, n_genes=50, n_peaks=200)
    >>> rna.shape, atac.shape, len(set(groups)) <= 6
    ((60, 50), (60, 200), True)
    """
    rng = np.random.default_rng(seed)
    rna_program = rng.integers(0, rna_programs, n_cells)
    atac_program = rng.integers(0, atac_programs, n_cells)
    groups = rna_program * atac_programs + atac_program

    def profiles(n_programs, n_features, shape, fold):
        base = rng.gamma(shape, 1.0, n_features)
        prof = np.tile(base, (n_programs, 1))
        n_markers = max(1, int(round(marker_fraction * n_features)))
        for p in range(n_programs):
            prof[p, rng.choice(n_features, n_markers, replace=False)] *= fold
        return prof / prof.sum(1, keepdims=True)

    gene_prof = profiles(rna_programs, n_genes, 0.3, rna_fold)
    peak_prof = profiles(atac_programs, n_peaks, 0.5, atac_fold)
    lib_rna = rng.lognormal(np.log(2000), 0.4, n_cells)
    lib_atac = rng.lognormal(np.log(2000), 0.5, n_cells)
    theta = 5.0
    rna = rng.poisson(rng.gamma(theta, lib_rna[:, None] * gene_prof[rna_program] / theta))
    atac = np.minimum(rng.poisson(lib_atac[:, None] * peak_prof[atac_program]), 4)
    for m in (rna, atac):  # every cell needs counts in both views
        empty = m.sum(1) == 0
        m[empty, rng.integers(0, m.shape[1], int(empty.sum()))] = 1
    as_csr = lambda m: sp.csr_matrix(m.astype(np.float32))
    return as_csr(rna), as_csr(atac), groups, rna_program, atac_program


def write_sparse_h5mu(path, n_cells: int, n_genes: int, n_peaks: int, rna_per_cell: int, atac_per_cell: int,
                      max_count: int = 3, seed: int = 0, block_cells: int = 50_000):
    """Write :func:`sparse_counts` RNA and ATAC (about ``rna_per_cell`` and ``atac_per_cell``
    non-zeros a cell) to a ``.h5mu`` file block by block (:func:`scmvp.io.write_h5mu`), so a
    million cells are written in the memory of one block. Returns the path."""
    from .io import write_h5mu

    def blocks():
        for b, start in enumerate(range(0, n_cells, block_cells)):
            m = min(block_cells, n_cells - start)
            yield (sparse_counts(m, n_genes, rna_per_cell / n_genes, max_count, seed=seed * 100_003 + 2 * b),
                   sparse_counts(m, n_peaks, atac_per_cell / n_peaks, max_count, seed=seed * 100_003 + 2 * b + 1))

    return write_h5mu(path, blocks(), [f"gene{i}" for i in range(n_genes)],
                      [f"chr1:{100 * i}-{100 * i + 50}" for i in range(n_peaks)],
                      [f"cell{i}" for i in range(n_cells)])
