"""Metabolite ratio maps (tCho/NAA, tCho/tCr, NAA/tCr) from super-resolved maps, with their masks.

Clinicians read ratios rather than institutional-unit concentrations: they cancel the
receive-coil profile and the unknown scaling that the fitting tool leaves in each map.
A ratio is defined where both maps are valid (inside both masks) and the denominator is
above a floor; elsewhere the ratio is 0 and its mask 0. The floor is relative, a fraction
of the denominator's 99th percentile on its mask (the maps have no absolute unit), so a
denominator near zero (noise, partial volume at the mask edge) cannot make a huge ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrsisr.defaults import RATIO_DENOMINATOR_FLOOR

__all__ = ["RATIOS", "RatioMap", "available_ratios", "ratio_label", "ratio_map", "ratio_maps"]

#: The ratios written by default, as (numerator, denominator), canonical metabolite names.
RATIOS: tuple[tuple[str, str], ...] = (("tCho", "NAA"), ("tCho", "tCr"), ("NAA", "tCr"))


@dataclass(frozen=True)
class RatioMap:
    """One ratio map: ``values`` (0 outside ``mask``), its ``mask`` and the absolute denominator floor used."""

    numerator: str
    denominator: str
    values: np.ndarray
    mask: np.ndarray
    floor: float

    @property
    def label(self) -> str:
        """Alphanumeric label of the ratio, e.g. ``tChoNAA``."""
        return ratio_label(self.numerator, self.denominator)


def ratio_label(numerator: str, denominator: str) -> str:
    """``tChoNAA`` for tCho/NAA: numerator then denominator (both alphanumeric, as BIDS entities need).

    >>> ratio_label("tCho", "NAA")
    'tChoNAA'
    """
    return f"{numerator}{denominator}"


def available_ratios(metabolites: list[str] | tuple[str, ...],
                     pairs: tuple[tuple[str, str], ...] = RATIOS) -> list[tuple[str, str]]:
    """The ``pairs`` whose numerator and denominator are both among ``metabolites`` (in the order of ``pairs``).

    >>> available_ratios(["NAA", "tCho", "Ins"])
    [('tCho', 'NAA')]
    """
    present = set(metabolites)
    return [(num, den) for num, den in pairs if num in present and den in present]


def ratio_map(
    numerator: np.ndarray,
    denominator: np.ndarray,
    numerator_mask: np.ndarray,
    denominator_mask: np.ndarray,
    *,
    floor_fraction: float = RATIO_DENOMINATOR_FLOOR,
) -> tuple[np.ndarray, np.ndarray, float]:
    """``numerator / denominator`` where both are valid and the denominator exceeds the floor.

    Returns ``(ratio, mask, floor)``: the ratio (float32, 0 outside the mask), its mask (uint8)
    and the absolute floor, ``floor_fraction`` × the 99th percentile of the denominator on its
    mask (0 when that mask is empty).

    >>> num = np.array([2.0, 3.0, 1.0, 4.0]); den = np.array([4.0, 0.01, 2.0, 8.0])
    >>> ratio, mask, floor = ratio_map(num, den, np.array([1, 1, 0, 1]), np.ones(4), floor_fraction=0.1)
    >>> ratio.tolist(), mask.tolist(), round(floor, 4)
    ([0.5, 0.0, 0.0, 0.5], [1, 0, 0, 1], 0.788)
    """
    if not 0.0 <= floor_fraction < 1.0:
        raise ValueError(f"floor_fraction must be in [0, 1), got {floor_fraction}")
    shapes = {numerator.shape, denominator.shape, numerator_mask.shape, denominator_mask.shape}
    if len(shapes) != 1:
        raise ValueError(f"ratio maps and masks must share one shape, got {sorted(shapes)}")
    den_valid = (denominator_mask > 0) & np.isfinite(denominator)
    floor = float(floor_fraction * np.percentile(denominator[den_valid], 99)) if den_valid.any() else 0.0
    mask = den_valid & (numerator_mask > 0) & np.isfinite(numerator) & (denominator > max(floor, 0.0))
    ratio = np.zeros(numerator.shape, np.float32)
    ratio[mask] = numerator[mask] / denominator[mask]
    return ratio, mask.astype(np.uint8), floor


def ratio_maps(
    maps: np.ndarray,
    masks: np.ndarray,
    metabolites: list[str] | tuple[str, ...],
    *,
    pairs: tuple[tuple[str, str], ...] = RATIOS,
    floor_fraction: float = RATIO_DENOMINATOR_FLOOR,
) -> list[RatioMap]:
    """Every ratio of ``pairs`` whose two metabolites are volumes of ``maps`` ``(x, y, z, metabolite)``.

    ``masks`` has the shape of ``maps`` (the output mask of each metabolite); ratios whose
    metabolites were not super-resolved are left out (an empty list when none applies).
    """
    if maps.ndim != 4 or masks.shape != maps.shape or maps.shape[3] != len(metabolites):
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} must be (x, y, z, {len(metabolites)}) "
                         f"for metabolites {list(metabolites)}")
    index = {name: i for i, name in enumerate(metabolites)}
    out = []
    for num, den in available_ratios(metabolites, pairs):
        values, mask, floor = ratio_map(maps[..., index[num]], maps[..., index[den]], masks[..., index[num]],
                                        masks[..., index[den]], floor_fraction=floor_fraction)
        out.append(RatioMap(num, den, values, mask, floor))
    return out
