"""Small synthetic paired data with planted groups (unit tests only)."""
import numpy as np
import scipy.sparse as sp


def make_paired(n_cells=300, n_genes=120, n_peaks=400, n_groups=3, seed=0):
    """Paired NB-like RNA and sparse ATAC counts with ``n_groups`` planted cell groups."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, n_cells)
    gene_prof = rng.gamma(0.5, 1.0, (n_groups, n_genes))
    peak_prof = rng.gamma(0.3, 1.0, (n_groups, n_peaks))
    lib_r = rng.integers(200, 800, n_cells)
    lib_a = rng.integers(100, 400, n_cells)
    rna = np.vstack([rng.poisson(lib_r[i] * gene_prof[g] / gene_prof[g].sum() * rng.gamma(5, 0.2, n_genes))
                     for i, g in enumerate(groups)])
    atac = np.vstack([np.minimum(rng.poisson(lib_a[i] * peak_prof[g] / peak_prof[g].sum()), 4)
                      for i, g in enumerate(groups)])
    atac[:, 0] = 0  # one peak with no counts (dropped with a note)
    genes = [f"G{i}" for i in range(n_genes)]
    peaks = [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(n_peaks)]
    # every cell needs counts in both views
    rna[rna.sum(1) == 0, 1] = 1
    atac[atac.sum(1) == 0, 1] = 1
    return sp.csr_matrix(rna, dtype=np.float64), sp.csr_matrix(atac, dtype=np.float64), genes, peaks, groups
