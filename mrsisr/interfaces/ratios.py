"""``RatioMaps``: tCho/NAA, tCho/tCr and NAA/tCr from the super-resolved maps, each with its own mask."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    traits)

from mrsisr import METABOLITES
from mrsisr.defaults import RATIO_DENOMINATOR_FLOOR

__all__ = ["RatioMaps"]


class _RatioMapsInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(File(exists=True), mandatory=True,
                                desc="4-D super-resolved maps (x, y, z, metabolite), one per λ")
    mask_file = File(exists=True, mandatory=True, desc="4-D output mask of the maps (same grid and volumes)")
    metabolites = InputMultiObject(traits.Enum(*METABOLITES), mandatory=True, desc="metabolite of each volume")
    sharpness = traits.List(traits.Float(), mandatory=True, minlen=1, desc="λ of each in_files entry, same order")
    floor_fraction = traits.Range(low=0.0, high=1.0, value=RATIO_DENOMINATOR_FLOOR, usedefault=True,
                                  exclude_high=True,
                                  desc="denominator floor as a fraction of its 99th percentile on its mask")


class _RatioMapsOutputSpec(TraitedSpec):
    out_files = traits.List(File(exists=True), desc="3-D ratio maps, one per (λ, ratio); empty when none applies")
    mask_files = traits.List(File(exists=True), desc="the mask of each ratio map, same order")
    labels = traits.List(traits.Str, desc="ratio label of each map, e.g. tChoNAA")
    numerators = traits.List(traits.Str, desc="numerator metabolite of each map")
    denominators = traits.List(traits.Str, desc="denominator metabolite of each map")
    sharpness = traits.List(traits.Float, desc="λ of each map")
    floors = traits.List(traits.Float, desc="absolute denominator floor of each map (institutional units)")


class RatioMaps(SimpleInterface):
    """Ratio maps of the super-resolved maps (see :mod:`mrsisr.ratios`), for every λ.

    Only the ratios whose two metabolites were super-resolved are written; with none, every
    output list is empty.
    """

    input_spec = _RatioMapsInputSpec
    output_spec = _RatioMapsOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.ratios import ratio_maps

        if len(self.inputs.sharpness) != len(self.inputs.in_files):
            raise ValueError(f"RatioMaps: {len(self.inputs.in_files)} maps but {len(self.inputs.sharpness)} λ values")
        mask_img = nib.load(self.inputs.mask_file)
        masks = np.asanyarray(mask_img.dataobj)
        results = {key: [] for key in ("out_files", "mask_files", "labels", "numerators", "denominators",
                                       "sharpness", "floors")}
        for map_file, lam in zip(self.inputs.in_files, self.inputs.sharpness, strict=True):
            img = nib.load(map_file)
            maps = np.asanyarray(img.dataobj, dtype=np.float32)
            for ratio in ratio_maps(maps, masks, list(self.inputs.metabolites),
                                    floor_fraction=self.inputs.floor_fraction):
                stem = Path(runtime.cwd) / f"ratio_{ratio.label}_lam-{lam:.3f}".replace(".", "p")
                results["out_files"].append(_save(ratio.values, img.affine, f"{stem}.nii.gz"))
                results["mask_files"].append(_save(ratio.mask, img.affine, f"{stem}_mask.nii.gz"))
                for key, value in (("labels", ratio.label), ("numerators", ratio.numerator),
                                   ("denominators", ratio.denominator), ("sharpness", float(lam)),
                                   ("floors", ratio.floor)):
                    results[key].append(value)
        self._results.update(results)
        return runtime


def _save(data: np.ndarray, affine: np.ndarray, path: str) -> str:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)
    return path
