"""Cells to minibatches, and minibatches to posterior moments and imputations: the one path that
:class:`scmvp.ScMVP`, the training loop, the bridge and the command line use to run a trained
module over cells.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .data import SparseBatch
from .distributions import zip_accessibility
from .module import Inputs, ScMVPModule
from .settings import fast_float32_matmul

__all__ = ["CellData", "iterate", "posterior_moments", "impute"]


#: Streamed (backed) data are shuffled by blocks of this many consecutive cells ...
STREAM_BLOCK_CELLS = 256
#: ... of which this many cells at a time (32 blocks from random places of the file) are read
#: into memory and shuffled together into minibatches.
STREAM_BUFFER_CELLS = 8192


@dataclass
class CellData:
    """Cells x features matrices (None for an unused view) and a batch one-hot.

    A view is a CSR float32 matrix in memory or a :class:`scmvp.backed.BackedMatrix` read from
    its file; :meth:`epoch` gives the training minibatches of either kind (and of one rank's
    share when several processes train together)."""

    rna: Optional[object]
    atac: Optional[object]
    batch: Optional[np.ndarray] = None  # (n_cells, n_batches) float32 one-hot

    def __post_init__(self):
        self._cache = None  # (sorted rows, CellData of those rows in memory) while an epoch reads a buffer

    @property
    def n_cells(self) -> int:
        return (self.rna if self.rna is not None else self.atac).shape[0]

    @property
    def streamed(self) -> bool:
        """Some view is read from its file (:class:`scmvp.backed.BackedMatrix`)."""
        from .backed import BackedMatrix

        return any(isinstance(x, BackedMatrix) for x in (self.rna, self.atac))

    def inputs(self, idx: np.ndarray, device: torch.device) -> Inputs:
        """The minibatch of rows ``idx``, made on ``device``."""
        if self._cache is not None:
            rows, buffer = self._cache
            return buffer.inputs(np.searchsorted(rows, idx), device)
        return Inputs(
            rna=SparseBatch.from_csr(self.rna, idx, device) if self.rna is not None else None,
            atac=SparseBatch.from_csr(self.atac, idx, device) if self.atac is not None else None,
            batch=torch.from_numpy(self.batch[idx]).to(device) if self.batch is not None else None,
        )

    def subset(self, idx: np.ndarray) -> "CellData":
        """Rows ``idx`` (sorted) in memory."""
        return CellData(*(None if x is None else sp.csr_matrix(x[idx]) for x in (self.rna, self.atac)),
                        None if self.batch is None else self.batch[idx])

    def read(self, rows: np.ndarray) -> "CellData":
        """Rows ``rows`` (sorted) in memory; from a file, read in parts of
        :data:`STREAM_BLOCK_CELLS` so that reading adds little to the result itself."""
        parts = [self.subset(rows[s:s + STREAM_BLOCK_CELLS]) for s in range(0, len(rows), STREAM_BLOCK_CELLS)]
        stack = lambda xs: None if xs[0] is None else sp.vstack(xs, format="csr")  # noqa: E731
        return CellData(stack([p.rna for p in parts]), stack([p.atac for p in parts]),
                        None if self.batch is None else self.batch[rows])

    def epoch(self, cells: np.ndarray, batch_size: int, rng: np.random.Generator, rank: int = 0,
              world: int = 1) -> Iterator[np.ndarray]:
        """One epoch of shuffled training minibatches (sorted row indices) over ``cells``
        (sorted), for process ``rank`` of ``world``; the same on every process for the same
        generator state.

        In memory: a permutation of ``cells`` cut into minibatches of ``batch_size``; with
        several processes each minibatch is shared out, so the minibatch that updates the model
        keeps its size. Streamed: ``cells`` are cut into blocks of consecutive rows
        (:data:`STREAM_BLOCK_CELLS`, smaller when there are fewer than 16 blocks a process), the
        blocks shuffled and dealt to the processes, and each
        process reads :data:`STREAM_BUFFER_CELLS` cells at a time from its blocks and shuffles them
        into minibatches of ``batch_size / world`` (every process takes as many steps as the one
        with the fewest)."""
        if not self.streamed:
            for pos in iterate(len(cells), batch_size, True, rng, min_last=2 * world):
                yield cells[pos][rank::world]
            return
        per_rank = max(2, batch_size // world)
        # at least 16 blocks a process when the cells allow (small data: blocks of a minibatch)
        size = max(per_rank, min(STREAM_BLOCK_CELLS, len(cells) // (16 * world)))
        blocks = [cells[s:s + size] for s in range(0, len(cells), size)]
        order = rng.permutation(len(blocks))
        per_buffer = max(1, STREAM_BUFFER_CELLS // size)
        seeds = rng.integers(0, 2**63 - 1, size=world)
        sizes = np.array([len(b) for b in blocks])
        # the blocks of each buffer of each rank; every rank counts every rank's minibatches
        groups = [[order[r::world][i:i + per_buffer] for i in range(0, len(order[r::world]), per_buffer)]
                  for r in range(world)]
        steps = min(sum(len(_starts(int(sizes[g].sum()), per_rank, 2)) for g in mine) for mine in groups)
        local_rng = np.random.default_rng(seeds[rank])
        done = 0
        for group in groups[rank]:
            if done >= steps:
                break
            rows = np.sort(np.concatenate([blocks[b] for b in group]))
            self._cache = None  # the last buffer goes before the next is read
            self._cache = (rows, self.read(rows))
            try:
                for pos in iterate(len(rows), per_rank, True, local_rng):
                    if done >= steps:
                        break
                    done += 1
                    yield rows[pos]
            finally:
                self._cache = None


def _starts(n: int, batch_size: int, min_last: int) -> list:
    """First positions of the minibatches of ``n`` items; a trailing minibatch smaller than
    ``min_last`` is merged into the one before (BatchNorm needs two cells on every process)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    return starts


