"""What a fit cost and where it ran: the record ``scmvp fit`` writes as ``OUT/run.json``.

>>> rec = run_record(n_cells=10, n_genes=5, n_peaks=7, epochs=2, fit_seconds=1.5, device="cpu")
>>> sorted(rec)[:4], rec["world_size"]
(['bytes_read', 'cells', 'device', 'epochs'], 1)
"""
from __future__ import annotations

import platform
import resource
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

__all__ = ["cpu_model", "peak_rss_bytes", "bytes_read", "package_versions", "run_record"]


def cpu_model() -> str:
    """The processor's model name with its family and model numbers (fit times are only
    comparable on the same processor; two "AMD EPYC" machines differed by 1.6-1.7x)."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        if "model name" in info:
            extra = [f"{k} {info[k]}" for k in ("cpu family", "model") if k in info]
            return info["model name"] + (f" ({', '.join(extra)})" if extra else "")
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (bytes): VmHWM of /proc/self/status.

    Not ``getrusage``'s ``ru_maxrss`` where /proc exists: Linux carries that value across
    ``exec``, so a process started by a large parent reports the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def bytes_read() -> Optional[int]:
    """Bytes this process has read through system calls (files, including cached pages;
    ``rchar`` of /proc/self/io), or None where the kernel does not say."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def package_versions() -> dict:
    """Versions of Python and of the packages a fit uses (those installed)."""
    out = {"python": platform.python_version()}
    for name in ("scmvp", "torch", "numpy", "scipy", "scikit-learn", "h5py", "anndata", "mudata"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_record(n_cells: int, n_genes: int, n_peaks: int, epochs: int, fit_seconds: float, device: str,
               world_size: int = 1, peak_rss: Optional[list] = None, read: Optional[int] = None,
               streamed: bool = False, threads: Optional[int] = None) -> dict:
    """One fit's cost: sizes, epochs, seconds, peak RSS per process, device, world size,
    processor and versions (``peak_rss`` defaults to this process's)."""
    import torch

    rss = peak_rss if peak_rss is not None else [peak_rss_bytes()]
    return {
        "cells": int(n_cells), "genes": int(n_genes), "peaks": int(n_peaks), "epochs": int(epochs),
        "fit_seconds": round(float(fit_seconds), 3), "peak_rss_bytes": int(max(rss)),
        "peak_rss_bytes_per_process": [int(r) for r in rss], "bytes_read": read, "streamed": bool(streamed),
        "device": str(device), "world_size": int(world_size),
        "threads_per_process": int(threads if threads is not None else torch.get_num_threads()),
        "processor": cpu_model(), "platform": platform.platform(), "versions": package_versions(),
    }
