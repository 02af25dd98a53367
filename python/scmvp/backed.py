"""Count matrices read from HDF5 files row block by row block: the streamed data path.

A :class:`BackedMatrix` is a cells x features CSR matrix that stays in its file: an AnnData
``.h5ad`` or MuData ``.h5mu`` ``X`` stored as CSR, or the matrix of a 10x Multiome
``filtered_feature_bc_matrix.h5`` (features x cells CSC, which is the same layout read by
cells). Only the row pointers (8 bytes a cell) are held in memory; rows are read on demand,
restricted to a set of columns (e.g. the genes of a 10x file, or the features a model keeps).
It answers ``X[rows]`` with a scipy CSR matrix, so the rest of the package treats it like an
in-memory matrix; :func:`row_blocks` walks either kind in row blocks for statistics.

>>> import scmvp
>>> d = scmvp.io.read_10x_h5(scmvp.io.example_10x_h5(), backed=True)
>>> d.rna.shape, d.rna[[0, 5]].shape
((500, 2500), (2, 2500))
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from .data import ScMVPInputError

__all__ = ["BackedMatrix", "is_backed", "as_backed", "row_blocks", "column_nnz"]

#: Rows read per block when a whole backed matrix is walked (statistics, posterior means).
BLOCK_ROWS = 4096
#: Two wanted rows whose stored values lie at most this many values apart are read in one
#: call (the values between them are read and dropped): fewer, larger reads of the file ...
_GAP_VALUES = 1 << 15
#: ... of at most this many values each (16 MB of values and indices), unless one row is larger.
_READ_VALUES = 1 << 21


class BackedMatrix:
    """A cells x features CSR matrix in an HDF5 file, read by rows.

    ``path`` and ``group`` locate the CSR arrays (``data``, ``indices``, ``indptr``);
    ``columns`` (file column indices, increasing) restricts it to some features, in that
    order. ``layout="10x"`` reads a 10x ``matrix`` group (features x cells CSC, ``shape``
    dataset); the default reads AnnData's CSR encoding (``shape`` attribute). The file is
    opened read-only and never written.
    """

    def __init__(self, path, group: str = "X", columns: Optional[Sequence[int]] = None, layout: str = "anndata",
                 _indptr: Optional[np.ndarray] = None):
        import h5py

        self.path, self.group, self.layout = str(path), group, layout
        self._file = h5py.File(self.path, "r")
        if group not in self._file:
            raise ScMVPInputError(f"{self.path}: no group {group!r} in this file.")
        g = self._file[group]
        if layout == "10x":
            n_feat, n_cells = (int(s) for s in g["shape"][:])
        else:
            enc = g.attrs.get("encoding-type", "")
            enc = enc.decode() if isinstance(enc, bytes) else enc
            if enc != "csr_matrix":
                fix = (" Rows of a CSC matrix cannot be streamed: convert it once, e.g. adata.X = "
                       "scipy.sparse.csr_matrix(adata.X), and write the file again.") if enc == "csc_matrix" else ""
                raise ScMVPInputError(f"{self.path}:/{group} is stored as {enc or 'a dense array'}, not a CSR matrix; "
                                      f"streaming reads cells as rows of a CSR matrix.{fix}")
            n_cells, n_feat = (int(s) for s in g.attrs["shape"])
        self._data, self._indices = g["data"], g["indices"]
        self.indptr = g["indptr"][:].astype(np.int64) if _indptr is None else _indptr
        self.n_file_columns = n_feat
        self.columns = np.arange(n_feat) if columns is None else np.asarray(columns, dtype=np.int64)
        if self.columns.size and (np.any(np.diff(self.columns) <= 0) or self.columns[0] < 0 or self.columns[-1] >= n_feat):
            raise ValueError("columns must be increasing indices of the file's columns.")
        self._colmap = None
        if self.columns.size != n_feat:
            self._colmap = np.full(n_feat, -1, dtype=np.int32 if n_feat < 2**31 else np.int64)
            self._colmap[self.columns] = np.arange(self.columns.size)
        self.shape: Tuple[int, int] = (n_cells, int(self.columns.size))
        self.ndim, self.dtype = 2, np.dtype(np.float32)

    def __repr__(self) -> str:
        return f"BackedMatrix({self.shape[0]:,} cells x {self.shape[1]:,} features, {self.path}:/{self.group})"

    @property
    def nnz(self) -> int:
        """Stored values over all columns of the file (an upper bound for the kept columns)."""
        return int(self.indptr[-1])

    def select(self, cols: Sequence[int]) -> "BackedMatrix":
        """The same rows restricted to columns ``cols`` (positions in this matrix, increasing)."""
        return BackedMatrix(self.path, self.group, self.columns[np.asarray(cols, dtype=np.int64)], self.layout,
                            _indptr=self.indptr)

    # ------------------------------------------------------------------ reading
    def _csr(self, data: np.ndarray, indices: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
        """Rows given by their stored values (file columns) and lengths, as CSR of kept columns."""
        data = data.astype(np.float32, copy=False)
        if self._colmap is not None:
            new = self._colmap[indices]
            keep = new >= 0
            if not keep.all():
                kept_before = np.r_[0, np.cumsum(keep)]  # kept values before each position
                bounds = np.r_[0, np.cumsum(lengths)]
                lengths = kept_before[bounds[1:]] - kept_before[bounds[:-1]]
                data, new = data[keep], new[keep]
            indices = new
        indptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        small = indptr[-1] < 2**31
        return sp.csr_matrix((data, indices.astype(np.int32 if small else np.int64),
                              indptr.astype(np.int32 if small else np.int64)), shape=(lengths.size, self.shape[1]))

    def rows(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` as a CSR float32 matrix (one read of the file)."""
        a, b = self.indptr[start], self.indptr[stop]
        return self._csr(self._data[a:b], self._indices[a:b], np.diff(self.indptr[start:stop + 1]))

    def __getitem__(self, idx) -> sp.csr_matrix:
        """Rows ``idx`` (integers, any order, or a slice) as CSR float32, in the order asked."""
        if isinstance(idx, tuple):
            raise TypeError("A BackedMatrix is indexed by rows only (X[rows]); select columns with .select().")
        if isinstance(idx, slice):
            idx = np.arange(self.shape[0])[idx]
        idx = np.asarray(idx, dtype=np.int64).ravel()
        if idx.size and (idx.min() < -self.shape[0] or idx.max() >= self.shape[0]):
            raise IndexError(f"row index out of range for {self.shape[0]} rows")
        idx = np.where(idx < 0, idx + self.shape[0], idx)
        uniq, inverse = np.unique(idx, return_inverse=True)
        starts, ends = self.indptr[uniq], self.indptr[uniq + 1]
        # runs of wanted rows close enough in the file to be read in one call
        breaks = np.flatnonzero(starts[1:] - ends[:-1] > _GAP_VALUES) + 1
        cuts = []
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, uniq.size]):  # long runs: reads of _READ_VALUES
            if ends[hi - 1] - starts[lo] > _READ_VALUES:
                marks = starts[lo] + _READ_VALUES * np.arange(1, (ends[hi - 1] - starts[lo]) // _READ_VALUES + 1)
                cuts.append(lo + np.searchsorted(starts[lo:hi], marks, side="right"))
        if cuts:
            breaks = np.unique(np.concatenate([breaks, *cuts]))
            breaks = breaks[(breaks > 0) & (breaks < uniq.size)]
        data, indices = [], []
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, uniq.size]):
            a, b = starts[lo], ends[hi - 1]
            chunk_d, chunk_i = self._data[a:b], self._indices[a:b]
            lengths = ends[lo:hi] - starts[lo:hi]
            if lengths.sum() < b - a:  # drop the values of the rows in between
                small = np.int32 if b - a < 2**31 else np.int64
                offsets = (starts[lo:hi] - a - np.r_[0, np.cumsum(lengths)[:-1]]).astype(small)
                pos = np.repeat(offsets, lengths) + np.arange(lengths.sum(), dtype=small)
                chunk_d, chunk_i = chunk_d[pos], chunk_i[pos]
                del pos
            data.append(chunk_d)
            indices.append(chunk_i)
        join = lambda parts, dtype: (parts[0] if len(parts) == 1 else np.concatenate(parts)) if parts else np.zeros(0, dtype)
        out = self._csr(join(data, np.float32), join(indices, np.int32), ends - starts)
        return out if np.array_equal(inverse, np.arange(uniq.size)) else out[inverse]

    def blocks(self, block_rows: int = BLOCK_ROWS) -> Iterator[Tuple[int, sp.csr_matrix]]:
        """``(first row, CSR block)`` over all rows, in order."""
        for s in range(0, self.shape[0], block_rows):
            yield s, self.rows(s, min(s + block_rows, self.shape[0]))


