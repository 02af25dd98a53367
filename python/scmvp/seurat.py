"""Seurat objects (``.rds``) from Python, through rpy2 (optional: ``pip install rpy2``; R with
the SeuratObject package, e.g. Debian's ``r-cran-seuratobject``, and this project's R package
scMVP, which does every read and write of the object).

* :func:`read_seurat` reads the RNA and ATAC counts and the meta.data of a Seurat object into
  :class:`scmvp.io.PairedData` (cells x features CSR, as the model takes them);
  :func:`read_seurat_mudata` into a MuData (modalities ``rna`` and ``atac``, needs mudata).
* :func:`write_seurat` writes an embedding, clusters and (optionally) the trained model back
  into the object with the R package's own writer, the one ``RunSCMVP()`` uses (a global
  DimReduc ``scmvp`` whose ``misc`` holds the model bytes, its settings and features, and a
  meta.data cluster column), so the R functions ``ProjectSCMVP()``, ``ImputeSCMVP()`` and
  ``SaveSCMVPModel()`` work on the result.

Both work with SeuratObject 4 (v3 ``Assay``, Signac's ``ChromatinAssay``) and 5 (``Assay5``).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import ScMVPInputError
from .io import PairedData

__all__ = ["read_seurat", "read_seurat_mudata", "write_seurat"]

# Every access to a Seurat object goes through the R package scMVP (R/assays.R), so this module
# and R's RunSCMVP()/ProjectSCMVP() read layers and write the scMVP reduction the same way: its
# layer reader (.layer_dgc, SeuratObject 4 and 5) and the one writer of the reduction's layout
# (.scmvp_write). Python only calls R functions and converts plain vectors.
_R_FUNCS: dict = {}


def _r_function(name: str):
    """An R function: ``scMVP:::<name>`` (the R package's internals) or a base R function."""
    if name not in _R_FUNCS:
        try:
            import rpy2.robjects as ro
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "scmvp.seurat needs rpy2 (pip install rpy2) and R with the SeuratObject package and the scMVP R "
                "package (Debian: apt-get install r-base-dev r-cran-seuratobject; then R CMD INSTALL <scMVP repository>)."
            ) from err
        if name.startswith("."):
            if not bool(ro.r('isTRUE(requireNamespace("scMVP", quietly = TRUE))')[0]):
                raise ImportError(
                    "scmvp.seurat reads and writes Seurat objects through the R package scMVP, which this R does not "
                    "have; install it (R CMD INSTALL <scMVP repository>, or scripts/setup.sh)."
                )
            _R_FUNCS[name] = ro.r(f"scMVP:::{name}")
        else:
            _R_FUNCS[name] = ro.r[name]
    return _R_FUNCS[name]


def _call(name: str, *args, **kwargs):
    from rpy2.rinterface_lib.embedded import RRuntimeError

    try:
        return _r_function(name)(*args, **kwargs)
    except RRuntimeError as err:
        msg = " ".join(str(err).split())
        for prefix in ("Error in (function", "Error:"):
            if msg.startswith(prefix):
                msg = msg[len(prefix):].strip()
        raise ScMVPInputError(f"Seurat object: {msg}") from None


def _read_object(path):
    """The Seurat object in the .rds file ``path``."""
    obj = _call("readRDS", str(path))
    if not bool(_call("inherits", obj, "Seurat")[0]):
        raise ScMVPInputError(f"Seurat object: {path} holds a {_call('class', obj)[0]}, not a Seurat object.")
    return obj


def _np(vec, dtype) -> np.ndarray:
    # a copy: np.asarray would view R's memory, which R frees once the result is collected
    return np.array(vec, dtype=dtype, copy=True)


def _strs(vec) -> list:
    return [str(v) for v in vec]


