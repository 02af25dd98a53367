"""Training: Adam over shuffled minibatches, KL warm-up with a normal prior, K chosen and the
GMM initialised at its end, cycle terms after it, gradient clipping, early stopping on held-out
cells, loss history, progress and a NaN guard. Optimisation only: the math is in module.py, the
settings in config.py, the minibatches in inference.py, the process group in distributed.py.

With several processes (``torchrun``), :class:`~torch.nn.parallel.DistributedDataParallel`
averages the gradients of each rank's share of every minibatch, the held-out loss is summed over
the ranks' shares of the held-out cells, and rank 0 fits the mixture and sends it to the others,
so every rank makes the same decisions (early stop, warm-up end) with the same weights.
"""
from __future__ import annotations

import copy
import math
import sys
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from . import distributed
from .config import ScMVPConfig
from .inference import CellData, iterate, posterior_moments
from .module import ScMVPModule
from .prior import estimate_n_components
from .settings import fast_float32_matmul, keep_freed_memory

__all__ = ["train", "lines_progress", "scored_held_out", "improves"]

#: Early stopping scores at most this many held-out cells (:func:`scored_held_out`).
MAX_SCORED_HELD_OUT = 10_000
#: K is chosen and the mixture fitted on at most this many cells (a random subset beyond): at
#: least 400 per component at the largest K, and the cells x K arrays of the fit stay small.
MAX_MIXTURE_CELLS = 20_000

#: early stopping counts an epoch as progress when the held-out loss beats the best by this share
MIN_IMPROVEMENT = 1e-3


def improves(loss: float, best: float) -> bool:
    """Whether a held-out loss improves on the best so far by :data:`MIN_IMPROVEMENT` (0.1%).

    >>> improves(99.0, 100.0), improves(99.95, 100.0), improves(5.0, float("inf"))
    (True, False, True)
    """
    return loss < best - MIN_IMPROVEMENT * abs(best if math.isfinite(best) else 0.0)

#: An epoch callback: (epoch, max_epochs, record of the epoch's losses by name).
Callback = Callable[[int, int, Dict[str, float]], None]