def is_backed(x) -> bool:
    """A :class:`BackedMatrix`, or an AnnData backed CSR dataset (``read_h5ad(..., backed="r").X``)."""
    return isinstance(x, BackedMatrix) or _anndata_csr_group(x) is not None


def _anndata_csr_group(x):
    group = getattr(x, "group", None)
    if group is None or getattr(x, "format", None) not in ("csr", "csc") or not hasattr(group, "file"):
        return None
    return group


def as_backed(x) -> BackedMatrix:
    """``x`` as a :class:`BackedMatrix` (an AnnData backed dataset opens its file by path)."""
    if isinstance(x, BackedMatrix):
        return x
    group = _anndata_csr_group(x)
    if group is None:
        raise TypeError(f"not a backed matrix: {type(x).__name__}")
    return BackedMatrix(group.file.filename, group.name.lstrip("/"))


def row_blocks(X, block_rows: int = BLOCK_ROWS) -> Iterator[Tuple[int, sp.csr_matrix]]:
    """``(first row, CSR block)`` over the rows of an in-memory matrix or a :class:`BackedMatrix`."""
    if isinstance(X, BackedMatrix):
        yield from X.blocks(block_rows)
    else:
        yield 0, sp.csr_matrix(X)


def column_nnz(X) -> np.ndarray:
    """Number of cells with a stored value in each column, for either kind of matrix."""
    out = np.zeros(X.shape[1], dtype=np.int64)
    for _, block in row_blocks(X):
        out += np.bincount(block.indices, minlength=X.shape[1])
    return out
