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


@dataclass
class CellData:
    """Cells x features CSR float32 matrices (None for an unused view) and a batch one-hot."""

    rna: Optional[sp.csr_matrix]
    atac: Optional[sp.csr_matrix]
    batch: Optional[np.ndarray] = None  # (n_cells, n_batches) float32 one-hot

    @property
    def n_cells(self) -> int:
        return (self.rna if self.rna is not None else self.atac).shape[0]

    def inputs(self, idx: np.ndarray, device: torch.device) -> Inputs:
        """The minibatch of rows ``idx``, made on ``device``."""
        return Inputs(
            rna=SparseBatch.from_csr(self.rna, idx, device) if self.rna is not None else None,
            atac=SparseBatch.from_csr(self.atac, idx, device) if self.atac is not None else None,
            batch=torch.from_numpy(self.batch[idx]).to(device) if self.batch is not None else None,
        )


def iterate(n: int, batch_size: int, shuffle: bool, generator: Optional[np.random.Generator]) -> Iterator[np.ndarray]:
    """Minibatch row indices; a trailing batch of one cell is merged (BatchNorm needs two)."""
    order = generator.permutation(n) if shuffle else np.arange(n)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < 2:
        starts.pop()
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
