"""Process settings: seeding, device selection, and the CPU's memory and matmul paths."""
from __future__ import annotations

import contextlib
import functools
import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "resolve_device", "keep_freed_memory", "fast_float32_matmul"]


#: glibc's documented defaults of M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, restored after training.
_GLIBC_DEFAULT_THRESHOLD = 128 * 1024


@contextlib.contextmanager
def keep_freed_memory():
    """While training, ask glibc to keep freed blocks up to 32 MB in the heap instead of
    unmapping them.

    Training allocates and frees many minibatch x features tensors (~12 MB each); by default
    glibc returns each one to the OS and every op then pays page faults (measured: 25% of the
    step time on CPU). The thresholds go back to glibc's defaults (128 KiB) when training ends;
    glibc's dynamic adjustment of the mmap threshold stays off for the rest of the process.
    Set the environment variable ``SCMVP_KEEP_FREED_MEMORY=0`` to leave the allocator alone.
    No effect on other platforms or allocators.
    """
    import ctypes
    import sys

    libc = None
    if sys.platform.startswith("linux") and os.environ.get("SCMVP_KEEP_FREED_MEMORY", "1") != "0":
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 256 * 1024 * 1024)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            libc = None
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(-3, _GLIBC_DEFAULT_THRESHOLD)
            libc.mallopt(-1, _GLIBC_DEFAULT_THRESHOLD)


def _keeps_float32(matmul) -> bool:
    """Whether ``matmul`` multiplies float32 matrices to float32 accuracy: 1 + 2**-9 is not a
    bfloat16 number (7 stored mantissa bits), so a product computed in plain bfloat16 is off by
    ~0.2% here while float32 (or a compensated bfloat16 scheme) gets it exactly."""
    a = torch.full((128, 256), 1.0 + 2.0**-9)
    b = torch.ones(256, 512)
    return bool(torch.allclose(matmul(a, b), torch.full((128, 512), 256.5), rtol=1e-5, atol=0.0))


@contextlib.contextmanager
def _onednn_float32_matmul_as_bf16():
    """Set torch's oneDNN float32-matmul switch to ``"bf16"`` for the block, then restore it."""
    switch = torch.backends.mkldnn.matmul
    old = switch.fp32_precision
    switch.fp32_precision = "bf16"
    try:
        yield
    finally:
        switch.fp32_precision = old


@functools.lru_cache(maxsize=1)
def _onednn_float32_matmul_available() -> bool:
    """True where torch has the oneDNN float32-matmul switch (torch >= 2.9) and, with it set
    to ``"bf16"``, this CPU's products still come out at float32 accuracy (probed once)."""
    switch = getattr(torch.backends.mkldnn, "matmul", None)
    if not torch.backends.mkldnn.is_available() or not hasattr(switch, "fp32_precision"):
        return False
    try:
        with _onednn_float32_matmul_as_bf16():
            return _keeps_float32(torch.matmul) and _keeps_float32(lambda a, b: torch.nn.functional.linear(a, b.T))
    except (RuntimeError, ValueError):
        return False


@contextlib.contextmanager
def fast_float32_matmul():
    """Run CPU float32 matrix products through oneDNN's bfloat16-capable kernels, where they
    keep float32 accuracy; restores the previous setting on exit.

    On the AMD EPYC (Zen 5, AVX512-BF16) the benchmarks run on, torch's default float32
    products (MKL) take ~2x as long as oneDNN's with ``torch.backends.mkldnn.matmul.fp32_precision
    = "bf16"``, whose results there are float32-exact (1 + 2**-9 survives; relative error
    against float64 2e-7 to 6e-7, MKL's 2e-7 to 3e-7); a training step takes 17% less time. On
    a CPU where that setting would round the inputs to bfloat16 (e.g. Intel AMX), a probe at
    first use finds so and nothing changes; likewise on torch < 2.9 and on GPU tensors.

    >>> import torch
    >>> with fast_float32_matmul():
    ...     (torch.ones(2, 3) @ torch.ones(3, 2)).tolist()
    [[3.0, 3.0], [3.0, 3.0]]
    """
    if not _onednn_float32_matmul_available():
        yield
        return
    with _onednn_float32_matmul_as_bf16():
        yield


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
