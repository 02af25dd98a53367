"""Reproducible chromatin directions of datasets, on the peaks a default fit trains on (not a test).

    python bench/atac_signal.py ../shared/data/pbmc_multiome_2k ../shared/data/snare_adult_cortex

For each dataset folder (the layout of ../shared/data) prints the number of split-half
reproducible chromatin directions (:func:`scmvp.view_signal.split_half_signal`), the largest
split-half canonical correlations, the threshold and the seconds taken, and whether the default
joint encoder reads the chromatin (``encode_atac="auto"``).
"""
from __future__ import annotations

import argparse
import time

from scmvp import ScMVPConfig
from scmvp.data import prepare_matrix
from scmvp.features import select_matrix
from scmvp.io import read_mtx_dir
from scmvp.view_signal import split_half_signal


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("datasets", nargs="+", help="dataset folders")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = ScMVPConfig()
    print("| dataset | cells x peaks trained on | reproducible directions | top split-half correlations | threshold | encoder reads the chromatin | seconds |")
    print("|---|---|---|---|---|---|---|")
    for d in args.datasets:
        data = read_mtx_dir(d)
        m = select_matrix(prepare_matrix(data.atac, data.peaks, "atac", verbose=False), "atac",
                          cfg.n_top_genes, cfg.max_peaks, False)
        t0 = time.perf_counter()
        s = split_half_signal(m.X, seed=args.seed)
        took = time.perf_counter() - t0
        top = ", ".join(f"{c:.2f}" for c in s.correlations[:3])
        print(f"| {d.rstrip('/').split('/')[-1]} | {m.X.shape[0]:,} x {m.X.shape[1]:,} | {s.n_reproducible} | {top} | "
              f"{s.threshold:.2f} | {'yes' if s.n_reproducible else 'no'} | {took:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
