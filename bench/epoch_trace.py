"""Embedding quality at every epoch of a default fit, and where each patience would stop it
(run in the scMVP virtualenv; not a test).

    python bench/epoch_trace.py ../shared/data/pbmc_multiome_2k --seeds 0 1 2 3 4 --max-epochs 70 \\
        --out bench/results/epoch_trace_pbmc_multiome_2k.json

Fits the package defaults (seed S, 1 thread) without early stopping for ``--max-epochs`` epochs
and, after each epoch, scores the posterior means of all cells against the published labels with
KMeans (k = number of labels, n_init 10, as bench/score.py). The embedding is read in eval mode
between epochs, which draws no random numbers, so the fit follows the same path as one with
early stopping: an early stop at epoch E would have returned the epoch-E row. For each patience
it prints the epoch at which the default rule (no 0.1% held-out improvement for that many epochs
after the warm-up) would stop, and the KMeans ARI there.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

PATIENCES = (3, 5, 7, 10)


def stop_epoch(rows, warmup: int, patience: int):
    """The epoch at which training stops (None: not within the trace) under ``patience``."""
    from scmvp.train import improves

    best, stale = math.inf, 0
    for r in rows:
        if r["epoch"] <= warmup:
            continue
        if improves(r["validation_loss"], best):
            best, stale = r["validation_loss"], 0
        else:
            stale += 1
            if stale >= patience:
                return r["epoch"]
    return None


def trace(dataset: Path, seed: int, max_epochs: int) -> dict:
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    import scmvp
    import scmvp.model
    from scmvp.inference import posterior_moments
    from scmvp.io import read_mtx_dir

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from score import LABEL_COLUMN, kmeans_partition

    torch.set_num_threads(1)
    data = read_mtx_dir(dataset)
    labels = pd.read_csv(dataset / "cells.tsv", sep="\t")[LABEL_COLUMN].astype(str).to_numpy()
    k = len(np.unique(labels))
    captured = {}
    cell_data = scmvp.model.CellData

    def keep(*args, **kwargs):  # the training cells as fit() prepares them
        captured["data"] = cell_data(*args, **kwargs)
        return captured["data"]

    scmvp.model.CellData = keep
    model = scmvp.ScMVP(seed=seed, verbose=False, progress_bar=False)
    rows, t0 = [], time.perf_counter()

    def after_epoch(epoch, _max_epochs, losses):
        z = posterior_moments(model.module, captured["data"], torch.device("cpu"))[0]
        km = kmeans_partition(z, k)
        rows.append({"epoch": epoch, "validation_loss": losses["validation_loss"],
                     "kmeans_ari": adjusted_rand_score(labels, km), "kmeans_nmi": normalized_mutual_info_score(labels, km),
                     "seconds": time.perf_counter() - t0})

    try:
        model.fit(data.rna, data.atac, rna_features=data.genes, atac_features=data.peaks,
                  max_epochs=max_epochs, early_stopping=False, callback=after_epoch)
    finally:
        scmvp.model.CellData = cell_data
    warmup = model.config.warmup_epochs(max_epochs)
    return {"dataset": dataset.name, "seed": seed, "warmup_epochs": warmup, "n_clusters": model.n_clusters_, "epochs": rows}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", type=Path, help="dataset folder (bench layout, with cells.tsv)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--max-epochs", type=int, default=60,
                   help="epochs to trace; the warm-up is that of the default schedule when >= 60")
    p.add_argument("--out", type=Path, required=True, help="JSON file (a list, one entry per seed)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    runs = [trace(args.dataset, s, args.max_epochs) for s in args.seeds]
    args.out.write_text(json.dumps(runs, indent=1))
    for run in runs:
        ari = {r["epoch"]: r["kmeans_ari"] for r in run["epochs"]}
        stops = [(p, stop_epoch(run["epochs"], run["warmup_epochs"], p)) for p in PATIENCES]
        print(f"{run['dataset']} seed {run['seed']} (K = {run['n_clusters']}): " + " | ".join(
            f"patience {p}: " + (f"epoch {e}, KMeans ARI {ari[e]:.3f}" if e else "no stop") for p, e in stops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