def lines_progress(every: Optional[int] = None, printer: Callable[[str], None] = print) -> Callback:
    """A progress callback printing one line every ``every`` epochs (default: ~20 lines a fit),
    for logs, CI and knitr, where a live bar would fill the file with partial lines."""

    def callback(epoch: int, max_epochs: int, record: dict) -> None:
        step = every or max(1, max_epochs // 20)
        if epoch == 1 or epoch % step == 0 or epoch == max_epochs:
            held = record.get("validation_loss")
            extra = f", held-out {held:.2f}" if held is not None else ""
            printer(f"scMVP: epoch {epoch}/{max_epochs}, loss {record['loss']:.2f}{extra}")
            sys.stdout.flush()

    return callback


def _interactive() -> bool:
    """A terminal or a notebook, where a live progress bar renders."""
    return "ipykernel" in sys.modules or sys.stderr.isatty()


_NAN_HELP = (
    "The training loss became {value} at epoch {epoch}. Likely causes: a learning rate too high "
    "for this data (try lr=1e-3), input that is not raw counts (normalised or scaled values), or "
    "cells with extreme totals. Check the input and refit."
)


_INTERRUPTED = (
    "scMVP: training was interrupted after {done} of {max_epochs} epochs. The model keeps what it "
    "learned until then and can be used (embedding, clusters, imputation, save); fit again to train "
    "for the full schedule."
)


def _check_finite(value: torch.Tensor, epoch: int, world: int = 1) -> None:
    bad = not bool(torch.isfinite(value))
    if world > 1:  # every rank stops together (a rank alone would leave the others waiting)
        bad = bool(distributed.all_reduce_sum(np.array([float(bad)]))[0] > 0)
    if bad:
        raise FloatingPointError(_NAN_HELP.format(value=float(value.detach()), epoch=epoch))


@fast_float32_matmul()
@keep_freed_memory()
def train(
    module: ScMVPModule,
    data: CellData,
    config: ScMVPConfig,
    max_epochs: int,
    device: torch.device,
    verbose: bool = True,
    progress_bar: bool = True,
    callback: Optional[Callback] = None,
) -> Dict[str, List[float]]:
    """Fit ``module`` in place for at most ``max_epochs`` epochs with the training settings of
    ``config``; returns the per-epoch loss history (terms by name).

    An interrupt (Ctrl-C, i.e. ``KeyboardInterrupt``, also raised by ``callback``) ends training
    with a warning that says after how many epochs; the module is then finished as after an
    early stop (mixture fitted if the warm-up did not end, evaluation mode), so it can be used."""
    from tqdm.auto import tqdm

    seed = config.seed
    rng = np.random.default_rng(seed)
    n = data.n_cells
    n_val = int(round(config.validation_fraction * n)) if n >= 200 else 0
    perm = rng.permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    rank, world = distributed.rank(), distributed.world_size()
    verbose = verbose and rank == 0
    # this rank's share of the scored held-out cells, in memory for the whole fit (read once
    # from a file instead of as scattered rows every epoch)
    held_out = data.read(scored_held_out(val_idx)[rank::world]) if n_val else None

    module.to(device).train()
    model = module
    if world > 1:
        model = _data_parallel(module, device)
    # the parameters whose shape is K are a group of their own: choosing K replaces them
    k_ids = {id(p) for p in module.k_parameters()}
    opt = torch.optim.Adam(
        [{"params": [p for p in module.parameters() if id(p) not in k_ids]},
         {"params": module.k_parameters()}],
        lr=config.lr, weight_decay=config.weight_decay, fused=True)
    choose_k = config.n_clusters is None
    warm = config.warmup_epochs(max_epochs)
    steps_per_epoch = max(1, math.ceil(len(train_idx) / config.batch_size))
    warm_steps = warm * steps_per_epoch
    history: Dict[str, List[float]] = {}
    best, best_state, stale, step = math.inf, None, 0, 0

    # progress: a live bar in a terminal or notebook, else a line every few epochs
    live = progress_bar and rank == 0 and _interactive()
    lines = lines_progress() if progress_bar and rank == 0 and not live else None
    bar = tqdm(range(1, max_epochs + 1), desc="scMVP", unit="epoch", disable=not live, leave=False)
    try:
        for epoch in bar:
            in_warmup = epoch <= warm
            sums: Dict[str, float] = {}
            n_seen = 0
            for idx in data.epoch(train_idx, config.batch_size, rng, rank, world):
                beta = min(1.0, (step + 1) / warm_steps) if in_warmup else 1.0
                out = model(
                    data.inputs(idx, device),
                    beta=beta,
                    use_gmm=not in_warmup,
                    cycle_weight=0.0 if in_warmup else config.cycle_weight,
                    atac_weight=module.atac_weight_at(in_warmup),
                )
                _check_finite(out.loss, epoch, world)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
                opt.step()
                step += 1
                for k, v in out.scalars().items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                n_seen += len(idx)
            record = _epoch_means(sums, n_seen, world)
            if n_val:
                record["validation_loss"] = _validation_loss(module, held_out, device, config, in_warmup)
            record["epoch"] = epoch
            _append(history, record, epoch)
            bar.set_postfix(loss=f"{record['loss']:.1f}", refresh=False)
            if lines is not None:
                lines(epoch, max_epochs, record)
            if callback is not None:
                callback(epoch, max_epochs, record)

            if epoch == warm and module.prior_kind == "gmm" and not bool(module.prior.initialised):
                replaced = opt.param_groups[1]["params"]
                if _initialise_prior(module, data, device, seed, choose_k, verbose):
                    for p in replaced:
                        opt.state.pop(p, None)
                    opt.param_groups[1]["params"] = module.k_parameters()
                    if world > 1:  # the new parameters join the gradient all-reduce
                        model = _data_parallel(module, device)
            if not in_warmup and n_val and config.early_stopping:
                score = record["validation_loss"]
                if improves(score, best):
                    best, stale = score, 0
                    if config.restore_best:
                        best_state = copy.deepcopy(module.state_dict())
                else:
                    stale += 1
                    if stale >= config.patience:
                        if verbose:
                            print(f"scMVP: early stopping at epoch {epoch} (best held-out loss {best:.2f}).")
                        break
    except KeyboardInterrupt:
        # Ctrl-C in Python, or an R interrupt, which reticulate raises as KeyboardInterrupt. An
        # optimiser step is one call into torch, so the weights are those of the last whole step.
        # stacklevel: the caller of train(), past the two decorators' frames
        warnings.warn(_INTERRUPTED.format(done=len(history.get("loss", [])), max_epochs=max_epochs),
                      RuntimeWarning, stacklevel=4)
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    if not bool(module.prior.initialised):
        # normal prior (or no epoch after warm-up): the mixture is fitted for cluster calls only
        _initialise_prior(module, data, device, seed, choose_k, verbose)
    module.eval()
    return history


def _data_parallel(module: ScMVPModule, device) -> torch.nn.parallel.DistributedDataParallel:
    """``module`` wrapped for data-parallel training over the process group."""
    # parameters unused in some steps: the mixture during the warm-up, the cycle encoders' heads
    return torch.nn.parallel.DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)


