"""Seurat objects (``.rds``) from Python, through rpy2 (optional: ``pip install rpy2``; R with
the SeuratObject package, e.g. Debian's ``r-cran-seuratobject``).

* :func:`read_seurat` reads the RNA and ATAC counts and the meta.data of a Seurat object into
  :class:`scmvp.io.PairedData` (cells x features CSR, as the model takes them);
  :func:`read_seurat_mudata` into a MuData (modalities ``rna`` and ``atac``, needs mudata).
* :func:`write_seurat` writes an embedding, clusters and (optionally) the trained model back
  into the object, in the layout the R package's ``RunSCMVP()`` uses (a global DimReduc
  ``scmvp`` whose ``misc$model`` holds the model bytes, and a meta.data cluster column), so the
  R functions ``ProjectSCMVP()`` and ``SaveSCMVPModel()`` work on the result.

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

# R code run through rpy2: every object access is here, in R, so that Python only sees plain
# vectors. SeuratObject 4/5: v3 assays have slots, Assay5 has layers.
_R_CODE = r"""
local({
  need <- function() {
    if (!requireNamespace("SeuratObject", quietly = TRUE))
      stop("R has no SeuratObject package; install it (Debian: apt-get install r-cran-seuratobject)")
  }
  layer_of <- function(obj, assay, layer) {
    a <- obj[[assay]]
    if (inherits(a, "Assay5")) {
      layers <- getExportedValue("SeuratObject", "Layers")(a)
      if (!layer %in% layers) stop(sprintf("assay '%s' has no layer '%s' (layers: %s); join split layers with JoinLayers()",
                                           assay, layer, paste(layers, collapse = ", ")))
      m <- getExportedValue("SeuratObject", "LayerData")(a, layer = layer)
      if (is.null(rownames(m))) rownames(m) <- rownames(a)
      if (is.null(colnames(m))) colnames(m) <- colnames(a)
    } else {
      m <- methods::slot(a, layer)
    }
    if (!length(m)) stop(sprintf("assay '%s' has an empty '%s' layer; scMVP needs raw counts", assay, layer))
    m <- methods::as(methods::as(methods::as(m, "CsparseMatrix"), "generalMatrix"), "dMatrix")
    m
  }
  list(
    read = function(path, rna_assay, atac_assay, layer) {
      need()
      obj <- readRDS(path)
      if (!inherits(obj, "Seurat")) stop(sprintf("%s holds a %s, not a Seurat object", path, class(obj)[1]))
      assays <- names(obj@assays)
      for (a in c(rna_assay, atac_assay)) if (!a %in% assays)
        stop(sprintf("assay '%s' is not in the object (assays: %s); pass rna_assay/atac_assay", a, paste(assays, collapse = ", ")))
      cells <- colnames(obj)
      one <- function(assay) {
        m <- layer_of(obj, assay, layer)
        if (!identical(colnames(m), cells)) m <- m[, cells, drop = FALSE]
        list(i = m@i, p = m@p, x = m@x, dim = dim(m), features = rownames(m))
      }
      md <- obj[[]]
      for (k in names(md)) if (is.factor(md[[k]])) md[[k]] <- as.character(md[[k]])
      list(rna = one(rna_assay), atac = one(atac_assay), cells = cells, meta = md)
    },
    write = function(path, out, emb, cells, key, name, assay, clusters, cluster_name, prob, model, features_rna,
                     features_atac, params_json, batch_levels, atac_assay) {
      need()
      obj <- readRDS(path)
      if (!inherits(obj, "Seurat")) stop(sprintf("%s holds a %s, not a Seurat object", path, class(obj)[1]))
      if (!assay %in% names(obj@assays)) stop(sprintf("assay '%s' is not in the object", assay))
      if (!setequal(cells, colnames(obj)) || length(cells) != ncol(obj))
        stop(sprintf("the results cover %d cells but the object has %d (or other names); write results for the object's cells",
                     length(cells), ncol(obj)))
      rownames(emb) <- cells
      colnames(emb) <- paste0(key, seq_len(ncol(emb)))
      emb <- emb[colnames(obj), , drop = FALSE]
      misc <- list(format = "scMVP model bytes (torch, format 1)", assays = c(rna = assay, atac = atac_assay),
                   cluster.name = cluster_name, written.by = "scmvp.seurat.write_seurat (Python)")
      if (length(model)) {
        misc$model <- model
        misc$features <- list(rna = features_rna, atac = features_atac)
        misc$params.json <- params_json
        if (length(batch_levels)) misc$batch.levels <- batch_levels
      }
      obj[[name]] <- SeuratObject::CreateDimReducObject(embeddings = emb, key = key, assay = assay, global = TRUE, misc = misc)
      if (length(clusters)) {
        lv <- unique(clusters)
        lv <- if (all(grepl("^[0-9]+$", lv))) lv[order(as.integer(lv))] else sort(lv)
        md <- data.frame(factor(clusters, levels = lv), row.names = cells)
        names(md) <- cluster_name
        if (length(prob)) md[[paste0(cluster_name, "_probability")]] <- prob
        obj <- SeuratObject::AddMetaData(obj, metadata = md)
      }
      saveRDS(obj, out)
      invisible(out)
    }
  )
})
"""

_FUNCS = None


def _r():
    """The R helper functions (rpy2 starts R on first use)."""
    global _FUNCS
    if _FUNCS is None:
        try:
            import rpy2.robjects as ro
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError(
                "scmvp.seurat needs rpy2 (pip install rpy2) and R with the SeuratObject package "
                "(Debian: apt-get install r-base-dev r-cran-seuratobject)."
            ) from err
        _FUNCS = ro.r(_R_CODE)
    return _FUNCS


def _call(name: str, *args):
    from rpy2.rinterface_lib.embedded import RRuntimeError

    try:
        return _r().rx2(name)(*args)
    except RRuntimeError as err:
        msg = " ".join(str(err).replace("Error in (function", "").split())
        raise ScMVPInputError(f"Seurat object: {msg}") from None


def _np(vec, dtype) -> np.ndarray:
    # a copy: np.asarray would view R's memory, which R frees once the result is collected
    return np.array(vec, dtype=dtype, copy=True)


def _strs(vec) -> list:
    return [str(v) for v in vec]


def _csr_cells_by_features(part) -> tuple:
    i, p, x = _np(part.rx2("i"), np.int32), _np(part.rx2("p"), np.int64), _np(part.rx2("x"), np.float32)
    n_features, n_cells = (int(v) for v in part.rx2("dim"))
    csc = sp.csc_matrix((x, i, p), shape=(n_features, n_cells))  # features x cells, as R stores it
    return csc.T.tocsr(), _strs(part.rx2("features"))


def read_seurat(path, rna_assay: str = "RNA", atac_assay: str = "ATAC", layer: str = "counts") -> PairedData:
    """Read RNA and ATAC counts and meta.data from a Seurat ``.rds`` (cells in the object's order).

    Peak names stay as Seurat/Signac write them (``chr-start-end``). ``cells`` holds the
    meta.data with a ``barcode`` column first.
    """
    res = _call("read", str(path), rna_assay, atac_assay, layer)
    rna, genes = _csr_cells_by_features(res.rx2("rna"))
    atac, peaks = _csr_cells_by_features(res.rx2("atac"))
    cells = _strs(res.rx2("cells"))
    meta = _meta_frame(res.rx2("meta"), cells)
    meta.insert(0, "barcode", cells)
    return PairedData(rna=rna, atac=atac, genes=genes, peaks=peaks, cells=meta.reset_index(drop=True))


def _meta_frame(md, cells: Sequence[str]) -> pd.DataFrame:
    import rpy2.robjects as ro

    cols = {}
    for name, col in zip(md.names, md):
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


def write_seurat(path, out, embedding: np.ndarray, cells: Sequence[str], clusters: Optional[Sequence] = None,
                 probability: Optional[Sequence[float]] = None, model=None, reduction_name: str = "scmvp",
                 reduction_key: str = "SCMVP_", cluster_name: str = "scmvp_clusters", assay: str = "RNA",
                 atac_assay: str = "ATAC") -> str:
    """Add scMVP results to the Seurat object in ``path`` and save it to ``out``.

    ``embedding`` is cells x d for ``cells`` (any order; rows are matched by name).
    ``clusters`` (one label per cell, e.g. 1-based integers) go to meta.data ``cluster_name``
    and ``probability`` to ``<cluster_name>_probability``. With ``model`` (a trained
    :class:`scmvp.ScMVP`), the model bytes are stored in the DimReduc's ``misc$model`` as the R
    package does, so R's ``ProjectSCMVP()`` can embed new cells with it.
    """
    import json

    import rpy2.robjects as ro
    from rpy2.robjects.vectors import ByteVector

    z = np.asarray(embedding, dtype=np.float64)
    cells = [str(c) for c in cells]
    if z.ndim != 2 or z.shape[0] != len(cells):
        raise ScMVPInputError(f"embedding has shape {z.shape} but {len(cells)} cells were named; give one row per cell.")
    emb = ro.r["matrix"](ro.FloatVector(z.ravel(order="F")), nrow=z.shape[0], ncol=z.shape[1])
    none = ro.NULL
    cl = none
    if clusters is not None:
        vals = list(clusters)
        if len(vals) != len(cells):
            raise ScMVPInputError(f"clusters has {len(vals)} labels for {len(cells)} cells; give one per cell.")
        cl = ro.StrVector([str(v) for v in vals])
    pr = none if probability is None else ro.FloatVector(np.asarray(probability, dtype=np.float64))
    raw, frna, fatac, params, batches = none, none, none, "", none
    if model is not None:
        from .bridge import model_info

        raw = ByteVector(model.to_bytes())
        info = model_info(model)
        frna, fatac = ro.StrVector(info["features_rna"]), ro.StrVector(info["features_atac"])
        params = json.dumps({k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in info["params"].items()})
        if info["batch_categories"]:
            batches = ro.StrVector(info["batch_categories"])
    _call("write", str(path), str(out), emb, ro.StrVector(cells), reduction_key, reduction_name, assay, cl, cluster_name, pr,
          raw, frna, fatac, params, batches, atac_assay)
    return str(out)
