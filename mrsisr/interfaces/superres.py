"""``SuperResolve``: run a trained network on a subject's selected slices and metabolites."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    isdefined, traits)

from mrsisr import METABOLITES, kspace

__all__ = ["SuperResolve"]


class _SuperResolveInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True,
                   desc="4-D concentrations (x, y, z, metabolite) on the acquired n×n grid, or on the N grid "
                        "with simulate_matrix")
    metabolites = InputMultiObject(traits.Enum(*METABOLITES), mandatory=True,
                                   desc="metabolite of each volume of in_file, in order")
    mask_file = File(exists=True, mandatory=True, desc="4-D quality mask on the grid of in_file (1 = valid)")
    t1w_file = File(exists=True, mandatory=True, desc="skull-stripped T1w on the 3× N-grid (ResampleToMRSIGrid)")
    flair_file = File(exists=True, mandatory=True, desc="co-registered FLAIR on the 3× N-grid")
    slices = traits.List(traits.Int, mandatory=True, minlen=1, desc="0-based MRSI slices to super-resolve")
    slice_offset = traits.Int(0, usedefault=True, desc="MRSI slice of the first 3 planes of the MRI crop")
    target_matrix = traits.Int(64, usedefault=True, desc="in-plane matrix N of the output grid")
    simulate_matrix = traits.Int(desc="simulate an n×n acquisition from N×N maps (evaluation mode)")
    sharpness = traits.List(traits.Float(), [0.0], usedefault=True, minlen=1,
                            desc="adversarial weights λ to condition on (paper: 0–0.03)")
    weights = File(exists=True, desc="safetensors weights (default: the packaged model)")
    device = traits.Enum("auto", "cpu", "cuda", usedefault=True, desc="where the network runs")
    batch_size = traits.Range(low=1, value=16, usedefault=True, desc="maps per forward pass")
    num_threads = traits.Range(low=1, value=2, usedefault=True, desc="CPU threads for PyTorch")


class _SuperResolveOutputSpec(TraitedSpec):
    out_files = traits.List(File(exists=True), desc="4-D super-resolved maps on the N grid, one per λ")
    zero_filled_file = File(exists=True, desc="4-D zero-filled maps on the N grid (the standard method)")
    mask_file = File(exists=True, desc="4-D output mask on the N grid (quality and selected slices)")
    reference_file = File(exists=True, desc="3-D reference image of the N grid")
    model_info = traits.Dict(desc="variant, weights path, sha256 and placeholder flag of the network")
    acquired_matrix = traits.Int(desc="acquired (or simulated) in-plane matrix n")


class SuperResolve(SimpleInterface):
    """Super-resolve metabolite maps with the MCM network (zero-filling, conditions, masking).

    Example (runs on any subject that the other nodes prepared)::

        >>> from mrsisr.interfaces import SuperResolve
        >>> sr = SuperResolve(in_file="maps.nii.gz", metabolites=["NAA", "tCho"], mask_file="mask.nii.gz",
        ...                   t1w_file="t1w_3x.nii.gz", flair_file="flair_3x.nii.gz", slices=[10, 11],
        ...                   sharpness=[0.0, 0.03])                      # doctest: +SKIP
        >>> result = sr.run()                                           # doctest: +SKIP
        >>> result.outputs.out_files                                    # doctest: +SKIP
        ['.../sr_lam-0p000.nii.gz', '.../sr_lam-0p030.nii.gz']
    """

    input_spec = _SuperResolveInputSpec
    output_spec = _SuperResolveOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.inference import load_for_inference, super_resolve_volume

        maps_img = nib.load(self.inputs.in_file)
        maps = np.asanyarray(maps_img.dataobj, dtype=np.float32)
        mask = np.asanyarray(nib.load(self.inputs.mask_file).dataobj)
        if maps.ndim != 4 or maps.shape[-1] != len(self.inputs.metabolites):
            raise ValueError(f"{self.inputs.in_file}: shape {maps.shape} must be (x, y, z, {len(self.inputs.metabolites)}) "
                             f"for metabolites {self.inputs.metabolites}")
        t1 = np.asanyarray(nib.load(self.inputs.t1w_file).dataobj, dtype=np.float32)
        flair = np.asanyarray(nib.load(self.inputs.flair_file).dataobj, dtype=np.float32)
        model, info = load_for_inference(self.inputs.weights if isdefined(self.inputs.weights) else None,
                                         self.inputs.device, self.inputs.num_threads)
        simulate = self.inputs.simulate_matrix if isdefined(self.inputs.simulate_matrix) else None
        result = super_resolve_volume(model, maps, mask, t1, flair, list(self.inputs.slices),
                                      list(self.inputs.metabolites), list(self.inputs.sharpness),
                                      self.inputs.target_matrix, simulate, self.inputs.slice_offset,
                                      self.inputs.batch_size)
        affine = maps_img.affine if simulate else kspace.fine_grid_affine(maps_img.affine, maps.shape[0],
                                                                          self.inputs.target_matrix)
        cwd = Path(runtime.cwd)

        def save(data: np.ndarray, name: str) -> str:
            image = nib.Nifti1Image(data, affine)
            image.header.set_xyzt_units("mm")
            nib.save(image, cwd / name)
            return str(cwd / name)

        self._results["out_files"] = [save(sr, f"sr_lam-{lam:.3f}".replace(".", "p") + ".nii.gz")
                                      for sr, lam in zip(result["sr"], self.inputs.sharpness)]
        self._results["zero_filled_file"] = save(result["zero_filled"], "zero_filled.nii.gz")
        self._results["mask_file"] = save(result["mask"], "mask.nii.gz")
        self._results["reference_file"] = save(np.zeros(result["mask"].shape[:3], np.uint8), "reference.nii.gz")
        self._results["model_info"] = info.to_dict()
        self._results["acquired_matrix"] = int(result["n"])
        (cwd / "model_info.json").write_text(json.dumps(info.to_dict(), indent=1))
        return runtime
