"""Write the synthetic paired dataset whose groups need both views (not a test).

    python bench/synthetic_data.py bench/data/synthetic_both_views

The folder has the layout of ../shared/data (``rna.mtx.gz``, ``atac.mtx.gz``, ``genes.tsv``,
``peaks.tsv``, ``cells.tsv``), so ``bench/compare.py --datasets FOLDER`` benchmarks it like
the real ones. ``cell_type`` is the group (RNA program x ATAC program; see
:func:`scmvp.synthetic.paired_groups`); ``rna_program`` and ``atac_program`` are its parts.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from scmvp.io import PairedData, write_mtx_dir
from scmvp.synthetic import paired_groups


def write_dataset(out: Path, seed: int = 0, **kwargs) -> Path:
    """Generate the data with ``paired_groups(seed=seed, **kwargs)`` and write it to ``out``."""
    rna, atac, groups, rna_program, atac_program = paired_groups(seed=seed, **kwargs)
    cells = pd.DataFrame({
        "barcode": [f"cell{i}" for i in range(rna.shape[0])],
        "cell_type": [f"R{r}_A{a}" for r, a in zip(rna_program, atac_program)],
        "rna_program": rna_program, "atac_program": atac_program,
    })
    write_mtx_dir(out, PairedData(rna, atac, [f"Gene{i}" for i in range(rna.shape[1])],
                                  [f"chr1:{1000 * i}-{1000 * i + 500}" for i in range(atac.shape[1])], cells))
    (out / "SOURCE.md").write_text(
        "# Synthetic: groups that need both views\n\n"
        f"Written by `bench/synthetic_data.py` (seed {seed}) with `scmvp.synthetic.paired_groups`. "
        "Each cell has an RNA program and an independent ATAC program; `cell_type` is the pair. "
        "Not biology: it tests whether a joint method uses what only one view carries.\n")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(write_dataset(args.out, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
