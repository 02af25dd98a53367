"""Input validation, preprocessing and sparse minibatches.

The data path is: :func:`prepare_matrix` (validate one modality, make a CSR float32
copy) -> :func:`check_pair` (the modalities describe the same cells) ->
:func:`compute_idf` (TF-IDF weights learned on the training cells) -> :class:`SparseBatch`
(a minibatch, made on the device from CSR rows) -> :func:`tfidf_log1p` (encoder input).

Nothing here densifies a whole matrix; the caller's arrays are never modified.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import scipy.sparse as sp
import torch

__all__ = [
    "ScMVPInputError",
    "Matrix",
    "prepare_matrix",
    "check_pair",
    "compute_idf",
    "log_normalise",
    "SparseBatch",
    "log1p_input",
    "tfidf_log1p",
    "tfidf_log1p_matrix",
    "tfidf_log1p_dense",
    "available_memory_bytes",
]

#: TF-IDF scale factor, as in Signac's RunTFIDF (method 1) and cisTopic.
TFIDF_SCALE = 1e4


class ScMVPInputError(ValueError):
    """Bad input: the message names the problem and how to fix it."""


@dataclass
class Matrix:
    """One validated modality: a CSR float32 copy plus names and the features kept."""

    X: sp.csr_matrix  # cells x kept features, float32 (or a BackedMatrix read from its file)
    features: list  # names of the kept features (columns of X)
    input_features: list  # names of all columns the caller gave, in order
    kept: np.ndarray  # indices into input_features of the kept columns
    dropped: list  # names of features with zero counts in every cell (dropped)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (falls back to total physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _to_csr_float32(x, name: str) -> sp.csr_matrix:
    """A new CSR float32 matrix with the values of ``x`` (never a view of it)."""
    if sp.issparse(x):
        if x.ndim != 2:
            raise ScMVPInputError(f"{name}: expected a 2-d matrix, got shape {x.shape}.")
        if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
            raise ScMVPInputError(f"{name}: values must be numeric counts, got dtype {x.dtype}.")
        out = sp.csr_matrix(x, dtype=np.float32, copy=True)
        out.sum_duplicates()
        out.eliminate_zeros()
        return out
    if hasattr(x, "toarray") and not isinstance(x, np.ndarray):  # e.g. an h5py-backed matrix
        x = x.toarray()
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ScMVPInputError(f"{name}: expected a 2-d cells x features matrix, got shape {arr.shape}.")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ScMVPInputError(f"{name}: values must be numeric counts, got dtype {arr.dtype}.")
    # A dense input is converted in row chunks so that no second dense copy is made; the
    # CSR result must still fit, so refuse what cannot.
    dense_f32 = arr.shape[0] * arr.shape[1] * 4
    if dense_f32 > available_memory_bytes():
        raise ScMVPInputError(
            f"{name}: a dense {arr.shape[0]} x {arr.shape[1]} {arr.dtype} matrix is too large to "
            "process in this machine's memory. Pass a scipy.sparse CSR matrix instead "
            "(e.g. scipy.sparse.csr_matrix built chunk by chunk, or read with scmvp.io)."
        )
    step = max(1, int(2**26 // max(1, arr.shape[1])))
    parts = [sp.csr_matrix(arr[i : i + step].astype(np.float32)) for i in range(0, arr.shape[0], step)]
    out = sp.vstack(parts, format="csr") if parts else sp.csr_matrix(arr.shape, dtype=np.float32)
    return sp.csr_matrix(out, dtype=np.float32)


def _feature_names(names: Optional[Sequence], n: int, name: str, prefix: str) -> list:
    if names is None:
        return [f"{prefix}{i}" for i in range(n)]
    names = [str(s) for s in list(names)]
    if len(names) != n:
        raise ScMVPInputError(
            f"{name}: {len(names)} feature names were given for a matrix with {n} columns. "
            "Pass one name per column (cells are rows, features are columns)."
        )
    seen, dups = set(), []
    for s in names:
        if s in seen:
            dups.append(s)
        seen.add(s)
    if dups:
        shown = ", ".join(sorted(set(dups))[:5])
        raise ScMVPInputError(
            f"{name}: {len(set(dups))} duplicated feature names (e.g. {shown}). "
            "Make names unique (e.g. anndata's var_names_make_unique()) or sum the duplicates."
        )
    return names


def prepare_matrix(
    x,
    features: Optional[Sequence] = None,
    name: str = "rna",
    drop_empty_features: bool = True,
    verbose: bool = True,
) -> Matrix:
    """Validate a cells x features count matrix and return a CSR float32 copy.

    Checks: 2-d numeric, finite, non-negative, integer counts, no cell without counts,
    unique feature names. Features with zero counts in every cell are dropped (with a note)
    when ``drop_empty_features``. A backed matrix (:class:`scmvp.backed.BackedMatrix`, or an
    AnnData ``X`` opened with ``backed="r"``) is checked in one pass over row blocks and is not
    copied: the result reads its file.

    >>> import scipy.sparse as sp
    >>> m = prepare_matrix(sp.csr_matrix([[1, 0, 2], [0, 0, 3]]), ["a", "b", "c"], verbose=False)
    >>> m.features, m.dropped
    (['a', 'c'], ['b'])
    """
    if x is None:
        raise ScMVPInputError(f"{name}: no matrix was given.")
    from .backed import as_backed, is_backed

    if is_backed(x):
        return _prepare_backed(as_backed(x), features, name, drop_empty_features, verbose)
    X = _to_csr_float32(x, name)
    names = _feature_names(features, X.shape[1], name, "gene" if name == "rna" else "peak")
    _check_values(X.data, name)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ScMVPInputError(f"{name}: the matrix is empty (shape {X.shape}).")
    _check_cells(np.asarray(X.sum(axis=1)).ravel(), name)
    feature_nnz = np.bincount(X.indices, minlength=X.shape[1])
    kept = np.flatnonzero(feature_nnz > 0)
    dropped = [names[i] for i in np.flatnonzero(feature_nnz == 0)]
    if dropped and drop_empty_features:
        if verbose:
            print(f"scMVP: {name}: dropped {len(dropped)} features with no counts in any cell.")
        X = X[:, kept].tocsr()
    else:
        kept = np.arange(X.shape[1])
        dropped = []
    if X.indices.dtype != np.int32 and X.nnz < 2**31 and X.shape[1] < 2**31:
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int64 if X.nnz >= 2**31 else np.int32)
    return Matrix(X=X, features=[names[i] for i in kept], input_features=names, kept=kept, dropped=dropped)


def _check_values(data: np.ndarray, name: str) -> None:
    """Stored values are finite, non-negative integers (raw counts)."""
    if data.size and not np.all(np.isfinite(data)):
        bad = int((~np.isfinite(data)).sum())
        raise ScMVPInputError(
            f"{name}: {bad} values are NaN or infinite. scMVP needs raw counts; "
            "replace missing values with 0 or start again from the raw count matrix."
        )
    if data.size and data.min() < 0:
        raise ScMVPInputError(
            f"{name}: negative values found (min {data.min():g}). scMVP needs raw, non-negative "
            "counts, not scaled or centred data: pass the 'counts' layer."
        )
    if data.size and np.any(data != np.round(data)):
        example = float(data[data != np.round(data)][0])
        raise ScMVPInputError(
            f"{name}: non-integer values found (e.g. {example:g}). scMVP models raw counts; pass "
            "the raw count matrix (e.g. the 'counts' layer), not normalised or log data."
        )


def _check_cells(cell_totals: np.ndarray, name: str) -> None:
    """Every cell has counts."""
    empty = np.flatnonzero(cell_totals == 0)
    if empty.size:
        raise ScMVPInputError(
            f"{name}: {empty.size} cells have no counts in this modality (first rows: "
            f"{', '.join(map(str, empty[:5]))}). Remove them before fitting, e.g. keep cells "
            "with at least one count in both RNA and ATAC."
        )


def _prepare_backed(X, features, name: str, drop_empty_features: bool, verbose: bool) -> Matrix:
    """:func:`prepare_matrix` for a :class:`scmvp.backed.BackedMatrix`: the same checks in one
    pass over row blocks; the result reads the same file (restricted to the kept features)."""
    from .backed import row_blocks

    names = _feature_names(features, X.shape[1], name, "gene" if name == "rna" else "peak")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ScMVPInputError(f"{name}: the matrix is empty (shape {X.shape}).")
    totals = np.zeros(X.shape[0])
    feature_nnz = np.zeros(X.shape[1], dtype=np.int64)
    for start, block in row_blocks(X):
        _check_values(block.data, name)
        totals[start:start + block.shape[0]] = np.asarray(block.sum(axis=1)).ravel()
        feature_nnz += np.bincount(block.indices, minlength=X.shape[1])
    _check_cells(totals, name)
    kept = np.flatnonzero(feature_nnz > 0) if drop_empty_features else np.arange(X.shape[1])
    dropped = [names[i] for i in np.flatnonzero(feature_nnz == 0)] if drop_empty_features else []
    if dropped:
        if verbose:
            print(f"scMVP: {name}: dropped {len(dropped)} features with no counts in any cell.")
        X = X.select(kept)
    return Matrix(X=X, features=[names[i] for i in kept], input_features=names, kept=kept, dropped=dropped)


def check_pair(rna, atac, cells_rna=None, cells_atac=None) -> int:
    """Both (cells x features) matrices describe the same cells in the same order; returns the
    cell count. Barcodes, when given, must match one to one."""
    n = [m.shape[0] for m in (rna, atac) if m is not None]
    if not n:
        raise ScMVPInputError("No data: give an RNA matrix, an ATAC matrix, or both.")
    if len(set(n)) > 1:
        raise ScMVPInputError(
            f"RNA has {n[0]} cells (rows) but ATAC has {n[1]}. Both matrices must hold the same cells "
            "in the same order (cells are rows): subset both to the shared barcodes."
        )
    if cells_rna is not None and cells_atac is not None:
        a, b = [str(c) for c in cells_rna], [str(c) for c in cells_atac]
        if a != b:
            diff = next(i for i, (u, v) in enumerate(zip(a, b)) if u != v) if len(a) == len(b) else 0
            raise ScMVPInputError(
                f"The cell barcodes of RNA and ATAC differ (first at row {diff}: {a[diff]!r} vs {b[diff]!r}). "
                "Reorder or subset both modalities to the same barcodes."
            )
    return n[0]


def compute_idf(X) -> np.ndarray:
    """IDF of each peak: n_cells / (1 + n_cells_with_peak) (Signac method 1 / cisTopic)."""
    from .backed import column_nnz

    n_with = column_nnz(X).astype(np.float64)
    return (X.shape[0] / (1.0 + n_with)).astype(np.float32)


def log_normalise(X, scale: float = 1e4) -> sp.csr_matrix:
    """log1p(counts / cell total * scale) as a float64 CSR matrix (Seurat's LogNormalize).

    >>> log_normalise(sp.csr_matrix([[1.0, 3.0]]), scale=4).toarray().round(3)
    array([[0.693, 1.386]])
    """
    x = sp.csr_matrix(X, dtype=np.float64, copy=True)
    lib = np.asarray(x.sum(axis=1)).ravel()
    x = x.multiply(scale / np.maximum(lib, 1e-12)[:, None]).tocsr()
    x.data = np.log1p(x.data)
    return x


def tfidf_log1p_matrix(X, idf: np.ndarray) -> sp.csr_matrix:
    """The encoder's ATAC transform, log1p(y / max(total(y), 1) * idf * 1e4), on a whole count
    matrix as a float64 CSR matrix (:func:`tfidf_log1p` does it for a minibatch).

    >>> tfidf_log1p_matrix(sp.csr_matrix([[1.0, 3.0]]), np.array([1e-4, 2e-4])).toarray().round(3)
    array([[0.223, 0.916]])
    """
    y = sp.csr_matrix(X, dtype=np.float64)
    lib = np.maximum(np.asarray(y.sum(axis=1)).ravel(), 1.0)
    t = sp.csr_matrix(sp.diags(1.0 / lib) @ y @ sp.diags(np.asarray(idf, dtype=np.float64) * TFIDF_SCALE))
    t.data = np.log1p(t.data)
    return t


@dataclass
class SparseBatch:
    """A minibatch of CSR rows as torch tensors on the device.

    ``cols``/``offsets``/``values`` are the CSR arrays (for :class:`scmvp.nn.InputLinear`,
    which multiplies without densifying); ``dense()`` gives the B x F count matrix for the
    likelihood and ``library`` the observed total per cell.
    """

    cols: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor
    rows: torch.Tensor  # row index (0..B-1) of every stored value
    n_rows: int
    n_cols: int

    @classmethod
    def from_csr(cls, X: sp.csr_matrix, idx: np.ndarray, device: torch.device) -> "SparseBatch":
        sub = X[idx]
        indptr = torch.from_numpy(sub.indptr.astype(np.int64))
        counts = indptr[1:] - indptr[:-1]
        rows = torch.repeat_interleave(torch.arange(len(idx)), counts)
        return cls(
            cols=torch.from_numpy(sub.indices.astype(np.int64)).to(device),
            offsets=indptr[:-1].to(device),
            values=torch.from_numpy(sub.data).to(device),
            rows=rows.to(device),
            n_rows=len(idx),
            n_cols=X.shape[1],
        )

    def dense(self) -> torch.Tensor:
        out = torch.zeros(self.n_rows, self.n_cols, device=self.values.device, dtype=self.values.dtype)
        out[self.rows, self.cols] = self.values
        return out

    @property
    def library(self) -> torch.Tensor:
        lib = torch.zeros(self.n_rows, device=self.values.device, dtype=self.values.dtype)
        return lib.index_add_(0, self.rows, self.values)

    def with_values(self, values: torch.Tensor) -> "SparseBatch":
        return SparseBatch(self.cols, self.offsets, values, self.rows, self.n_rows, self.n_cols)


def log1p_input(batch: SparseBatch) -> SparseBatch:
    """RNA encoder input log1p(x), still sparse."""
    return batch.with_values(torch.log1p(batch.values))


def tfidf_log1p(batch: SparseBatch, idf: torch.Tensor) -> SparseBatch:
    """ATAC encoder input log1p(y / total(y) * idf * 1e4), still sparse."""
    lib = batch.library.clamp_min(1.0)
    tf = batch.values / lib[batch.rows]
    return batch.with_values(torch.log1p(tf * idf[batch.cols] * TFIDF_SCALE))


class _TfidfLog1pDense(torch.autograd.Function):
    """out = log1p(y / L * w), L = max(row sum of y, 1e-8), w = idf * scale, with a written-out
    backward that keeps only ``out`` (autograd of the element-wise form keeps three B x P
    tensors): with e = 1 / (1 + u) = exp(-out) and g the incoming gradient,
    d/dy_k = (g_k e_k w_k - sum_j g_j (1 - e_j)) / L (the sum is zero where L was capped)."""

    @staticmethod
    def forward(ctx, y, w):
        raw = y.sum(dim=1, keepdim=True)
        lib = raw.clamp_min(1e-8)
        out = torch.mul(y, w).div_(lib).log1p_()
        ctx.save_for_backward(out, w, lib, raw >= 1e-8)
        return out

    @staticmethod
    def backward(ctx, g):
        out, w, lib, through_lib = ctx.saved_tensors
        ge = torch.neg(out).exp_().mul_(g)  # g / (1 + u)
        s = (g.sum(dim=1, keepdim=True) - ge.sum(dim=1, keepdim=True)) * through_lib
        return ge.mul_(w).sub_(s).div_(lib), None


def tfidf_log1p_dense(y: torch.Tensor, idf: torch.Tensor) -> torch.Tensor:
    """The same transform on a dense (e.g. imputed) B x P matrix (differentiable in ``y``)."""
    return _TfidfLog1pDense.apply(y, idf * TFIDF_SCALE)
