"""Which features a model trains on: variable genes (Seurat's "vst") and accessible peaks.

The same rules as a Seurat user's: genes ranked by the variance of their standardised counts
after a loess fit of variance on mean (``FindVariableFeatures(selection.method = "vst")``,
scanpy's ``flavor="seurat_v3"``), and peaks ranked by the number of cells in which they are
accessible (Signac's ``FindTopFeatures`` ranks by total counts; on binary-like ATAC counts the
two orders agree). ``ScMVPConfig.n_top_genes`` and ``ScMVPConfig.max_peaks`` say how many;
:meth:`scmvp.ScMVP.fit`, the command line and R's ``RunSCMVP()`` all apply them here.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .backed import BackedMatrix, column_nnz, row_blocks
from .data import Matrix, ScMVPInputError

__all__ = ["vst_variance", "variable_genes", "accessible_peaks", "select_features", "select_matrix"]


def _loess(x: np.ndarray, y: np.ndarray, span: float = 0.3, n_anchors: int = 1000) -> np.ndarray:
    """Local quadratic regression of y on x (R's ``loess(degree = 2, span)``), evaluated at up
    to ``n_anchors`` quantiles of x and interpolated linearly in between, as R's loess does."""
    n = x.size
    k = min(n, max(3, int(np.ceil(span * n))))
    anchors = np.unique(np.quantile(x, np.linspace(0.0, 1.0, min(n, n_anchors))))
    fitted = np.empty(anchors.size)
    for i, x0 in enumerate(anchors):
        d = np.abs(x - x0)
        near = np.argpartition(d, k - 1)[:k]
        dmax = d[near].max()
        w = (1 - (d[near] / dmax) ** 3) ** 3 if dmax > 0 else np.ones(k)
        dx = x[near] - x0
        design = np.stack([np.ones(k), dx, dx * dx], axis=1) * np.sqrt(w)[:, None]
        coef = np.linalg.lstsq(design, y[near] * np.sqrt(w), rcond=None)[0]
        fitted[i] = coef[0]
    return np.interp(x, anchors, fitted)


def vst_variance(counts) -> np.ndarray:
    """Seurat's "vst" standardised variance of each column of a cells x genes count matrix.

    log10 variance is regressed on log10 mean by loess (span 0.3); each count is standardised
    by the gene's mean and fitted standard deviation and clipped at sqrt(cells); the result is
    the variance of those values (0 for a constant gene).
    """
    n, p = counts.shape
    total, sq_total, nnz = np.zeros(p), np.zeros(p), np.zeros(p, dtype=np.int64)
    for _, block in row_blocks(counts):  # one pass for the moments, a second for the clipped values
        total += np.bincount(block.indices, weights=block.data, minlength=p)
        sq_total += np.bincount(block.indices, weights=block.data.astype(np.float64) ** 2, minlength=p)
        nnz += np.bincount(block.indices, minlength=p)
    mean, sq = total / n, sq_total / n
    var = (sq - mean ** 2) * n / max(n - 1, 1)
    out = np.zeros(p)
    ok = var > 0
    if not ok.any():
        return out
    expected = 10 ** _loess(np.log10(mean[ok]), np.log10(var[ok]))
    sd = np.zeros(p)
    sd[ok] = np.sqrt(expected)
    nonzero_sq = np.zeros(p)
    for _, block in row_blocks(counts):
        col = block.indices  # the gene of each stored count
        keep = ok[col]
        z = np.minimum((block.data[keep] - mean[col[keep]]) / sd[col[keep]], np.sqrt(n))
        nonzero_sq += np.bincount(col[keep], weights=z * z, minlength=p)
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_sq = (n - nnz) * np.where(ok, mean / sd, 0.0) ** 2  # the zeros, standardised
    out[ok] = (nonzero_sq[ok] + zero_sq[ok]) / (n - 1)
    return out


def _top(scores: np.ndarray, n_top: int) -> np.ndarray:
    # the n_top highest scores (ties broken by column order), returned in column order
    order = np.argsort(-scores, kind="stable")[:n_top]
    return np.sort(order)


def variable_genes(counts: sp.csr_matrix, n_top: int) -> np.ndarray:
    """Column indices (in column order) of the ``n_top`` genes with the highest
    :func:`vst_variance`; every column when there are at most ``n_top``."""
    if counts.shape[1] <= n_top:
        return np.arange(counts.shape[1])
    return _top(vst_variance(counts), n_top)


def accessible_peaks(counts: sp.csr_matrix, max_peaks: int) -> np.ndarray:
    """Column indices (in column order) of the ``max_peaks`` peaks accessible in the most cells;
    every column when there are at most ``max_peaks``."""
    if counts.shape[1] <= max_peaks:
        return np.arange(counts.shape[1])
    return _top(column_nnz(counts).astype(np.float64), max_peaks)


def select_features(counts: sp.csr_matrix, view: str, n_top_genes: Optional[int],
                    max_peaks: Optional[int]) -> np.ndarray:
    """The columns of ``counts`` a model of ``view`` ("rna" or "atac") trains on, by the
    config's rule: all, or the ``n_top_genes`` variable genes, or the ``max_peaks`` most
    accessible peaks.

    >>> import scipy.sparse as sp
    >>> x = sp.csr_matrix([[1, 0, 2], [0, 0, 3], [1, 1, 0]])
    >>> select_features(x, "atac", None, 2).tolist()
    [0, 2]
    """
    limit = n_top_genes if view == "rna" else max_peaks
    if limit is None:
        return np.arange(counts.shape[1])
    return variable_genes(counts, limit) if view == "rna" else accessible_peaks(counts, limit)


def select_matrix(m: Matrix, view: str, n_top_genes: Optional[int], max_peaks: Optional[int],
                  verbose: bool = True) -> Matrix:
    """A validated :class:`scmvp.data.Matrix` restricted to :func:`select_features`' columns.

    Raises :class:`scmvp.data.ScMVPInputError` when a cell has no counts left in the kept
    features (with the setting that would keep more).
    """
    cols = select_features(m.X, view, n_top_genes, max_peaks)
    if cols.size == m.X.shape[1]:
        return m
    if isinstance(m.X, BackedMatrix):
        X = m.X.select(cols)
        per_cell = np.concatenate([np.diff(block.indptr) for _, block in row_blocks(X)])
    else:
        X = m.X[:, cols].tocsr()
        per_cell = np.diff(X.indptr)
    empty = np.flatnonzero(per_cell == 0)
    setting = "n_top_genes" if view == "rna" else "max_peaks"
    if empty.size:
        raise ScMVPInputError(
            f"{view}: {empty.size} cells have no counts in the {cols.size} features kept by {setting} "
            f"(first rows: {', '.join(map(str, empty[:5]))}). Keep more features ({setting}=None keeps all) "
            "or remove those cells."
        )
    if verbose:
        what = "most variable genes" if view == "rna" else "peaks accessible in the most cells"
        print(f"scMVP: {view}: training on the {cols.size:,} {what} of {m.X.shape[1]:,} ({setting}={cols.size}).")
    return replace(m, X=X, features=[m.features[i] for i in cols], kept=m.kept[cols])
