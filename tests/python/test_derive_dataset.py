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
    import gzip

    import pandas as pd
    import scipy.io

    rng = np.random.default_rng(3)
    src = tmp_path / "src"
    src.mkdir()
    rna, atac = _counts(50, 20, seed=3), _counts(50, 30, seed=4)
    # every cell has RNA and ATAC counts
    rna = rna + sp.csr_matrix((np.full(50, 7.0), (np.arange(50), np.arange(50) % 20)), shape=(50, 20))
    atac = atac + sp.csr_matrix((np.full(50, 5.0), (np.arange(50), np.arange(50) % 30)), shape=(50, 30))
    # each cell's label is its row's RNA total, so a shuffle of rows against labels shows
    totals = np.asarray(rna.sum(1)).ravel()
    for name, m in (("rna", rna), ("atac", atac)):
        with gzip.open(src / f"{name}.mtx.gz", "wb") as fh:
            scipy.io.mmwrite(fh, m.astype(np.int32), field="integer")
    (src / "genes.tsv").write_text("".join(f"g{i}\n" for i in range(20)))
    (src / "peaks.tsv").write_text("".join(f"chr1:{i}-{i + 1}\n" for i in range(30)))
    pd.DataFrame({"barcode": [f"c{i}" for i in range(50)], "cell_type": [f"{t:g}" for t in totals]}).to_csv(
        src / "cells.tsv", sep="\t", index=False)
    out = write_derived(src, tmp_path / "out", atac_keep=0.5, cells=20, seed=int(rng.integers(100)))
    rna2 = scipy.io.mmread(out / "rna.mtx.gz").tocsr()
    atac2 = scipy.io.mmread(out / "atac.mtx.gz").tocsr()
    cells = pd.read_csv(out / "cells.tsv", sep="\t", dtype=str)
    assert rna2.shape == (20, 20) and atac2.shape == (20, 30) and len(cells) == 20
    assert [f"{t:g}" for t in np.asarray(rna2.sum(1)).ravel()] == cells["cell_type"].tolist()
    assert np.all(np.asarray(atac2.sum(1)).ravel() >= 1)
    assert "20 random cells" in (out / "SOURCE.md").read_text()
