"""Training: minibatches from CSR rows, Adam, KL warm-up with a normal prior, GMM
initialisation, cycle terms after warm-up, gradient clipping, early stopping on held-out
cells, loss history, progress and a NaN guard. Optimisation only; the math is in module.py.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional

import numpy as np
import scipy.sparse as sp
import torch

from .data import SparseBatch
from .module import Inputs, ScMVPModule
from .settings import fast_float32_matmul, keep_freed_memory

__all__ = ["TrainData", "TrainConfig", "default_max_epochs", "train", "iterate", "posterior_means", "posterior_moments"]


@dataclass
class TrainData:
    """Cells x features CSR float32 matrices (None for an unused view) and a batch one-hot."""

    rna: Optional[sp.csr_matrix]
    atac: Optional[sp.csr_matrix]
    batch: Optional[np.ndarray] = None  # (n_cells, n_batches) float32 one-hot

    @property
    def n_cells(self) -> int:
        return (self.rna if self.rna is not None else self.atac).shape[0]

    def inputs(self, idx: np.ndarray, device: torch.device) -> Inputs:
        return Inputs(
            rna=SparseBatch.from_csr(self.rna, idx, device) if self.rna is not None else None,
            atac=SparseBatch.from_csr(self.atac, idx, device) if self.atac is not None else None,
            batch=torch.from_numpy(self.batch[idx]).to(device) if self.batch is not None else None,
        )


def default_max_epochs(n_cells: int) -> int:
    """About 4,800 minibatch steps of 128 cells, between 20 and 400 epochs: 60 epochs at 10k
    cells (the first 12 are the warm-up), 120 at 5k, 20 from 31k cells on. Measured on the
    SNARE-seq cortex data (10k cells): early stopping ended such a run at epoch 33, and the
    earlier 200-epoch schedule stopped early at epochs 61-62 anyway, at 2.5x the time."""
    return int(min(400, max(20, round(4800 * 128 / max(n_cells, 1)))))


@dataclass
class TrainConfig:
    max_epochs: int
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 1e-6
    warmup_fraction: float = 0.2  # share of epochs with a normal prior and a KL ramp ...
    # ... but at most 12 epochs (the warm-up of the 60-epoch default at 10k cells). On 2,000 bundled
    # cells (5,000 peaks) the uncapped default (307 epochs, 61 of warm-up) overfit the decoders before the
    # mixture existed: the held-out loss rose from the first epoch after the warm-up, early
    # stopping restored that epoch's state, a mixture fitted once and never trained (mixture
    # clusters ARI 0.236 / 0.230, seeds 42 / 1); capped: 0.388 / 0.263 / 0.491 (seeds 42 / 1 / 2).
    max_warmup_epochs: int = 12
    validation_fraction: float = 0.1
    # epochs without a 0.1% improvement of the held-out loss before stopping. 10, not 20: on the
    # bundled 10k cells (seed 0) the last such improvement came at epoch 29 and the gaps between
    # improvements were at most 6 epochs, so 20 epochs of patience trained 49 epochs and 10 stop
    # at 39 (a fifth less time; 34-39 epochs over seeds 0-2).
    patience: int = 10
    # keep the weights of the last epoch (as scvi-tools does) rather than those of the best
    # held-out loss: that loss flattens (within 0.4%) while the mixture goes on consolidating
    # (10k cells, seed 0: mixture ARI 0.50 at epoch 24, 0.575-0.58 at 29-49), and at 2k cells it rises
    # from epoch ~30 as the decoders overfit while the clusters still improve (bench/RESULTS.md).
    restore_best: bool = False
    early_stopping: bool = True
    grad_clip: float = 10.0
    cycle_weight: float = 1.0
    progress_bar: bool = True
    callback: Optional[Callable[[int, int, Dict[str, float]], None]] = None

    @property
    def warmup_epochs(self) -> int:
        return min(self.max_epochs, max(1, min(self.max_warmup_epochs, round(self.warmup_fraction * self.max_epochs))))


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
def posterior_moments(module: ScMVPModule, data: TrainData, device: torch.device, batch_size: int = 1024):
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


def posterior_means(module: ScMVPModule, data: TrainData, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """Posterior means of z for every cell (deterministic, eval mode)."""
    return posterior_moments(module, data, device, batch_size)[0]


_NAN_HELP = (
    "The training loss became {value} at epoch {epoch}. Likely causes: a learning rate too high "
    "for this data (try lr=1e-3), input that is not raw counts (normalised or scaled values), or "
    "cells with extreme totals. Check the input and refit."
)


def _check_finite(value: torch.Tensor, epoch: int) -> None:
    if not torch.isfinite(value):
        raise FloatingPointError(_NAN_HELP.format(value=float(value.detach()), epoch=epoch))


@fast_float32_matmul()
def train(
    module: ScMVPModule,
    data: TrainData,
    config: TrainConfig,
    device: torch.device,
    seed: int = 0,
    verbose: bool = True,
) -> Dict[str, List[float]]:
    """Fit ``module`` in place; returns the per-epoch loss history (terms by name)."""
    from tqdm.auto import tqdm

    keep_freed_memory()
    rng = np.random.default_rng(seed)
    n = data.n_cells
    n_val = int(round(config.validation_fraction * n)) if n >= 200 else 0
    perm = rng.permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    module.to(device).train()
    opt = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    warm = config.warmup_epochs
    steps_per_epoch = max(1, math.ceil(len(train_idx) / config.batch_size))
    warm_steps = warm * steps_per_epoch
    history: Dict[str, List[float]] = {}
    best, best_state, stale, step = math.inf, None, 0, 0

    bar = tqdm(range(1, config.max_epochs + 1), desc="scMVP", unit="epoch", disable=not config.progress_bar, leave=False)
    for epoch in bar:
        in_warmup = epoch <= warm
        sums: Dict[str, float] = {}
        n_seen = 0
        for pos in iterate(len(train_idx), config.batch_size, True, rng):
            idx = train_idx[pos]
            beta = min(1.0, (step + 1) / warm_steps) if in_warmup else 1.0
            out = module.loss(
                data.inputs(idx, device),
                beta=beta,
                use_gmm=not in_warmup,
                cycle_weight=0.0 if in_warmup else config.cycle_weight,
            )
            _check_finite(out.loss, epoch)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            opt.step()
            step += 1
            for k, v in out.scalars().items():
                sums[k] = sums.get(k, 0.0) + v * len(idx)
            n_seen += len(idx)
        record = {k: v / n_seen for k, v in sums.items()}
        if n_val:
            record["validation_loss"] = _validation_loss(module, data, val_idx, device, config, in_warmup)
        record["epoch"] = epoch
        _append(history, record, epoch)
        bar.set_postfix(loss=f"{record['loss']:.1f}", refresh=False)
        if config.callback is not None:
            config.callback(epoch, config.max_epochs, record)

        if epoch == warm and module.prior_kind == "gmm" and not bool(module.prior.initialised):
            module.prior.initialise(*posterior_moments(module, data, device), seed=seed)
        if not in_warmup and n_val and config.early_stopping:
            score = record["validation_loss"]
            if score < best - 1e-3 * abs(best if math.isfinite(best) else 0.0):
                best, stale = score, 0
                if config.restore_best:
                    best_state = copy.deepcopy(module.state_dict())
            else:
                stale += 1
                if stale >= config.patience:
                    if verbose:
                        print(f"scMVP: early stopping at epoch {epoch} (best held-out loss {best:.2f}).")
                    break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    if not bool(module.prior.initialised):
        # normal prior (or no epoch after warm-up): the mixture is fitted for cluster calls only
        module.prior.initialise(*posterior_moments(module, data, device), seed=seed)
    module.eval()
    return history


def _append(history: Dict[str, List[float]], record: Dict[str, float], epoch: int) -> None:
    """Add one epoch; a term absent in some epochs (e.g. ``cycle`` during warm-up) is NaN there,
    so every column has one value per epoch."""
    for k in set(history) | set(record):
        column = history.setdefault(k, [float("nan")] * (epoch - 1))
        column.append(record.get(k, float("nan")))


@torch.no_grad()
def _validation_loss(module, data: TrainData, val_idx, device, config: TrainConfig, in_warmup: bool) -> float:
    module.eval()
    total, count = 0.0, 0
    # training-sized chunks: the loss builds several chunk x peaks matrices, and 1,024-cell
    # chunks made validation the memory peak of a fit (10k cells: 1.55 against 1.13 GB)
    for pos in iterate(len(val_idx), config.batch_size, False, None):
        idx = val_idx[pos]
        out = module.loss(
            data.inputs(idx, device),
            beta=1.0,
            use_gmm=not in_warmup,
            cycle_weight=0.0 if in_warmup else config.cycle_weight,
        )
        total += float(out.loss) * len(idx)
        count += len(idx)
    module.train()
    return total / max(count, 1)
