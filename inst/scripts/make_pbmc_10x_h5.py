"""Write inst/extdata/pbmc_multiome_500/: a small 10x Multiome filtered_feature_bc_matrix.h5.

The counts are a random sample of 500 cells of the 10x Multiome PBMC data in
../shared/data/pbmc_multiome_2k (2,000 cells, 2,500 genes, 5,000 peaks; see its SOURCE.md), in the
layout Cell Ranger ARC writes: one features x cells CSC matrix in the group ``matrix`` (data,
indices, indptr, shape, barcodes) and ``matrix/features`` (id, name, feature_type "Gene Expression"
or "Peaks", genome, interval). The published cell types go to cell_types.tsv beside it (Cell
Ranger does not store labels). The output is deterministic: rerunning gives the same arrays.

    python inst/scripts/make_pbmc_10x_h5.py [SOURCE_DIR] [OUT_DIR] [N_CELLS]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT.parent / "shared" / "data" / "pbmc_multiome_2k"
OUT = ROOT / "inst" / "extdata" / "pbmc_multiome_500"
GENOME = "GRCh38"


def _strings(values) -> np.ndarray:
    """Fixed-width byte strings, as Cell Ranger stores them."""
    return np.array([str(v).encode() for v in values])


def write_10x_h5(path, rna: sp.spmatrix, atac: sp.spmatrix, barcodes, genes, peaks) -> None:
    """Write cells x genes and cells x peaks counts as a Cell Ranger ARC filtered_feature_bc_matrix.h5.

    Gene ids are the gene names and gene intervals "NA" (the source has neither Ensembl ids nor
    gene coordinates); a peak's id, name and interval are its ``chr:start-end``.
    """
    import h5py

    X = sp.hstack([rna, atac]).T.tocsc().astype(np.int32)  # features x cells
    X.sort_indices()
    peaks = [p.replace("-", ":", 1) if ":" not in p else p for p in peaks]
    with h5py.File(path, "w") as f:
        g = f.create_group("matrix")
        opts = dict(compression="gzip", compression_opts=9, shuffle=True)
        g.create_dataset("data", data=X.data, **opts)
        g.create_dataset("indices", data=X.indices.astype(np.int64), **opts)
        g.create_dataset("indptr", data=X.indptr.astype(np.int64))
        g.create_dataset("shape", data=np.array(X.shape, dtype=np.int32))
        g.create_dataset("barcodes", data=_strings(barcodes), **opts)
        feats = g.create_group("features")
        feats.create_dataset("id", data=_strings(list(genes) + list(peaks)), **opts)
        feats.create_dataset("name", data=_strings(list(genes) + list(peaks)), **opts)
        feats.create_dataset("feature_type", data=_strings(["Gene Expression"] * len(genes) + ["Peaks"] * len(peaks)),
                             **opts)
        feats.create_dataset("genome", data=_strings([GENOME] * (len(genes) + len(peaks))), **opts)
        feats.create_dataset("interval", data=_strings(["NA"] * len(genes) + list(peaks)), **opts)
        feats.create_dataset("_all_tag_keys", data=_strings(["genome", "interval"]))
        f.attrs["filetype"] = "matrix"
        f.attrs["version"] = 2


def main(source=SOURCE, out=OUT, n_cells: int = 500) -> Path:
    source, out = Path(source), Path(out)
    cells = pd.read_csv(source / "cells.tsv", sep="\t")
    genes = [line.split("\t")[0] for line in (source / "genes.tsv").read_text().splitlines() if line]
    peaks = [line.split("\t")[0] for line in (source / "peaks.tsv").read_text().splitlines() if line]
    keep = np.sort(np.random.default_rng(0).choice(len(cells), n_cells, replace=False))
    rna = sp.csr_matrix(scipy.io.mmread(source / "rna.mtx.gz"))[keep]
    atac = sp.csr_matrix(scipy.io.mmread(source / "atac.mtx.gz"))[keep]
    out.mkdir(parents=True, exist_ok=True)
    barcodes = cells["barcode"].values[keep]
    write_10x_h5(out / "filtered_feature_bc_matrix.h5", rna, atac, barcodes, genes, peaks)
    cells.iloc[keep][["barcode", "cell_type"]].to_csv(out / "cell_types.tsv", sep="\t", index=False)
    print(f"wrote {n_cells} cells, {len(genes)} genes, {len(peaks)} peaks to {out}")
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(args[:2]), *([int(args[2])] if len(args) > 2 else []))
