"""Where and how networks run: the device choice, and process settings that make CPU inference and training fast.

PyTorch's CPU tensors come straight from ``malloc``. glibc serves blocks above its mmap threshold
(128 kB, adapting up to 32 MB) with fresh ``mmap`` calls and returns them on ``free``, so every large
activation of the network (tens of MB at the 3× MRI grid) is page-faulted in anew on each use;
that costs as much as the arithmetic of the elementwise layers. :func:`tune_cpu_allocator` raises
the thresholds so freed activations are reused. It changes no result, only where memory comes
from, and it is a no-op where glibc's ``mallopt`` is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch

__all__ = ["resolve_device", "tune_cpu_allocator"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def tune_cpu_allocator(mmap_threshold: int = 1 << 30, trim_threshold: int = 4 << 30) -> bool:
    """Keep large freed blocks in the heap for reuse (glibc ``mallopt``). Returns True if applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    applied = bool(mallopt(_M_MMAP_THRESHOLD, int(min(mmap_threshold, 2**31 - 1))))
    applied &= bool(mallopt(_M_TRIM_THRESHOLD, int(min(trim_threshold, 2**31 - 1))))
    _done = applied
    return applied


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
