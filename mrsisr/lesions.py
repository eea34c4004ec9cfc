"""Lesion profiles: the one home of the shapes that probes and augmentations add to maps and MRI.

Both take a distance (any unit, same as the radius) and use only arithmetic and ``.clip``, so they
work unchanged on NumPy arrays and on torch tensors (the training data's device path).

* :func:`gaussian_blob` — peak 1 at the centre, 1/2 at ``radius``: a metabolic lesion without
  edges (the fidelity probe's MRI-occult lesion; the training's metabolic-only lesion).
* :func:`soft_ball` — 1 inside, 0 outside, a smooth (cubic) edge ``edge`` wide centred on
  ``radius``: a partial-volume-like ball (the fidelity probe's and the training's MRI-only lesion).

>>> import numpy as np
>>> gaussian_blob(np.array([0.0, 2.0]), 2.0).tolist()
[1.0, 0.5]
>>> soft_ball(np.array([0.0, 3.0, 9.0]), 3.0).tolist()
[1.0, 0.5, 0.0]
"""

from __future__ import annotations

from typing import TypeVar

Array = TypeVar("Array")

__all__ = ["gaussian_blob", "soft_ball", "NEIGHBOURHOOD_VOXELS"]

#: MRSI voxels beyond a lesion's radius that belong to its neighbourhood: where the fidelity study
#: measures a lesion's effect (the leak of an MRI-only lesion) and where training focuses its loss.
NEIGHBOURHOOD_VOXELS = 2


def gaussian_blob(distance: Array, radius: float | Array) -> Array:
    """``2^-(distance/radius)²``: a Gaussian of peak 1 falling to 1/2 at ``radius`` (half width at half maximum)."""
    return 0.5 ** ((distance / radius) ** 2)


def soft_ball(distance: Array, radius: float | Array, edge: float | Array = 1.0) -> Array:
    """Fraction inside a ball of ``radius``: 1 − smoothstep over an edge ``edge`` wide (0.5 at ``radius``)."""
    t = ((distance - radius) / edge + 0.5).clip(0.0, 1.0)
    return 1.0 - t * t * (3.0 - 2.0 * t)
