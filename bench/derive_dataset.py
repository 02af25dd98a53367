"""Write a stress-test copy of a real dataset: fewer cells, or a chromatin view with almost no
signal (not a test).

    python bench/derive_dataset.py ../shared/data/snare_adult_cortex bench/data/cortex_atac_0.1 --atac-keep 0.1
    python bench/derive_dataset.py ../shared/data/pbmc_multiome_2k bench/data/pbmc_500 --cells 500

``--cells N`` keeps a random N cells (seeded). ``--atac-keep P`` keeps each ATAC count with
probability P (binomial thinning), as if the library had been sequenced that much less deeply;
a cell left with no count keeps one of its original ones (scMVP asks every cell to have ATAC
counts). Everything else (RNA counts, features, labels) is copied unchanged. The result has the
layout of ../shared/data, so ``bench/compare.py --datasets FOLDER`` benchmarks it. These are not
new datasets: they ask whether the defaults' rules hold at other sizes and signal levels.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp

from scmvp.io import read_mtx_dir, write_mtx_dir


def thin_counts(X: sp.csr_matrix, keep: float, seed: int = 0) -> sp.csr_matrix:
    """Binomial(count, keep) of every stored count; a row left empty keeps one original count.
    ``X`` is not modified."""
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(X, dtype=np.int64)
    data = rng.binomial(X.data, keep)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    totals = np.bincount(rows, weights=data, minlength=X.shape[0])
    for r in np.flatnonzero((totals == 0) & (np.diff(X.indptr) > 0)):
        data[X.indptr[r] + rng.integers(X.indptr[r + 1] - X.indptr[r])] = 1
    out = sp.csr_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)
    out.eliminate_zeros()
    return out


def write_derived(src: Path, out: Path, atac_keep: Optional[float] = None, cells: Optional[int] = None,
                  seed: int = 0) -> Path:
    """Copy the dataset ``src`` to ``out`` with ``cells`` random cells and/or its ATAC counts
    thinned to the share ``atac_keep``."""
    data = read_mtx_dir(src)
    what = []
    if cells is not None and cells < len(data.cells):
        data = data.subset(np.sort(np.random.default_rng(seed).choice(len(data.cells), cells, replace=False)))
        what.append(f"{cells:,} random cells")
    before = np.diff(data.atac.indptr)
    thinned = atac_keep is not None and atac_keep < 1
    if thinned:
        data = dataclasses.replace(data, atac=thin_counts(data.atac, atac_keep, seed))
        what.append(f"each ATAC count kept with probability {atac_keep:g} (a cell left empty keeps one "
                    "original count)")
    write_mtx_dir(out, data)
    args = (f" --cells {cells}" if cells else "") + (f" --atac-keep {atac_keep:g}" if atac_keep else "")
    (out / "SOURCE.md").write_text(
        f"# {src.name}: {'; '.join(what) or 'a copy'}\n\n"
        f"Written by `bench/derive_dataset.py {src} {out}{args} --seed {seed}` from `{src.name}` "
        f"(see its SOURCE.md): {'; '.join(what) or 'unchanged'}; everything else unchanged. Accessible peaks "
        f"per cell: median {np.median(before):g}"
        + (f" before, {np.median(np.diff(data.atac.indptr)):g} after. " if thinned else ". ")
        + f"Labels: {data.cells['cell_type'].nunique()} types. A stress test of the defaults, not a new dataset.\n")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--atac-keep", type=float, help="share of ATAC counts kept, in (0, 1]")
    p.add_argument("--cells", type=int, help="keep this many random cells")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.atac_keep is not None and not 0 < args.atac_keep <= 1:
        p.error("--atac-keep must be in (0, 1]")
    if args.cells is not None and args.cells < 2:
        p.error("--cells must be at least 2")
    print(write_derived(args.src, args.out, args.atac_keep, args.cells, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
