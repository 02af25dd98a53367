"""bench/derive_dataset.py: binomial thinning of the ATAC counts and cell subsets (stress tests)."""
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from derive_dataset import thin_counts, write_derived  # noqa: E402


def _counts(n=400, p=300, seed=0):
    rng = np.random.default_rng(seed)
    x = sp.random(n, p, density=0.05, format="csr", random_state=seed)
    x.data = rng.integers(1, 4, x.nnz).astype(np.float64)
    return x


def test_keeps_the_asked_share_of_counts_and_leaves_the_input_alone():
    x = _counts()
    before = x.copy()
    thin = thin_counts(x, 0.1, seed=0)
    # binomial thinning: E[kept] = 0.1 * total, sd = sqrt(total * 0.1 * 0.9); rows rescued add at most n
    total = x.sum()
    assert abs(thin.sum() - 0.1 * total) < 5 * np.sqrt(total * 0.09) + x.shape[0]
    assert thin.shape == x.shape and thin.dtype.kind == "i"
    # counts only go down, and only where there were counts
    assert (thin - x.astype(np.int64)).max() <= 0
    assert (x != before).nnz == 0 and np.array_equal(x.indptr, before.indptr)


def test_no_cell_is_left_without_counts():
    x = _counts(seed=1)
    thin = thin_counts(x, 0.01, seed=0)
    had = np.diff(x.indptr) > 0
    assert np.all(np.asarray(thin.sum(1)).ravel()[had] >= 1)


def test_keep_one_is_the_identity_and_a_seed_repeats():
    x = _counts(seed=2)
    assert (thin_counts(x, 1.0) != x).nnz == 0
    a, b = thin_counts(x, 0.3, seed=5), thin_counts(x, 0.3, seed=5)
    assert (a != b).nnz == 0


def test_a_derived_folder_keeps_the_layout_and_the_cells_rows_together(tmp_path):
    import pandas as pd

    from scmvp.io import PairedData, read_mtx_dir, write_mtx_dir

    # every cell has RNA and ATAC counts
    rna = _counts(50, 20, seed=3) + sp.csr_matrix((np.full(50, 7.0), (np.arange(50), np.arange(50) % 20)), shape=(50, 20))
    atac = _counts(50, 30, seed=4) + sp.csr_matrix((np.full(50, 5.0), (np.arange(50), np.arange(50) % 30)), shape=(50, 30))
    # each cell's label is its row's RNA total, so a shuffle of rows against labels shows
    totals = np.asarray(rna.sum(1)).ravel()
    cells = pd.DataFrame({"barcode": [f"c{i}" for i in range(50)], "cell_type": [f"{t:g}" for t in totals]})
    src = write_mtx_dir(tmp_path / "src", PairedData(rna, atac, [f"g{i}" for i in range(20)],
                                                      [f"chr1:{i}-{i + 1}" for i in range(30)], cells))
    out = write_derived(src, tmp_path / "out", atac_keep=0.5, cells=20, seed=7)
    d = read_mtx_dir(out)
    assert d.rna.shape == (20, 20) and d.atac.shape == (20, 30) and len(d.cells) == 20
    assert [f"{t:g}" for t in np.asarray(d.rna.sum(1)).ravel()] == d.cells["cell_type"].astype(str).tolist()
    assert np.all(np.asarray(d.atac.sum(1)).ravel() >= 1)
    assert "20 random cells" in (out / "SOURCE.md").read_text()
