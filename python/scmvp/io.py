"""Readers and AnnData/MuData helpers.

* :func:`read_mtx_dir` reads the Matrix Market layout of ``inst/extdata/*`` (rna.mtx.gz,
  atac.mtx.gz, genes.tsv, peaks.tsv, cells.tsv), :func:`write_mtx_dir` writes it;
  :func:`load_example` reads the bundled SNARE-seq data.
* :func:`read_10x_h5` reads a 10x Multiome ``filtered_feature_bc_matrix.h5``, :func:`read_h5mu` a
  MuData file; both can leave the counts in the file (``backed=True``, :mod:`scmvp.backed`), so
  that a fit streams them. :func:`read_paired` picks the reader from the path.
* :func:`fit_anndata` / :func:`fit_mudata` fit on AnnData objects and write
  ``.obsm["X_scmvp"]`` and ``.obs["scmvp_cluster"]``.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pandas as pd
import scipy.io
import scipy.sparse as sp

from .data import ScMVPInputError, _check_values

__all__ = ["PairedData", "read_mtx_dir", "write_mtx_dir", "example_dir", "example_10x_h5", "load_example",
           "read_10x_h5", "read_h5mu", "write_h5mu", "read_paired", "fit_anndata", "fit_mudata"]

EXAMPLE = "snare_adult_cortex"
EXAMPLE_10X_H5 = "pbmc_multiome_500/filtered_feature_bc_matrix.h5"


@dataclass
class PairedData:
    """Paired counts: cells x genes and cells x peaks matrices (CSR, or
    :class:`scmvp.backed.BackedMatrix` when read with ``backed=True``), names and cell metadata."""

    rna: object
    atac: object
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


def write_mtx_dir(path, data: PairedData) -> Path:
    """Write paired counts to a folder in the layout :func:`read_mtx_dir` reads (integer Matrix
    Market, gzip-compressed; one name per line; ``cells`` as a tab-separated table).

    >>> import tempfile
    >>> d = PairedData(sp.csr_matrix(np.eye(2)), sp.csr_matrix(np.ones((2, 3))), ["g0", "g1"],
    ...                ["chr1:0-1", "chr1:5-6", "chr2:0-1"], pd.DataFrame({"barcode": ["a", "b"]}))
    >>> back = read_mtx_dir(write_mtx_dir(Path(tempfile.mkdtemp()) / "d", d))
    >>> back.rna.shape, back.peaks[2], list(back.cells["barcode"])
    ((2, 2), 'chr2:0-1', ['a', 'b'])
    """
    import gzip

    path = Path(path)
    counts = {name: sp.csr_matrix(m) for name, m in (("rna", data.rna), ("atac", data.atac))}
    for name, m in counts.items():  # raw counts only: an integer file would truncate anything else
        _check_values(m.data, name)
    path.mkdir(parents=True, exist_ok=True)
    for name, m in counts.items():
        with gzip.open(path / f"{name}.mtx.gz", "wb") as fh:
            scipy.io.mmwrite(fh, m.astype(np.int32), field="integer")
    for name, names in (("genes", data.genes), ("peaks", data.peaks)):
        (path / f"{name}.tsv").write_text("".join(f"{n}\n" for n in names))
    data.cells.to_csv(path / "cells.tsv", sep="\t", index=False)
    return path


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


def read_10x_h5(path, backed: bool = False) -> PairedData:
    """Read a 10x Multiome ``filtered_feature_bc_matrix.h5`` (Cell Ranger ARC: Gene Expression
    and Peaks features in one matrix) as cells x genes and cells x peaks counts.

    Returns a :class:`PairedData`: ``rna``, ``atac`` (CSR; with ``backed=True``
    :class:`scmvp.backed.BackedMatrix` views that read the file when used), ``genes`` and
    ``peaks`` (the feature names; peaks ``chr:start-end``) and ``cells`` (column ``barcode``).

    >>> d = read_10x_h5(example_10x_h5())
    >>> d.rna.shape, d.atac.shape, d.peaks[0]
    ((500, 2500), (500, 5000), 'chr1:633793-634264')
    """
    import h5py

    from .backed import BackedMatrix

    with h5py.File(path, "r") as f:
        if "matrix" not in f:
            raise ScMVPInputError(f"{path}: no 'matrix' group; is this a Cell Ranger ARC filtered_feature_bc_matrix.h5?")
        g = f["matrix"]
        barcodes = [b.decode() for b in g["barcodes"][:]]
        names = np.array([b.decode() for b in g["features"]["name"][:]])
        ftype = np.array([b.decode() for b in g["features"]["feature_type"][:]])
    gene_cols, peak_cols = np.flatnonzero(ftype == "Gene Expression"), np.flatnonzero(ftype == "Peaks")
    if not len(gene_cols) or not len(peak_cols):
        raise ScMVPInputError(f"{path}: needs both 'Gene Expression' and 'Peaks' features; found {sorted(set(ftype))}.")
    # the features x cells CSC matrix holds each cell's counts together: it is read as cells x features CSR
    X = BackedMatrix(path, "matrix", layout="10x")
    rna, atac = X.select(gene_cols), X.select(peak_cols)
    if not backed:
        rna, atac = rna[:], atac[:]
    return PairedData(rna=rna, atac=atac, genes=list(names[gene_cols]), peaks=list(names[peak_cols]),
                      cells=pd.DataFrame({"barcode": barcodes}))


def read_h5mu(path, rna_key: str = "rna", atac_key: str = "atac", backed: bool = True) -> PairedData:
    """Read the RNA and ATAC modalities of a MuData ``.h5mu`` file (``X`` holds raw counts, stored
    as CSR) as a :class:`PairedData`; by default the counts stay in the file (``backed=True``)
    and a fit streams them. ``cells`` is the file's ``obs`` (its index as column ``barcode``).
    Needs anndata."""
    import h5py

    from .backed import BackedMatrix

    with h5py.File(path, "r") as f:
        mods = list(f["mod"].keys()) if "mod" in f else []
    missing = [m for m in (rna_key, atac_key) if m not in mods]
    if missing:
        raise ScMVPInputError(f"{path}: a MuData file with modalities {rna_key!r} and {atac_key!r} is needed; "
                              f"it has {mods}. Pass rna_key= / atac_key= to name them.")
    obs, var_r = _read_elems(path, "", ("obs",))[0], _read_elems(path, f"mod/{rna_key}", ("var",))[0]
    var_a = _read_elems(path, f"mod/{atac_key}", ("var",))[0]
    rna, atac = BackedMatrix(path, f"mod/{rna_key}/X"), BackedMatrix(path, f"mod/{atac_key}/X")
    if not backed:
        rna, atac = rna[:], atac[:]
    cells = obs.reset_index(names="barcode") if "barcode" not in obs else obs.reset_index(drop=True)
    cells["barcode"] = cells["barcode"].astype(str)
    return PairedData(rna=rna, atac=atac, genes=list(var_r.index.astype(str)), peaks=list(var_a.index.astype(str)),
                      cells=cells)


def _read_elems(path, group: str, names):
    """Tables (``obs``, ``var``) of an AnnData stored at ``group`` of an HDF5 file, via anndata."""
    import h5py

    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem
    with h5py.File(path, "r") as f:
        g = f[group] if group else f
        return [read_elem(g[n]) for n in names]


def write_h5mu(path, blocks, genes: List[str], peaks: List[str], barcodes: List[str],
               obs: Optional[pd.DataFrame] = None) -> Path:
    """Write paired counts to a MuData ``.h5mu`` file (modalities ``rna`` and ``atac``, counts in
    ``X`` as CSR) block by block, so data larger than memory can be written.

    ``blocks`` yields ``(rna, atac)`` cells x features CSR row blocks in cell order, covering
    ``len(barcodes)`` cells; ``obs`` (optional) holds per-cell columns. mudata writes the
    metadata and an empty matrix of the full shape, then the counts are appended to resizable
    datasets. Needs anndata and mudata. Read back with :func:`read_h5mu` or ``mudata.read_h5mu``.
    """
    import anndata
    import h5py
    import mudata

    path, n = Path(path), len(barcodes)
    index = pd.Index([str(b) for b in barcodes], name="barcode")
    obs = pd.DataFrame(index=index) if obs is None else obs.set_axis(index, axis=0)
    mods = {}
    for key, names in (("rna", genes), ("atac", peaks)):
        empty = sp.csr_matrix((n, len(names)), dtype=np.float32)
        mods[key] = anndata.AnnData(empty, obs=pd.DataFrame(index=index), var=pd.DataFrame(index=[str(f) for f in names]))
    with warnings.catch_warnings():  # mudata's notes on how it will merge columns in future versions
        warnings.simplefilter("ignore", FutureWarning)
        mdata = mudata.MuData(mods)
        if len(obs.columns):
            mdata.obs = mdata.obs.join(obs)
        mdata.write(path)
    with h5py.File(path, "r+") as f:
        groups = {key: f[f"mod/{key}/X"] for key in ("rna", "atac")}
        for g in groups.values():
            for name, dtype in (("data", np.float32), ("indices", np.int32)):
                del g[name]
                g.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(1 << 18,))
            g["indptr"][0] = 0
        rows = 0
        for block in blocks:
            m = block[0].shape[0]
            if rows + m > n or block[1].shape[0] != m:
                raise ScMVPInputError("write_h5mu: the blocks hold more cells than barcodes, or RNA and ATAC blocks differ.")
            for g, X in zip(groups.values(), block):
                X = sp.csr_matrix(X)
                start = g["data"].shape[0]
                for name, values in (("data", X.data.astype(np.float32)), ("indices", X.indices.astype(np.int32))):
                    g[name].resize((start + X.nnz,))
                    g[name][start:] = values
                g["indptr"][rows + 1:rows + m + 1] = start + X.indptr[1:].astype(np.int64)
            rows += m
        if rows != n:
            raise ScMVPInputError(f"write_h5mu: the blocks held {rows} cells for {n} barcodes.")
    return path


def read_paired(path, backed: bool = False) -> PairedData:
    """Read paired counts from a dataset folder (:func:`read_mtx_dir`), a 10x Multiome ``.h5``
    (:func:`read_10x_h5`) or a MuData ``.h5mu`` (:func:`read_h5mu`); with ``backed=True`` the
    counts of the HDF5 files stay on disk and are streamed."""
    path = Path(path)
    if path.suffix == ".h5":
        return read_10x_h5(path, backed=backed)
    if path.suffix == ".h5mu":
        return read_h5mu(path, backed=backed)
    if path.is_dir():
        return read_mtx_dir(path)
    raise ScMVPInputError(f"{path}: expected a dataset folder (rna.mtx.gz, ...), a 10x Multiome .h5 or a MuData .h5mu "
                          "file." + ("" if path.exists() else " The path does not exist."))


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