def _csr_cells_by_features(m) -> tuple:
    """An R dgCMatrix (features x cells) -> cells x features CSR float32 and the feature names."""
    i, p, x = _np(m.do_slot("i"), np.int32), _np(m.do_slot("p"), np.int64), _np(m.do_slot("x"), np.float32)
    n_features, n_cells = (int(v) for v in m.do_slot("Dim"))
    csc = sp.csc_matrix((x, i, p), shape=(n_features, n_cells))  # features x cells, as R stores it
    return csc.T.tocsr(), _strs(_call("rownames", m))


def read_seurat(path, rna_assay: str = "RNA", atac_assay: str = "ATAC", layer: str = "counts") -> PairedData:
    """Read RNA and ATAC counts and meta.data from a Seurat ``.rds`` (cells in the object's order).

    Peak names stay as Seurat/Signac write them (``chr-start-end``). ``cells`` holds the
    meta.data with a ``barcode`` column first.
    """
    obj = _read_object(path)
    rna, genes = _csr_cells_by_features(_call(".layer_dgc", obj, rna_assay, layer, "rna_assay"))
    atac, peaks = _csr_cells_by_features(_call(".layer_dgc", obj, atac_assay, layer, "atac_assay"))
    cells = _strs(_call("colnames", obj))
    meta = _meta_frame(obj.do_slot("meta.data"), cells)
    meta.insert(0, "barcode", cells)
    return PairedData(rna=rna, atac=atac, genes=genes, peaks=peaks, cells=meta.reset_index(drop=True))


def _meta_frame(md, cells: Sequence[str]) -> pd.DataFrame:
    import rpy2.robjects as ro

    cols = {}
    for name, col in zip(md.names, md):
        if isinstance(col, ro.vectors.FactorVector):
            col = _call("as.character", col)
        if isinstance(col, ro.vectors.StrVector):
            vals = [None if v is ro.NA_Character else str(v) for v in col]
        elif isinstance(col, ro.vectors.BoolVector):
            vals = [None if v is ro.NA_Logical else bool(v) for v in col]
        elif isinstance(col, ro.vectors.IntVector):
            vals = pd.array([None if v == ro.NA_Integer else int(v) for v in col], dtype="Int64")
        else:
            vals = np.asarray(col, dtype=np.float64)
        cols[str(name)] = vals
    return pd.DataFrame(cols, index=list(cells))


def read_seurat_mudata(path, rna_assay: str = "RNA", atac_assay: str = "ATAC", layer: str = "counts"):
    """As :func:`read_seurat`, as a MuData with modalities ``rna`` and ``atac`` (raw counts in X)
    and the meta.data as ``.obs``; use with :func:`scmvp.io.fit_mudata`."""
    import anndata as ad
    import mudata as md

    d = read_seurat(path, rna_assay, atac_assay, layer)
    obs = d.cells.set_index("barcode")
    obs.index = obs.index.astype(str)
    rna = ad.AnnData(X=d.rna, obs=obs.copy(), var=pd.DataFrame(index=d.genes))
    atac = ad.AnnData(X=d.atac, obs=obs.copy(), var=pd.DataFrame(index=d.peaks))
    try:
        with md.set_options(pull_on_update=False):
            mdata = md.MuData({"rna": rna, "atac": atac})
    except (AttributeError, TypeError, ValueError):  # mudata without the pull_on_update option
        mdata = md.MuData({"rna": rna, "atac": atac})
    for col in obs.columns:
        if col not in mdata.obs.columns:
            mdata.obs[col] = obs.loc[mdata.obs_names, col].values
    return mdata


def _r_value(v):
    """A Python setting value as an R vector (None -> NULL; lists of strings -> character)."""
    import rpy2.robjects as ro

    if v is None:
        return ro.NULL
    if isinstance(v, (bool, np.bool_)):
        return ro.BoolVector([bool(v)])
    if isinstance(v, (int, np.integer)):
        return ro.IntVector([int(v)])
    if isinstance(v, (float, np.floating)):
        return ro.FloatVector([float(v)])
    if isinstance(v, str):
        return ro.StrVector([v])
    if isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
        return ro.StrVector(list(v))
    if isinstance(v, dict):
        return ro.vectors.ListVector({str(k): _r_value(x) for k, x in v.items()})
    if isinstance(v, (list, tuple)):
        return ro.vectors.ListVector({str(i + 1): _r_value(x) for i, x in enumerate(v)})
    return ro.StrVector([str(v)])


