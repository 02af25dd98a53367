"""Data-parallel training across processes with ``torch.distributed`` (what ``torchrun`` starts).

Each process (rank) trains the same model on its own share of every epoch's minibatches and
:class:`torch.nn.parallel.DistributedDataParallel` averages the gradients; gloo on CPU, NCCL on
GPUs. One process group per run, set up from the environment ``torchrun`` writes (``RANK``,
``WORLD_SIZE``, ``MASTER_ADDR``, ...). Without it everything here is the single-process case:
rank 0 of 1, and the collective helpers do nothing.

    torchrun --standalone --nproc_per_node=2 -m scmvp fit DATA -o OUT
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["init_from_env", "active", "rank", "world_size", "is_main", "all_reduce_sum", "broadcast_module_state",
           "broadcast_object", "gather_object", "local_device", "launched_by_torchrun"]


def active() -> bool:
    """A process group is set up (more than one process may be training)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, the process that writes results (always true without a process group)."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env(device: str = "auto") -> bool:
    """Join the process group ``torchrun`` describes in the environment (NCCL when the run uses
    CUDA, else gloo); returns whether one was joined. A no-op in a single process."""
    if active() or not launched_by_torchrun():
        return active()
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def local_device(device: str) -> str:
    """The device of this rank: with CUDA, the GPU ``torchrun`` gave it (``LOCAL_RANK``)."""
    if active() and (device == "cuda" or (device == "auto" and torch.cuda.is_available())):
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def all_reduce_sum(values: np.ndarray, device: Optional[torch.device] = None) -> np.ndarray:
    """Sum of ``values`` over ranks (float64), identical on every rank; ``values`` itself
    without a process group."""
    if not active():
        return np.asarray(values, dtype=np.float64)
    t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=device or _collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().numpy()


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every rank (a picklable value)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_collective_device())
    return box[0]


def gather_object(obj) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` without a process group)."""
    if not active():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_module_state(module: torch.nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``src`` to the other ranks."""
    if not active():
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.dtype == torch.bool:  # gloo broadcasts no bool tensors
                carrier = t.data.to(torch.uint8)
                dist.broadcast(carrier, src=src)
                t.data.copy_(carrier.bool())
            else:
                dist.broadcast(t.data, src=src)


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