def iterate(n: int, batch_size: int, shuffle: bool, generator: Optional[np.random.Generator],
            min_last: int = 2) -> Iterator[np.ndarray]:
    """Minibatch positions (sorted) in ``range(n)``; a trailing batch of fewer than
    ``min_last`` cells is merged into the one before (BatchNorm needs two)."""
    order = generator.permutation(n) if shuffle else np.arange(n)
    starts = _starts(n, batch_size, min_last)
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n
        yield np.sort(order[s:end])


@torch.no_grad()
@fast_float32_matmul()
def posterior_moments(module: ScMVPModule, data: CellData, device: torch.device, batch_size: int = 1024):
    """Posterior means and variances of z for every cell (deterministic, eval mode)."""
    was_training = module.training
    module.eval()
    means, variances = [], []
    for idx in iterate(data.n_cells, batch_size, False, None):
        mean, logvar = module.encode(data.inputs(idx, device))
        means.append(mean.cpu())
        variances.append(logvar.exp().cpu())
    module.train(was_training)
    return torch.cat(means).numpy(), torch.cat(variances).numpy()


@torch.no_grad()
@fast_float32_matmul()
def impute(module: ScMVPModule, data: CellData, device: torch.device, kind: str, cols: Sequence[int],
           library: Optional[float], threshold: Optional[float] = None, chunk_size: Optional[int] = None):
    """Decoder means at the posterior mean of z, in cell chunks, for the columns ``cols``.

    ``kind``: ``"rna"`` (library * rho; ``library=None`` uses each cell's observed total),
    ``"rate"`` (the ATAC Poisson rate) or ``"probability"`` (P(y > 0) =
    (1 - sigmoid(pi)) (1 - exp(-rate))). With ``threshold`` the result is CSR, keeping values
    ``>= threshold``; else a dense float32 array.
    """
    view = "rna" if kind == "rna" else "atac"
    n_out = module.n_features(view)
    chunk = chunk_size or max(64, int(2**24 // max(n_out, 1)))
    was_training = module.training
    module.eval()
    parts = []
    cols_t = torch.as_tensor(np.asarray(cols, dtype=np.int64), device=device)
    for idx in iterate(data.n_cells, chunk, False, None):
        inputs = data.inputs(idx, device)
        mean, _ = module.encode(inputs)
        # decode only the view asked for: the chunk size is set by that view's width
        rho, rate_frac, pi_logits = module.decode(mean, inputs.batch, views=(view,))
        observed = inputs.rna if view == "rna" else inputs.atac
        lib = observed.library.unsqueeze(1) if library is None else float(library)
        if kind == "rna":
            vals = rho[:, cols_t] * lib
        else:
            rate = rate_frac[:, cols_t] * lib
            vals = rate if kind == "rate" else zip_accessibility(rate, pi_logits[:, cols_t])
        vals = vals.float().cpu().numpy()
        if threshold is not None:
            vals = sp.csr_matrix(np.where(vals >= threshold, vals, 0.0).astype(np.float32))
        parts.append(vals)
    module.train(was_training)
    if threshold is not None:
        return sp.vstack(parts, format="csr")
    return np.concatenate(parts, axis=0)