def write_seurat(path, out, embedding: np.ndarray, cells: Sequence[str], clusters: Optional[Sequence] = None,
                 probability: Optional[Sequence[float]] = None, model=None, reduction_name: str = "scmvp",
                 reduction_key: str = "SCMVP_", cluster_name: str = "scmvp_clusters", assay: str = "RNA",
                 atac_assay: str = "ATAC") -> str:
    """Add scMVP results to the Seurat object in ``path`` and save it to ``out``.

    ``embedding`` is cells x d for ``cells`` (any order; rows are matched by name).
    ``clusters`` (one label per cell, e.g. 1-based integers) go to meta.data ``cluster_name``
    and ``probability`` to ``<cluster_name>_probability``. With ``model`` (a trained
    :class:`scmvp.ScMVP`), the model bytes, its settings and features are stored in the DimReduc's
    ``misc``, so R's ``ProjectSCMVP()``, ``ImputeSCMVP()`` and ``SaveSCMVPModel()`` work on the
    result. The R package scMVP writes the reduction (the same function its ``RunSCMVP()`` uses),
    so the layout is the R package's. ``assay`` and ``atac_assay`` name the RNA and ATAC assays;
    the DimReduc belongs to the first one the model uses (a single-view ATAC model: ``atac_assay``).
    """
    import rpy2.robjects as ro
    from rpy2.robjects.vectors import ByteVector

    z = np.asarray(embedding, dtype=np.float64)
    cells = [str(c) for c in cells]
    if z.ndim != 2 or z.shape[0] != len(cells):
        raise ScMVPInputError(f"embedding has shape {z.shape} but {len(cells)} cells were named; give one row per cell.")
    emb = ro.r["matrix"](ro.FloatVector(z.ravel(order="F")), nrow=z.shape[0], ncol=z.shape[1],
                         dimnames=ro.vectors.ListVector({"cells": ro.StrVector(cells), "dims": ro.NULL}))
    result = {"embedding": emb}
    if clusters is not None:
        vals = list(clusters)
        if len(vals) != len(cells):
            raise ScMVPInputError(f"clusters has {len(vals)} labels for {len(cells)} cells; give one per cell.")
        result["clusters"] = ro.StrVector([str(v) for v in vals])
    if probability is not None:
        result["max.probability"] = ro.FloatVector(np.asarray(probability, dtype=np.float64))
    views = ["rna", "atac"]
    if model is not None:
        from .bridge import model_info

        info = model_info(model)
        params = info["params"]
        views = {"rna": ["rna"], "atac": ["atac"]}.get(params.get("modality"), ["rna", "atac"])
        result.update({
            "model": ByteVector(model.to_bytes()),
            "params": _r_value(params),
            "features.rna": ro.StrVector(info["features_rna"]),
            "features.atac": ro.StrVector(info["features_atac"]),
            "n.clusters": ro.IntVector([int(params["n_clusters"])]),
            "batch.levels": ro.StrVector(info["batch_categories"]) if info["batch_categories"] else ro.NULL,
        })
    obj = _read_object(path)
    have = set(_strs(_call("names", obj.do_slot("assays"))))
    names = {"rna": assay, "atac": atac_assay}
    # the first view's assay must exist (the DimReduc belongs to it); a joint model's other assay too
    used = [v for i, v in enumerate(views) if i == 0 or model is not None or names[v] in have]
    assays = ro.StrVector([names[v] for v in used])
    assays.names = ro.StrVector(used)
    obj = _call(".scmvp_write", obj, ro.vectors.ListVector(result), **{
        "reduction.name": reduction_name, "reduction.key": reduction_key, "cluster.name": cluster_name,
        "assays": assays, "written.by": "scmvp.seurat.write_seurat (Python)"})
    _call("saveRDS", obj, str(out))
    return str(out)
