"""Seeding and device selection (one place for both)."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_device", "keep_freed_memory"]


def keep_freed_memory() -> None:
    """Ask glibc to keep freed blocks up to 32 MB in the heap instead of unmapping them.

    Training allocates and frees many minibatch x features tensors (~12 MB each); by default
    glibc returns each one to the OS and every op then pays page faults (measured: 25% of
    the step time on CPU). No effect on other platforms or allocators."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) with one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str = "auto", verbose: bool = True) -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given."""
    if isinstance(device, torch.device):
        dev = device
    elif device in (None, "auto"):
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device={device!r} is not a device name; use 'auto', 'cpu' or 'cuda'.") from err
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but torch finds no CUDA GPU "
                f"(torch {torch.__version__}). Use device='auto' or 'cpu', or install a CUDA build of torch."
            )
    if verbose:
        if dev.type == "cpu":
            print(f"scMVP: training on CPU ({torch.get_num_threads()} threads).")
        else:
            print(f"scMVP: training on {dev} ({torch.cuda.get_device_name(dev)}).")
    return dev
