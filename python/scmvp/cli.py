"""The ``scmvp`` command line.

    scmvp fit DATA -o OUT_DIR [--epochs N] [--n-clusters K] [--label-column cell_type] ...
    scmvp demo -o OUT_DIR          # fit on the bundled SNARE-seq adult cortex data

DATA is a folder in the layout of ``inst/extdata/snare_adult_cortex`` or a 10x Multiome
``filtered_feature_bc_matrix.h5``. OUT_DIR receives embedding.tsv, clusters.tsv,
history.tsv, model.pt, loss.png, umap.png and, when labels exist, metrics.json (ARI/NMI).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["main", "clustering_scores"]


def clustering_scores(z: np.ndarray, labels, clusters, seed: int = 0) -> dict:
    """KMeans (k = number of labels, the paper's protocol) and model-cluster ARI/NMI."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels = np.asarray(labels).astype(str)
    k = len(set(labels))
    km = KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    return {
        "n_labels": k,
        "kmeans_ari": float(adjusted_rand_score(labels, km)),
        "kmeans_nmi": float(normalized_mutual_info_score(labels, km)),
        "cluster_ari": float(adjusted_rand_score(labels, clusters)),
        "cluster_nmi": float(normalized_mutual_info_score(labels, clusters)),
    }


def _read(path: Path):
    from .io import read_10x_h5, read_mtx_dir

    return read_10x_h5(path) if path.suffix == ".h5" else read_mtx_dir(path)


def _fit(args) -> int:
    from .model import ScMVP
    from .plots import plot_loss, plot_umap, umap_coordinates

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    data = _read(Path(args.data))
    print(f"scMVP: {data.rna.shape[0]} cells, {data.rna.shape[1]} genes, {data.atac.shape[1]} peaks from {args.data}")
    model = ScMVP(n_latent=args.n_latent, n_clusters=args.n_clusters, modality=args.modality, seed=args.seed,
                  device=args.device, progress_bar=not args.quiet, verbose=not args.quiet)
    t0 = time.time()
    batch = data.cells[args.batch_column].astype(str).values if args.batch_column else None
    model.fit(data.rna, data.atac, batch=batch, rna_features=data.genes, atac_features=data.peaks,
              max_epochs=args.epochs)
    fit_s = time.time() - t0
    z, probs = model.embedding(), model.cluster_probabilities()
    clusters = probs.argmax(1)
    barcodes = data.cells["barcode"].astype(str).values if "barcode" in data.cells else np.arange(len(z)).astype(str)
    pd.DataFrame(z, index=barcodes, columns=[f"SCMVP_{i + 1}" for i in range(z.shape[1])]).to_csv(
        out / "embedding.tsv", sep="\t", index_label="barcode")
    pd.DataFrame({"barcode": barcodes, "cluster": clusters, "probability": probs.max(1)}).to_csv(
        out / "clusters.tsv", sep="\t", index=False)
    pd.DataFrame(model.history_).to_csv(out / "history.tsv", sep="\t", index=False)
    model.save(out / "model.pt")
    plot_loss(model.history_, out / "loss.png")
    colourings = {"scMVP clusters": clusters}
    metrics = {"fit_seconds": round(fit_s, 1), "epochs": len(model.history_["loss"]), "n_clusters": model.n_clusters_}
    if args.label_column and args.label_column in data.cells:
        labels = data.cells[args.label_column].astype(str).values
        colourings[f"published labels ({args.label_column})"] = labels
        metrics.update(clustering_scores(z, labels, clusters, args.seed))
        print(f"scMVP: KMeans (k={metrics['n_labels']}) ARI {metrics['kmeans_ari']:.3f}  NMI {metrics['kmeans_nmi']:.3f}; "
              f"mixture clusters ARI {metrics['cluster_ari']:.3f}  NMI {metrics['cluster_nmi']:.3f}")
    plot_umap(umap_coordinates(z, args.seed), colourings, out / "umap.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"scMVP: fitted in {fit_s:.0f} s ({metrics['epochs']} epochs); wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scmvp", description="scMVP for paired single-cell RNA + ATAC data.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("fit", "demo"):
        p = sub.add_parser(name, help="fit a model and write results" if name == "fit" else "fit on the bundled SNARE-seq data")
        if name == "fit":
            p.add_argument("data", help="dataset folder (rna.mtx.gz, atac.mtx.gz, ...) or 10x Multiome .h5")
        p.add_argument("-o", "--output", required=True, help="output folder")
        p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: scaled with cells)")
        p.add_argument("--n-clusters", type=int, default=None, help="mixture components K (default: estimated)")
        p.add_argument("--n-latent", type=int, default=10)
        p.add_argument("--modality", choices=["joint", "rna", "atac"], default="joint")
        p.add_argument("--label-column", default="cell_type", help="cells.tsv column scored with ARI/NMI")
        p.add_argument("--batch-column", default=None, help="cells.tsv column with sample/batch labels")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", default="auto")
        p.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from .data import ScMVPInputError

    if args.command == "demo":
        from .io import example_dir

        args.data = str(example_dir())
    try:
        return _fit(args)
    except (ScMVPInputError, FileNotFoundError) as err:
        print(f"scmvp: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