def _initialise_prior(module: ScMVPModule, data: CellData, device, seed: int, choose_k: bool,
                      verbose: bool = False) -> bool:
    """Fit the mixture to the posterior of every cell (at most :data:`MAX_MIXTURE_CELLS`): on
    rank 0, which sends it to the others.
    With ``choose_k``, K is first set to the number of groups in the embedding
    (:func:`~scmvp.prior.estimate_n_components`); returns whether the mixture got new parameters."""
    moments = posterior_moments(module, data, device) if distributed.is_main() else None
    if moments is not None and len(moments[0]) > MAX_MIXTURE_CELLS:
        # K x d parameters need no more cells, and per-cell x K arrays would grow with the data
        keep = np.sort(np.random.default_rng(seed).choice(len(moments[0]), MAX_MIXTURE_CELLS, replace=False))
        moments = (moments[0][keep], moments[1][keep])
    resized = False
    if choose_k:
        k = distributed.broadcast_object(estimate_n_components(moments[0], seed=seed) if moments is not None else None)
        if verbose:
            print(f"scMVP: n_clusters not given; K = {k}, the groups of the embedding after the warm-up.")
        if k != module.prior.n_clusters:
            module.resize_mixture(k)
            resized = True
    if moments is not None:
        module.prior.initialise(*moments, seed=seed)
    distributed.broadcast_module_state(module.prior)
    return resized


def _epoch_means(sums: Dict[str, float], n_seen: int, world: int) -> Dict[str, float]:
    """Per-cell means of the epoch's loss terms (over every rank's cells)."""
    names = sorted(sums)
    if world > 1:
        totals = distributed.all_reduce_sum(np.array([sums[k] for k in names] + [n_seen]))
        sums, n_seen = dict(zip(names, totals[:-1].tolist())), float(totals[-1])
    return {k: sums[k] / max(n_seen, 1) for k in names}


def _append(history: Dict[str, List[float]], record: Dict[str, float], epoch: int) -> None:
    """Add one epoch; a term absent in some epochs (e.g. ``cycle`` during warm-up) is NaN there,
    so every column has one value per epoch."""
    for k in set(history) | set(record):
        column = history.setdefault(k, [float("nan")] * (epoch - 1))
        column.append(record.get(k, float("nan")))


def scored_held_out(val_idx: np.ndarray) -> np.ndarray:
    """The held-out cells whose loss decides early stopping: all of them, or
    :data:`MAX_SCORED_HELD_OUT` spread evenly over them (``val_idx`` is a sorted random sample,
    so any evenly spaced part of it is one too). The mean loss of 10,000 cells moves by far less
    than the 0.1% that counts as progress, and larger held-out sets cost memory (a streamed fit
    keeps them in memory) and time every epoch.

    >>> len(scored_held_out(np.arange(0, 300_000, 3)))
    10000
    """
    if len(val_idx) <= MAX_SCORED_HELD_OUT:
        return val_idx
    return val_idx[np.linspace(0, len(val_idx) - 1, MAX_SCORED_HELD_OUT).round().astype(np.int64)]


@torch.no_grad()
def _validation_loss(module, held_out: CellData, device, config: ScMVPConfig, in_warmup: bool) -> float:
    """Mean loss of this rank's scored held-out cells, combined over the ranks."""
    module.eval()
    total, count = 0.0, 0
    # training-sized chunks: the loss builds several chunk x peaks matrices, and 1,024-cell
    # chunks made validation the memory peak of a fit (10k cells: 1.55 against 1.13 GB)
    for idx in iterate(held_out.n_cells, config.batch_size, False, None):
        out = module.loss(
            held_out.inputs(idx, device),
            beta=1.0,
            use_gmm=not in_warmup,
            cycle_weight=0.0 if in_warmup else config.cycle_weight,
            atac_weight=module.atac_weight_at(in_warmup),
        )
        total += float(out.loss) * len(idx)
        count += len(idx)
    module.train()
    total, count = distributed.all_reduce_sum(np.array([total, count]))
    return float(total / max(count, 1))
