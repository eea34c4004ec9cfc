"""``SuperResolve``: run a trained network on a subject's selected slices and metabolites.

Each λ's output is named by its derivative label (:func:`mrsisr.interfaces.bids.lambda_label`,
``srLam0p0001.nii.gz``), so distinct values never share a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from nipype.interfaces.base import (BaseInterfaceInputSpec, File, InputMultiObject, SimpleInterface, TraitedSpec,
                                    isdefined, traits)

from mrsisr import METABOLITES, defaults
from mrsisr.interfaces.bids import lambda_label

__all__ = ["SuperResolve"]


class _SuperResolveInputSpec(BaseInterfaceInputSpec):
    in_file = File(exists=True, mandatory=True,
                   desc="4-D concentrations (x, y, z, metabolite) on the acquired grid (n×n, or nx×ny with a "
                        "rectangular field of view or anisotropic voxels), or on the N grid with simulate_matrix")
    metabolites = InputMultiObject(traits.Enum(*METABOLITES), mandatory=True,
                                   desc="metabolite of each volume of in_file, in order")
    mask_file = File(exists=True, mandatory=True, desc="4-D quality mask on the grid of in_file (1 = valid)")
    t1w_file = File(exists=True, mandatory=True, desc="skull-stripped T1w on the 3× N-grid (ResampleToMRSIGrid)")
    flair_file = File(exists=True, desc="co-registered FLAIR on the 3× N-grid; without one (T1w-only studies) the "
                      "FLAIR encoder gets the T1w (mrsisr.defaults.FLAIR_SUBSTITUTE)")
    slices = traits.List(traits.Int, mandatory=True, minlen=1, desc="0-based MRSI slices to super-resolve")
    slice_offset = traits.Int(0, usedefault=True, desc="MRSI slice of the first 3 planes of the MRI crop")
    target_matrix = traits.Int(defaults.TARGET_MATRIX, usedefault=True, desc="in-plane matrix N of the output grid")
    simulate_matrix = traits.Int(desc="simulate an n×n acquisition from N×N maps (evaluation mode)")
    sharpness = traits.List(traits.Float(), list(defaults.SHARPNESS), usedefault=True, minlen=1,
                            desc="adversarial weights λ to condition on (paper: 0–0.03)")
    weights = File(exists=True, desc="safetensors weights (default: the packaged model)")
    device = traits.Enum("auto", "cpu", "cuda", usedefault=True, desc="where the network runs")
    batch_size = traits.Range(low=1, value=defaults.BATCH_SIZE, usedefault=True, desc="maps per forward pass")
    omp_nthreads = traits.Range(low=1, value=2, usedefault=True, desc="CPU threads for PyTorch")
    uncertainty_samples = traits.Range(low=0, value=defaults.UNCERTAINTY_SAMPLES, usedefault=True,
                                       desc="test-time transformations whose spread is the uncertainty map "
                                            "(at least 2; 0: no uncertainty map)")


class _SuperResolveOutputSpec(TraitedSpec):
    out_files = traits.List(File(exists=True), desc="4-D super-resolved maps on the output grid (N×N, or the "
                                                      "acquired rectangular field of view at N/n), one per λ")
    sd_files = traits.List(File(exists=True), desc="4-D uncertainty (standard deviation under test-time "
                                                   "transformations) of each map of out_files; empty when off")
    uncertainty = traits.Dict(desc="Samples (the count) and Transforms of the uncertainty maps; empty when off")
    zero_filled_file = File(exists=True, desc="4-D zero-filled maps on the N grid (the standard method)")
    mask_file = File(exists=True, desc="4-D output mask on the N grid (quality and selected slices)")
    reference_file = File(exists=True, desc="3-D reference image of the N grid")
    model_info = traits.Dict(desc="variant, weights path, sha256 and placeholder flag of the network")
    acquired_matrix = traits.Int(desc="acquired (or simulated) in-plane matrix n the network is conditioned on")
    in_plane_embedding = traits.Dict(desc="how the acquired grid reached the network's square grid: Kind (square, "
                                          "rectangular_fov, anisotropic, simulated), AcquiredMatrix, NetworkMatrix, "
                                          "OutputMatrix")


class SuperResolve(SimpleInterface):
    """Super-resolve metabolite maps with the MCM network (zero-filling, conditions, masking).

    Examples
    --------
    A 16×16 acquisition of two slices and two metabolites, with the MRI blocks that
    :class:`ResampleToMRSIGrid` would give (3× the 64×64 output grid, 3 planes per slice):

    >>> import os, tempfile
    >>> os.chdir(tempfile.mkdtemp())
    >>> yy, xx = np.mgrid[:16, :16]
    >>> brain = np.exp(-((yy - 8) ** 2 + (xx - 8) ** 2) / 30.0).astype("f4")
    >>> maps = np.stack([np.stack([brain * 8.0, brain * 1.5], -1)] * 2, 2)  # (16, 16, 2, 2): NAA, tCho
    >>> nib.save(nib.Nifti1Image(maps, np.diag([13.6, 13.6, 10.0, 1])), "maps.nii.gz")
    >>> nib.save(nib.Nifti1Image(np.ones(maps.shape, "u1"), np.diag([13.6, 13.6, 10.0, 1])), "mask.nii.gz")
    >>> mri = np.repeat(np.kron(brain, np.ones((12, 12), "f4"))[..., None], 6, 2)  # (192, 192, 6)
    >>> nib.save(nib.Nifti1Image(mri, np.diag([1.133, 1.133, 3.333, 1])), "t1w_3x.nii.gz")
    >>> nib.save(nib.Nifti1Image(1 - mri, np.diag([1.133, 1.133, 3.333, 1])), "flair_3x.nii.gz")
    >>> result = SuperResolve(in_file="maps.nii.gz", metabolites=["NAA", "tCho"], mask_file="mask.nii.gz",
    ...                       t1w_file="t1w_3x.nii.gz", flair_file="flair_3x.nii.gz", slices=[0, 1],
    ...                       sharpness=[0.0, 0.03], device="cpu").run()
    >>> [os.path.basename(f) for f in result.outputs.out_files], result.outputs.acquired_matrix
    (['srLam0.nii.gz', 'srLam0p03.nii.gz'], 16)
    >>> [os.path.basename(f) for f in result.outputs.sd_files], result.outputs.uncertainty["Samples"]
    (['srLam0Sd.nii.gz', 'srLam0p03Sd.nii.gz'], 8)
    >>> sr = nib.load(result.outputs.out_files[0])
    >>> sr.shape, [round(float(mm), 2) for mm in sr.header.get_zooms()[:3]]
    ((64, 64, 2, 2), [3.4, 3.4, 10.0])
    """

    input_spec = _SuperResolveInputSpec
    output_spec = _SuperResolveOutputSpec

    def _run_interface(self, runtime):
        from mrsisr.inference import load_for_inference, super_resolve_volume
        from mrsisr.io.geometry import MRSIGeometry, in_plane_embedding

        labels = [lambda_label(lam) for lam in self.inputs.sharpness]
        if len(set(labels)) != len(labels):
            raise ValueError(f"sharpness {list(self.inputs.sharpness)} repeats a value; give each λ once")
        maps_img = nib.load(self.inputs.in_file)
        maps = np.asanyarray(maps_img.dataobj, dtype=np.float32)
        mask = np.asanyarray(nib.load(self.inputs.mask_file).dataobj)
        if maps.ndim != 4 or maps.shape[-1] != len(self.inputs.metabolites):
            raise ValueError(f"{self.inputs.in_file}: shape {maps.shape} must be (x, y, z, {len(self.inputs.metabolites)}) "
                             f"for metabolites {self.inputs.metabolites}")
        t1 = np.asanyarray(nib.load(self.inputs.t1w_file).dataobj, dtype=np.float32)
        flair = (np.asanyarray(nib.load(self.inputs.flair_file).dataobj, dtype=np.float32)
                 if isdefined(self.inputs.flair_file) else t1)  # defaults.FLAIR_SUBSTITUTE
        model, info = load_for_inference(self.inputs.weights if isdefined(self.inputs.weights) else None,
                                         self.inputs.device, self.inputs.omp_nthreads)
        simulate = self.inputs.simulate_matrix if isdefined(self.inputs.simulate_matrix) else None
        embedding = None if simulate else in_plane_embedding(
            MRSIGeometry(maps.shape[:3], maps_img.affine, origin=self.inputs.in_file), self.inputs.target_matrix)
        result = super_resolve_volume(model, maps, mask, t1, flair, list(self.inputs.slices),
                                      list(self.inputs.metabolites), list(self.inputs.sharpness),
                                      self.inputs.target_matrix, simulate, self.inputs.slice_offset,
                                      self.inputs.batch_size, embedding=embedding,
                                      uncertainty_samples=self.inputs.uncertainty_samples)
        affine = maps_img.affine if simulate else embedding.output_affine(maps_img.affine)
        cwd = Path(runtime.cwd)

        def save(data: np.ndarray, name: str) -> str:
            image = nib.Nifti1Image(data, affine)
            image.header.set_xyzt_units("mm")
            nib.save(image, cwd / name)
            return str(cwd / name)

        self._results["out_files"] = [save(sr, f"{label}.nii.gz") for sr, label in zip(result["sr"], labels)]
        sd_maps = result.get("sd", [])
        self._results["sd_files"] = [save(sd, f"{label}Sd.nii.gz") for sd, label in zip(sd_maps, labels)]
        self._results["uncertainty"] = ({"Samples": len(result["transforms"]), "Transforms": result["transforms"]}
                                        if "sd" in result else {})
        self._results["zero_filled_file"] = save(result["zero_filled"], "zero_filled.nii.gz")
        self._results["mask_file"] = save(result["mask"], "mask.nii.gz")
        self._results["reference_file"] = save(np.zeros(result["mask"].shape[:3], np.uint8), "reference.nii.gz")
        self._results["model_info"] = info.to_dict()
        self._results["acquired_matrix"] = int(result["n"])
        self._results["in_plane_embedding"] = {
            "Kind": embedding.kind if embedding else "simulated", "AcquiredMatrix": list(maps.shape[:2]),
            "NetworkMatrix": int(result["n"]), "OutputMatrix": list(result["mask"].shape[:2])}
        (cwd / "model_info.json").write_text(json.dumps(info.to_dict(), indent=1))
        return runtime
