"""Fit times of the package defaults on the real datasets (run in the scMVP virtualenv; not a test).

    python bench/small_fits.py --data-root ../shared/data --threads 2 --json bench/results/small_fits.json

Each case is its own process, run one at a time: the defaults (seed 0, K estimated, early
stopping) on PBMC (joint and RNA-only), on 2,000 cortex cells (a random sample,
``numpy.random.default_rng(0)``) and on all 10,309 cortex cells. Records the fit seconds (after
loading), epochs, the median seconds per epoch, the process's peak RSS, KMeans ARI (k = number
of labels, n_init 10) and the model's own clusters' ARI, and prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "pbmc_joint": ("pbmc_multiome_2k", None, "joint"),
    "pbmc_rna": ("pbmc_multiome_2k", None, "rna"),
    "cortex_2k_joint": ("snare_adult_cortex", 2000, "joint"),
    "cortex_joint": ("snare_adult_cortex", None, "joint"),
}


def run_case(data_root: Path, name: str, threads: int) -> dict:
    import numpy as np
    import pandas as pd
    import resource
    import torch
    from sklearn.metrics import adjusted_rand_score

    import scmvp
    from scmvp.io import read_mtx_dir
    from scmvp.runinfo import cpu_model

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from score import LABEL_COLUMN, kmeans_partition

    torch.set_num_threads(threads)
    dataset, n_cells, modality = CASES[name]
    data = read_mtx_dir(data_root / dataset)
    labels = pd.read_csv(data_root / dataset / "cells.tsv", sep="\t")[LABEL_COLUMN].astype(str).to_numpy()
    if n_cells is not None:
        idx = np.sort(np.random.default_rng(0).choice(data.rna.shape[0], n_cells, replace=False))
        data, labels = data.subset(idx), labels[idx]
    stamps = []
    model = scmvp.ScMVP(seed=0, modality=modality, verbose=False, progress_bar=False)
    t0 = time.perf_counter()
    model.fit(data.rna, data.atac, rna_features=data.genes, atac_features=data.peaks,
              callback=lambda *_: stamps.append(time.perf_counter()))
    fit_s = time.perf_counter() - t0
    k = len(np.unique(labels))
    km = kmeans_partition(model.embedding(), k)
    epoch_s = np.diff([t0] + stamps)
    atac = data.atac
    return {
        "case": name, "dataset": dataset, "cells": int(data.rna.shape[0]), "peaks": int(atac.shape[1]),
        "atac_density": float(atac.nnz / (atac.shape[0] * atac.shape[1])), "modality": modality,
        "fit_s": fit_s, "epochs": len(stamps), "median_epoch_s": float(np.median(epoch_s)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kmeans_ari": float(adjusted_rand_score(labels, km)),
        "own_clusters_ari": float(adjusted_rand_score(labels, model.clusters())),
        "threads": threads, "cpu": cpu_model(),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    p.add_argument("--json", type=Path, help="write the records here")
    p.add_argument("--one", choices=sorted(CASES), help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(args.data_root, args.one, args.threads)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    for case in args.cases:
        out = subprocess.run([sys.executable, __file__, "--data-root", str(args.data_root), "--threads",
                              str(args.threads), "--one", case], env=env, check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("| data | cells | peaks (ATAC non-zeros) | mode | fit s | epochs | s / epoch (median) | peak RSS MB | KMeans ARI | own clusters ARI |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['cells']:,} | {r['peaks']:,} ({100 * r['atac_density']:.1f}%) | {r['modality']} "
              f"| {r['fit_s']:.1f} | {r['epochs']} | {r['median_epoch_s']:.2f} | {r['peak_rss_mb']:,.0f} "
              f"| {r['kmeans_ari']:.3f} | {r['own_clusters_ari']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
