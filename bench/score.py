"""Score stored embeddings against the published labels (run in the peers' virtualenv).

    python bench/score.py --results bench/results --data-root ../shared/data [--force]

For each OUT/<dataset>/<method>/seed<S>.npz, adds to its JSON a ``scores`` entry:
- KMeans with k = number of labels (n_init=10, random_state=0; the paper's protocol): ARI, NMI;
- Leiden on the method's graph (WNN) or on a 15-NN graph of the embedding, at the resolution
  (bisection) giving the number of clusters closest to k: ARI, NMI, the resolution and count;
- silhouette of the labels on the embedding (euclidean);
- for scMVP, the model's own mixture clusters: ARI, NMI.
``eval_s`` is the scoring time (not part of a method's cost).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

LABEL_COLUMN = "cell_type"


def leiden_near_k(graph, k, seed=0, max_steps=20):
    """Leiden clusters at the resolution whose cluster count is closest to k (bisection)."""
    import anndata as ad
    import scanpy as sc

    a = ad.AnnData(np.zeros((graph.shape[0], 1), dtype=np.float32))
    a.obsp["connectivities"] = sp.csr_matrix(graph)
    a.uns["neighbors"] = {"connectivities_key": "connectivities", "params": {"method": "umap"}}
    lo, hi, best = 0.01, 10.0, None
    for _ in range(max_steps):
        res = np.sqrt(lo * hi)  # bisection on a log scale
        sc.tl.leiden(a, resolution=res, random_state=seed, flavor="igraph", n_iterations=2, directed=False)
        labels = a.obs["leiden"].astype(int).to_numpy()
        n = len(np.unique(labels))
        if best is None or abs(n - k) < abs(best[1] - k):
            best = (res, n, labels)
        if n == k:
            break
        lo, hi = (res, hi) if n < k else (lo, res)
    return best


def knn_graph(z, seed=0, n_neighbors=15):
    import anndata as ad
    import scanpy as sc

    a = ad.AnnData(np.zeros((z.shape[0], 1), dtype=np.float32))
    a.obsm["X"] = np.asarray(z, dtype=np.float32)
    sc.pp.neighbors(a, use_rep="X", n_neighbors=n_neighbors, random_state=seed)
    return a.obsp["connectivities"]


def kmeans_partition(z, k, seed=0):
    """KMeans with k clusters as the bench scores it (the paper's protocol: n_init 10)."""
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=10, random_state=seed).fit_predict(z)


def score(z, labels, graph=None, clusters=None, seed=0) -> dict:
    from sklearn.metrics import adjusted_rand_score as ari
    from sklearn.metrics import normalized_mutual_info_score as nmi
    from sklearn.metrics import silhouette_score

    labels = np.asarray(labels).astype(str)
    k = len(np.unique(labels))
    km = kmeans_partition(z, k, seed)
    res, n, ld = leiden_near_k(knn_graph(z, seed) if graph is None else graph, k, seed)
    out = {
        "n_labels": k, "kmeans_ari": ari(labels, km), "kmeans_nmi": nmi(labels, km),
        "leiden_ari": ari(labels, ld), "leiden_nmi": nmi(labels, ld), "leiden_resolution": res, "leiden_n": int(n),
        "silhouette": float(silhouette_score(z, labels)),
    }
    if clusters is not None:
        out.update(model_cluster_ari=ari(labels, clusters), model_cluster_nmi=nmi(labels, clusters),
                   model_cluster_n=int(len(np.unique(clusters))))
    return {key: float(v) if isinstance(v, (np.floating, float)) else v for key, v in out.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="bench/results")
    p.add_argument("--data-root", nargs="+", default=["../shared/data"],
                   help="folders holding the dataset folders (or dataset folders themselves)")
    p.add_argument("--force", action="store_true", help="rescore runs that already have scores")
    args = p.parse_args(argv)
    labels = {}
    for root in map(Path, args.data_root):
        for d in [root] + sorted(root.iterdir() if root.is_dir() else []):
            if (d / "cells.tsv").exists():
                labels[d.name] = pd.read_csv(d / "cells.tsv", sep="\t")[LABEL_COLUMN].to_numpy()
    for js in sorted(Path(args.results).glob("*/*/seed*.json")):
        rec = json.loads(js.read_text())
        if "scores" in rec and not args.force:
            continue
        if rec["dataset"] not in labels:
            print(f"skip {js}: labels of dataset {rec['dataset']!r} not found under {args.data_root}", file=sys.stderr)
            continue
        arr = np.load(js.with_suffix(".npz"))
        graph = None
        if "graph_data" in arr:
            n = arr["embedding"].shape[0]
            graph = sp.csr_matrix((arr["graph_data"], arr["graph_indices"], arr["graph_indptr"]), shape=(n, n))
        t0 = time.perf_counter()
        rec["scores"] = score(arr["embedding"], labels[rec["dataset"]], graph, arr["clusters"] if "clusters" in arr else None)
        rec["scores"]["eval_s"] = time.perf_counter() - t0
        js.write_text(json.dumps(rec, indent=1, default=str))
        s = rec["scores"]
        print(f"{rec['dataset']} {rec['method']} seed {rec['seed']}: KMeans ARI {s['kmeans_ari']:.3f} NMI {s['kmeans_nmi']:.3f}"
              f" | Leiden ARI {s['leiden_ari']:.3f} NMI {s['leiden_nmi']:.3f} (n={s['leiden_n']}) | silhouette {s['silhouette']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
