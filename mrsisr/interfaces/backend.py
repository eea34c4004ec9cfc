"""The FSL-or-python choice shared by the anatomical nodes (:class:`SkullStrip`, :class:`CoRegister`).

Each such node takes ``backend`` = ``auto`` | ``fsl`` | ``python`` and reports the one that
ran in ``backend_used``: ``auto`` means FSL when it is installed (``FSLDIR`` set and the tool
on ``PATH``), else the pure-python implementation.
"""

from __future__ import annotations

import os
import shutil

from nipype.interfaces.base import BaseInterfaceInputSpec, TraitedSpec, traits

__all__ = ["BackendInputSpec", "BackendOutputSpec", "fsl_available", "resolve_backend"]


def fsl_available(tool: str) -> bool:
    """True when FSL is installed: ``FSLDIR`` is set and ``tool`` is on ``PATH``."""
    return bool(os.environ.get("FSLDIR")) and shutil.which(tool) is not None


def resolve_backend(backend: str, tool: str) -> str:
    """Turn ``auto`` into ``fsl`` or ``python``; refuse ``fsl`` when FSL is missing."""
    if backend not in ("auto", "fsl", "python"):
        raise ValueError(f"backend must be 'auto', 'fsl' or 'python'; got {backend!r}.")
    if backend == "auto":
        return "fsl" if fsl_available(tool) else "python"
    if backend == "fsl" and not fsl_available(tool):
        missing = "FSLDIR is not set" if not os.environ.get("FSLDIR") else f"'{tool}' is not on PATH"
        raise RuntimeError(
            f"backend='fsl' was requested but FSL is not usable ({missing}); "
            "install FSL or use backend='python' (or 'auto')."
        )
    return backend


class BackendInputSpec(BaseInterfaceInputSpec):
    backend = traits.Enum(
        "auto",
        "fsl",
        "python",
        usedefault=True,
        desc="'fsl', 'python' or 'auto' (FSL when FSLDIR is set and the FSL tool is on PATH)",
    )


class BackendOutputSpec(TraitedSpec):
    backend_used = traits.Str(desc="the backend that ran: 'fsl' or 'python'")
