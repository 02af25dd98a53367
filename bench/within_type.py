"""What separates cells of one published type in an embedding (peers' virtualenv; not a test).

    python bench/within_type.py ../shared/data/snare_adult_cortex \\
        bench/results/snare_adult_cortex/scmvp_joint/seed0.npz bench/results/snare_adult_cortex/scmvp_rna/seed0.npz \\
        --type E2Rasgrf2 --clusters

Leiden at ~k clusters cuts a type that is long in one direction into pieces; this script says
what that direction is. For each stored embedding and the chosen type it prints:
- the share of the type's within-type variance on its first three principal axes, and the
  ratio of the distance to the nearest other type's centroid to the type's RMS spread;
- the correlation of those axes with the cells' RNA and ATAC depth (log10 total counts);
- the genes whose log-normalised expression correlates most with the first axis, both signs.
With ``--clusters`` it also lists the model's own clusters (when stored) whose median RNA depth is
at least ``--depth-ratio`` times the median of the rest of their main label (candidate doublets),
with the genes most raised in their cells of that label against its other cells: markers of
another type there point to doublets.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import LABEL_COLUMN  # noqa: E402


def principal_axes(z: np.ndarray, n: int = 3):
    """Variance shares and coordinates of z (cells x dims) on its first n principal axes."""
    zc = z - z.mean(axis=0)
    w, v = np.linalg.eigh(np.cov(zc.T))
    order = np.argsort(w)[::-1]
    return w[order][:n] / w.sum(), zc @ v[:, order[:n]]


def enriched(x, mask: np.ndarray, rest: np.ndarray, genes, n: int) -> str:
    """The n genes most raised (mean log-normalised expression) in mask against rest."""
    diff = np.asarray(x[mask].mean(axis=0)).ravel() - np.asarray(x[rest].mean(axis=0)).ravel()
    return ", ".join(f"{genes[j]} {diff[j]:+.2f}" for j in np.argsort(diff)[::-1][:n])


def correlations(axis: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Pearson correlation of one axis with every column of x (0 for constant columns)."""
    a = (axis - axis.mean()) / (axis.std() or 1.0)
    sd = x.std(axis=0)
    out = ((x - x.mean(axis=0)) * a[:, None]).mean(axis=0) / np.where(sd > 0, sd, 1.0)
    return np.where(sd > 0, out, 0.0)


def main(argv=None) -> int:
    from scmvp.data import log_normalise
    from scmvp.io import read_mtx_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dataset", help="dataset folder (rna.mtx.gz, atac.mtx.gz, genes.tsv, cells.tsv, ...)")
    p.add_argument("npz", nargs="+", help="stored embeddings: <results>/<dataset>/<method>/seed<S>.npz")
    p.add_argument("--type", default=None, help="published type to look inside (default: the largest)")
    p.add_argument("--genes", type=int, default=8, help="genes listed per sign")
    p.add_argument("--min-detected", type=float, default=0.05, help="genes detected in at least this share of the type")
    p.add_argument("--clusters", action="store_true", help="also list high-depth model clusters (candidate doublets)")
    p.add_argument("--depth-ratio", type=float, default=1.5)
    args = p.parse_args(argv)

    data = read_mtx_dir(args.dataset)
    labels = data.cells[LABEL_COLUMN].astype(str).to_numpy()
    kind = args.type or pd.Series(labels).value_counts().index[0]
    if kind not in set(labels):
        p.error(f"type {kind!r} is not in {LABEL_COLUMN}; choose one of {', '.join(sorted(set(labels)))}")
    rna_depth = np.asarray(data.rna.sum(axis=1)).ravel()
    depth = {"RNA depth": np.log10(np.maximum(rna_depth, 1)),
             "ATAC depth": np.log10(np.maximum(np.asarray(data.atac.sum(axis=1)).ravel(), 1))}
    inside = labels == kind
    normalised = log_normalise(data.rna)
    expr = normalised[inside].toarray()
    detected = (expr > 0).mean(axis=0) >= args.min_detected
    genes = np.asarray(data.genes)[detected]
    expr = expr[:, detected]

    for f in map(Path, args.npz):
        arr = np.load(f)
        z = arr["embedding"]
        shares, coords = principal_axes(z[inside])
        rms = float(np.sqrt(((z[inside] - z[inside].mean(axis=0)) ** 2).sum(axis=1).mean()))
        centroids = [z[labels == t].mean(axis=0) for t in np.unique(labels) if t != kind and (labels == t).sum() >= 50]
        nearest = min(float(np.linalg.norm(c - z[inside].mean(axis=0))) for c in centroids)
        print(f"## {f.parent.name} {f.stem}: {kind} ({inside.sum()} cells)")
        print(f"variance on axes 1-3: {', '.join(f'{s:.2f}' for s in shares)}; "
              f"nearest other centroid / RMS spread: {nearest / rms:.2f}")
        for name, d in depth.items():
            print(f"correlation with {name}: " + ", ".join(f"{np.corrcoef(coords[:, i], d[inside])[0, 1]:+.2f}" for i in range(coords.shape[1])))
        r = correlations(coords[:, 0], expr)
        order = np.argsort(r)
        print("axis 1, negative: " + ", ".join(f"{genes[j]} {r[j]:+.2f}" for j in order[: args.genes]))
        print("axis 1, positive: " + ", ".join(f"{genes[j]} {r[j]:+.2f}" for j in order[::-1][: args.genes]))
        if args.clusters and "clusters" in arr:
            cl = arr["clusters"]
            rows = []
            for c in np.unique(cl):
                m = cl == c
                main = pd.Series(labels[m]).value_counts()
                lab = main.index[0]
                rest = (labels == lab) & ~m
                if rest.sum() < 20:
                    continue
                ratio = np.median(rna_depth[m]) / np.median(rna_depth[rest])
                if ratio >= args.depth_ratio:
                    rows.append(f"cluster {c}: {m.sum()} cells, {main.iloc[0] / m.sum():.0%} {lab} "
                                f"({', '.join(f'{k}:{v}' for k, v in main.head(4).items())}); median RNA depth "
                                f"{ratio:.2f}x the rest of {lab}; raised against them: "
                                + enriched(normalised, m & (labels == lab), rest, data.genes, args.genes))
            print("\n".join(rows) if rows else f"no model cluster with RNA depth >= {args.depth_ratio}x the rest of its label")
    return 0


if __name__ == "__main__":
    sys.exit(main())
