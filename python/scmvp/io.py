"""Readers and AnnData/MuData helpers.

* :func:`read_mtx_dir` reads the Matrix Market layout of ``inst/extdata/*`` (rna.mtx.gz,
  atac.mtx.gz, genes.tsv, peaks.tsv, cells.tsv); :func:`load_example` the bundled SNARE-seq data.
* :func:`read_10x_h5` reads a 10x Multiome ``filtered_feature_bc_matrix.h5``.
* :func:`fit_anndata` / :func:`fit_mudata` fit on AnnData objects and write
  ``.obsm["X_scmvp"]`` and ``.obs["scmvp_cluster"]``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from .data import ScMVPInputError

__all__ = ["PairedData", "read_mtx_dir", "example_dir", "example_10x_h5", "load_example", "read_10x_h5", "fit_anndata",
           "fit_mudata"]

EXAMPLE = "snare_adult_cortex"
EXAMPLE_10X_H5 = "pbmc_multiome_500/filtered_feature_bc_matrix.h5"


@dataclass
class PairedData:
    """Paired counts: cells x genes and cells x peaks CSR matrices, names and cell metadata."""

    rna: sp.csr_matrix
    atac: sp.csr_matrix
    genes: List[str]
    peaks: List[str]
    cells: pd.DataFrame  # one row per cell; column "barcode" plus any labels

    def subset(self, idx) -> "PairedData":
        return PairedData(self.rna[idx], self.atac[idx], self.genes, self.peaks, self.cells.iloc[idx].reset_index(drop=True))


def _read_lines(path: Path) -> List[str]:
    with open(path) as fh:
        return [line.rstrip("\n").split("\t")[0] for line in fh if line.strip()]


def read_mtx_dir(path) -> PairedData:
    """Read a dataset folder in the layout of ``inst/extdata/snare_adult_cortex``."""
    path = Path(path)
    need = ["rna.mtx.gz", "atac.mtx.gz", "genes.tsv", "peaks.tsv", "cells.tsv"]
    missing = [f for f in need if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(
            f"{path} is not a paired dataset folder: missing {', '.join(missing)}. Expected files: {', '.join(need)}."
        )
    rna = sp.csr_matrix(scipy.io.mmread(path / "rna.mtx.gz"), dtype=np.float32)
    atac = sp.csr_matrix(scipy.io.mmread(path / "atac.mtx.gz"), dtype=np.float32)
    genes, peaks = _read_lines(path / "genes.tsv"), _read_lines(path / "peaks.tsv")
    cells = pd.read_csv(path / "cells.tsv", sep="\t")
    if rna.shape != (len(cells), len(genes)) or atac.shape != (len(cells), len(peaks)):
        raise ScMVPInputError(
            f"{path}: shapes disagree: rna {rna.shape}, atac {atac.shape}, {len(cells)} cells, "
            f"{len(genes)} genes, {len(peaks)} peaks. Matrices must be cells x features."
        )
    return PairedData(rna, atac, genes, peaks, cells)


def _bundled(relative: str, override: Optional[str] = None) -> Path:
    """A file or folder of the bundled data (inst/extdata), or ``override`` when given."""
    here = Path(__file__).resolve().parent
    candidates = [Path(override)] if override else []
    candidates += [here.parents[1] / "inst" / "extdata" / relative, here / "extdata" / relative]
    for c in candidates:
        if c.exists():
            return c
    raise FileNotFoundError(
        "The bundled example data were not found (looked in: " + ", ".join(map(str, candidates)) + "). "
        "Install scmvp from the repository (pip install -e .)"
        + (" or set SCMVP_EXAMPLE_DIR." if relative == EXAMPLE else ".")
    )


def example_dir() -> Path:
    """Folder of the bundled SNARE-seq adult cortex data (env ``SCMVP_EXAMPLE_DIR`` overrides)."""
    return _bundled(EXAMPLE, os.environ.get("SCMVP_EXAMPLE_DIR"))


def example_10x_h5() -> Path:
    """A small bundled 10x Multiome ``filtered_feature_bc_matrix.h5``: 500 human PBMCs (2,500
    genes, 5,000 peaks; ``inst/extdata/pbmc_multiome_500``, made by
    ``inst/scripts/make_pbmc_10x_h5.py``). Their published cell types are in ``cell_types.tsv``
    beside it."""
    return _bundled(EXAMPLE_10X_H5)


#: Environment variable: a cell count that :func:`load_example` (and R's ``ReadSCMVPExample()``)
#: sample when not given one, so that the README's examples run in seconds (tests/python/test_readme.py).
EXAMPLE_CELLS_ENV = "SCMVP_EXAMPLE_CELLS"


def load_example(n_cells: Optional[int] = None, seed: int = 0):
    """The bundled SNARE-seq adult mouse cortex data: ``(rna, atac, cells, genes, peaks)``.

    ``n_cells`` draws a random subset of cells (stratification-free) for quick examples; when it
    is not given, the environment variable ``SCMVP_EXAMPLE_CELLS`` (if set) gives it.

    >>> rna, atac, cells, genes, peaks = load_example(n_cells=100)
    >>> rna.shape[0], atac.shape[0], len(cells)
    (100, 100, 100)
    """
    if n_cells is None and os.environ.get(EXAMPLE_CELLS_ENV):
        value = os.environ[EXAMPLE_CELLS_ENV]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{EXAMPLE_CELLS_ENV}={value!r} is not a positive cell count; set it to e.g. 300, "
                             "or unset it to load every cell.")
        n_cells = int(value)
    d = read_mtx_dir(example_dir())
    if n_cells is not None and n_cells < d.rna.shape[0]:
        idx = np.sort(np.random.default_rng(seed).choice(d.rna.shape[0], n_cells, replace=False))
        d = d.subset(idx)
    return d.rna, d.atac, d.cells, d.genes, d.peaks


def read_10x_h5(path) -> PairedData:
    """Read a 10x Multiome ``filtered_feature_bc_matrix.h5`` (Cell Ranger ARC: Gene Expression
    and Peaks features in one matrix) as cells x genes and cells x peaks CSR counts.

    Returns a :class:`PairedData`: ``rna``, ``atac``, ``genes`` and ``peaks`` (the feature
    names; peaks ``chr:start-end``) and ``cells`` (column ``barcode``).

    >>> d = read_10x_h5(example_10x_h5())
    >>> d.rna.shape, d.atac.shape, d.peaks[0]
    ((500, 2500), (500, 5000), 'chr1:633793-634264')
    """
    import h5py

    with h5py.File(path, "r") as f:
        if "matrix" not in f:
            raise ScMVPInputError(f"{path}: no 'matrix' group; is this a Cell Ranger ARC filtered_feature_bc_matrix.h5?")
        g = f["matrix"]
        shape = tuple(int(s) for s in g["shape"][:])  # features x cells
        X = sp.csc_matrix((g["data"][:].astype(np.float32), g["indices"][:], g["indptr"][:]), shape=shape)
        barcodes = [b.decode() for b in g["barcodes"][:]]
        names = np.array([b.decode() for b in g["features"]["name"][:]])
        ftype = np.array([b.decode() for b in g["features"]["feature_type"][:]])
    X = X.T.tocsr()  # cells x features
    gene_cols, peak_cols = np.flatnonzero(ftype == "Gene Expression"), np.flatnonzero(ftype == "Peaks")
    if not len(gene_cols) or not len(peak_cols):
        raise ScMVPInputError(f"{path}: needs both 'Gene Expression' and 'Peaks' features; found {sorted(set(ftype))}.")
    return PairedData(
        rna=X[:, gene_cols].tocsr(), atac=X[:, peak_cols].tocsr(), genes=list(names[gene_cols]),
        peaks=list(names[peak_cols]), cells=pd.DataFrame({"barcode": barcodes}),
    )


def _counts(adata, layer: Optional[str]):
    if layer is None:
        return adata.X
    if layer not in adata.layers:
        raise ScMVPInputError(f"layer {layer!r} not found; available layers: {list(adata.layers.keys())}.")
    return adata.layers[layer]


def _variable(adata):
    """``adata`` restricted to ``var["highly_variable"]`` when that column is set (as scanpy's
    and muon's feature selection leave it; R's ``RunSCMVP`` reads ``VariableFeatures()`` alike)."""
    if "highly_variable" not in adata.var or not adata.var["highly_variable"].astype(bool).any():
        return adata
    return adata[:, adata.var["highly_variable"].astype(bool).values]


def fit_anndata(rna, atac, model=None, layer: Optional[str] = None, batch_key: Optional[str] = None, **fit_kwargs):
    """Fit on two AnnData objects (same cells) and write the results into both.

    Trains on the features flagged in ``.var["highly_variable"]`` when that column is set (e.g.
    by ``scanpy.pp.highly_variable_genes(flavor="seurat_v3")``), else on all of them; the
    model's ``n_top_genes`` and ``max_peaks`` settings then apply (:mod:`scmvp.features`).
    Adds ``.obsm["X_scmvp"]``, ``.obs["scmvp_cluster"]`` (categorical) and
    ``.obs["scmvp_cluster_prob"]``. Returns the trained :class:`scmvp.ScMVP`.
    """
    from .model import ScMVP
    from .data import check_pair

    check_pair(rna.X, atac.X, list(rna.obs_names), list(atac.obs_names))
    model = model or ScMVP()
    batch = None if batch_key is None else rna.obs[batch_key].astype(str).values
    rna_use, atac_use = _variable(rna), _variable(atac)
    model.fit(_counts(rna_use, layer), _counts(atac_use, layer), batch=batch, rna_features=list(rna_use.var_names),
              atac_features=list(atac_use.var_names), **fit_kwargs)
    z, probs = model.embedding(), model.cluster_probabilities()
    for ad in (rna, atac):
        ad.obsm["X_scmvp"] = z
        ad.obs["scmvp_cluster"] = pd.Categorical(probs.argmax(1).astype(str))
        ad.obs["scmvp_cluster_prob"] = probs.max(1)
    return model


def fit_mudata(mdata, model=None, rna_key: str = "rna", atac_key: str = "atac", layer: Optional[str] = None,
               batch_key: Optional[str] = None, **fit_kwargs):
    """Fit on a MuData with modalities ``rna_key`` and ``atac_key``; results go to the MuData
    (``.obsm["X_scmvp"]``, ``.obs["scmvp_cluster"]``) and to both modalities."""
    for k in (rna_key, atac_key):
        if k not in mdata.mod:
            raise ScMVPInputError(f"MuData has no modality {k!r}; it has {list(mdata.mod.keys())}.")
    model = fit_anndata(mdata[rna_key], mdata[atac_key], model, layer, batch_key, **fit_kwargs)
    mdata.obsm["X_scmvp"] = mdata[rna_key].obsm["X_scmvp"]
    mdata.obs["scmvp_cluster"] = mdata[rna_key].obs["scmvp_cluster"].values
    return model
