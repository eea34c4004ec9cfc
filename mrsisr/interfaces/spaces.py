"""``ResampleToT1w``: maps on the MRSI output grid, with their masks, onto the T1w grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    traits)

__all__ = ["ResampleToT1w"]


class _ResampleToT1wInputSpec(BaseInterfaceInputSpec):
    in_files = InputMultiObject(File(exists=True), mandatory=True,
                                desc="3-D or 4-D (x, y, z, metabolite) maps on the MRSI grid, e.g. one per λ")
    mask_files = InputMultiObject(File(exists=True), mandatory=True,
                                  desc="their masks on the same grid: one per map, or one for all maps")
    reference_file = File(exists=True, mandatory=True, desc="image on the target grid (the T1w)")
    min_weight = traits.Range(low=0.0, high=1.0, value=0.5, usedefault=True, exclude_low=True,
                              desc="interpolation weight on valid voxels a target voxel needs to be inside the mask")


class _ResampleToT1wOutputSpec(TraitedSpec):
    out_files = traits.List(File(exists=True), desc="the maps on the T1w grid (0 outside their masks), same order")
    out_masks = traits.List(File(exists=True), desc="the masks on the T1w grid, one per mask_files entry")


class ResampleToT1w(SimpleInterface):
    """Resample masked maps onto the T1w grid without leaking the masked-out zeros into tissue values.

    See :func:`mrsisr.spaces.resample_masked` (normalised trilinear interpolation).
    """

    input_spec = _ResampleToT1wInputSpec
    output_spec = _ResampleToT1wOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.grid import check_same_grid
        from mrsisr.spaces import resample_masked_volumes

        maps, masks = list(self.inputs.in_files), list(self.inputs.mask_files)
        if len(masks) not in (1, len(maps)):
            raise ValueError(f"ResampleToT1w: {len(maps)} maps but {len(masks)} masks; give one mask per map "
                             "or one mask for all")
        reference = nib.load(self.inputs.reference_file)
        shape, affine = reference.shape[:3], reference.affine
        cwd = Path(runtime.cwd)
        out_files, out_masks = [], []
        for index, map_file in enumerate(maps):
            mask_file = masks[index if len(masks) > 1 else 0]
            img, mask_img = nib.load(map_file), nib.load(mask_file)
            check_same_grid(img.shape, img.affine, map_file, mask_img.shape, mask_img.affine, mask_file)
            data = np.asanyarray(img.dataobj, dtype=np.float32)
            mask = np.asanyarray(mask_img.dataobj)
            if mask.shape != data.shape:
                raise ValueError(f"ResampleToT1w: mask {mask_file} has shape {mask.shape}, map {map_file} has "
                                 f"{data.shape}; expected one mask volume per map volume")
            values, inside = resample_masked_volumes(data, mask, img.affine, shape, affine,
                                                     min_weight=self.inputs.min_weight)
            squeeze = data.ndim == 3
            out_files.append(_save(values[..., 0] if squeeze else values, affine, cwd / f"t1w_{index}.nii.gz"))
            if len(masks) > 1 or index == 0:
                out_masks.append(_save(inside[..., 0] if squeeze else inside, affine, cwd / f"t1w_mask_{index}.nii.gz"))
        self._results.update(out_files=out_files, out_masks=out_masks)
        return runtime


def _save(data: np.ndarray, affine: np.ndarray, path: Path) -> str:
    image = nib.Nifti1Image(data, affine)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)
    return str(path)
