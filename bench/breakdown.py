"""Which published types a partition keeps whole (run in the peers' virtualenv; not a test).

    python bench/breakdown.py ../shared/data/snare_adult_cortex \\
        bench/results/snare_adult_cortex/scmvp_joint/seed0.npz bench/results/snare_adult_cortex/pca_rna/seed0.npz

For each stored embedding (``<method>/seed<S>.npz`` as written by bench/compare.py), partitions it
the way bench/score.py does (Leiden on a 15-NN graph at ~k clusters, KMeans with k = number of
labels) plus the model's own clusters when stored, and prints one markdown row per partition:
ARI, and for each of the largest published types the share of its cells in its main cluster.
With ``--per-type`` it also prints every type's share and its main cluster's purity, and the
largest share of one library (``batch`` column) in any cluster. With ``--set-aside TYPE`` a
last column gives the ARI over the cells of every other type (the partition is still made on
all cells): how much of a partition's ARI that one type costs it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import LABEL_COLUMN, kmeans_partition, knn_graph, leiden_near_k  # noqa: E402


def main_share(labels, part) -> pd.DataFrame:
    """Per label: share of its cells in its main cluster, that cluster's purity and size."""
    ct = pd.crosstab(labels, part)
    main = ct.idxmax(axis=1)
    out = pd.DataFrame({
        "cells": ct.sum(axis=1),
        "main_share": ct.max(axis=1) / ct.sum(axis=1),
        "main_purity": [ct.loc[t, c] / ct[c].sum() for t, c in main.items()],
    })
    return out.sort_values("cells", ascending=False)


def partitions(npz: Path, k: int, seed: int = 0) -> dict:
    arr = np.load(npz)
    z = arr["embedding"]
    res, n, leiden = leiden_near_k(knn_graph(z, seed), k, seed)
    parts = {f"Leiden ({n})": leiden, f"KMeans ({k})": kmeans_partition(z, k, seed)}
    if "clusters" in arr:
        parts[f"model clusters ({len(np.unique(arr['clusters']))})"] = arr["clusters"]
    return parts


def main(argv=None) -> int:
    from sklearn.metrics import adjusted_rand_score as ari

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="dataset folder holding cells.tsv")
    p.add_argument("npz", nargs="+", help="stored embeddings: <results>/<dataset>/<method>/seed<S>.npz")
    p.add_argument("--top", type=int, default=2, help="how many of the largest types get a column")
    p.add_argument("--per-type", action="store_true", help="also print every type and the library shares")
    p.add_argument("--set-aside", metavar="TYPE", help="add the ARI over the cells of the other types")
    args = p.parse_args(argv)
    cells = pd.read_csv(Path(args.dataset) / "cells.tsv", sep="\t")
    labels = cells[LABEL_COLUMN].astype(str).to_numpy()
    k = len(np.unique(labels))
    largest = pd.Series(labels).value_counts().index[: args.top]
    if args.set_aside is not None and args.set_aside not in set(labels):
        raise SystemExit(f"--set-aside {args.set_aside!r} is not a type in {args.dataset}/cells.tsv")
    rest = labels != args.set_aside
    extra = [f"ARI without {args.set_aside}"] if args.set_aside is not None else []
    header = ["embedding", "partition", "ARI"] + [f"{t} in main cluster" for t in largest] + extra
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for f in map(Path, args.npz):
        name = f"{f.parent.name} {f.stem}"
        for pname, part in partitions(f, k).items():
            share = main_share(labels, part)
            cols = " | ".join([f"{share.loc[t, 'main_share']:.2f}" for t in largest]
                              + ([f"{ari(labels[rest], part[rest]):.3f}"] if extra else []))
            print(f"| {name} | {pname} | {ari(labels, part):.3f} | {cols} |", flush=True)
            if args.per_type:
                print(share.round(2).to_string())
                if "batch" in cells:
                    bt = pd.crosstab(part, cells["batch"].to_numpy())
                    print(f"largest share of one library in a cluster: {(bt.max(axis=1) / bt.sum(axis=1)).max():.2f}"
                          f" (uniform {1 / bt.shape[1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
