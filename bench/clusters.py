"""How the model's clusters depend on the merging resolution (run in the peers' virtualenv).

    python bench/clusters.py --results bench/results --resolutions 0.3 0.5 0.7 1.0

For every scMVP run whose npz holds the mixture components (``components``), merges them by
modularity on the 15-NN graph of the embedding (:mod:`scmvp.clusters`, as ``ScMVP.fit`` does)
at each resolution and prints, per dataset and method, the mean ARI against the labels and the
mean number of clusters; "none" is the unmerged components.
"""
from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--data-root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--resolutions", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.0])
    args = p.parse_args(argv)
    from sklearn.metrics import adjusted_rand_score

    from scmvp.clusters import component_graph, merge_components

    table = collections.defaultdict(list)
    for npz in sorted(Path(args.results).glob("*/*/seed*.npz")):
        arr = np.load(npz)
        if "components" not in arr:
            continue
        dataset, method = npz.parent.parent.name, npz.parent.name
        labels = pd.read_csv(Path(args.data_root) / dataset / "cells.tsv", sep="\t")["cell_type"].astype(str).values
        comp = arr["components"]
        graph = component_graph(arr["embedding"], comp, int(comp.max()) + 1,
                                seed=json.loads(npz.with_suffix(".json").read_text())["seed"])
        row = [(adjusted_rand_score(labels, comp), len(np.unique(comp)))]
        for r in args.resolutions:
            merged = merge_components(graph, r)[comp]
            row.append((adjusted_rand_score(labels, merged), len(np.unique(merged))))
        table[(dataset, method)].append(row)
    heads = ["none"] + [str(r) for r in args.resolutions]
    print("| dataset | method | seeds | " + " | ".join(f"ARI (n) at {h}" for h in heads) + " |")
    print("|---|---|---|" + "---|" * len(heads))
    for (dataset, method), rows in sorted(table.items()):
        a = np.array(rows)
        cells = [f"{a[:, i, 0].mean():.3f} ({a[:, i, 1].mean():.1f})" for i in range(len(heads))]
        print(f"| {dataset} | {method} | {len(rows)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
