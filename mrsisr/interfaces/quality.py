"""``QualityFilter``: reject MRSI voxels of insufficient quality or at the skull (DESIGN.md §3).

A thin node over :func:`mrsisr.quality.filter_quality_files`, where the criteria, the counting rule
and the file conventions are documented.
"""

from __future__ import annotations

from nipype.interfaces.base import BaseInterfaceInputSpec, File, SimpleInterface, TraitedSpec, isdefined, traits

from mrsisr.defaults import FWHM_MAX_PPM, SNR_MIN
from mrsisr.quality import ERODE_MM, filter_quality_files

__all__ = ["QualityFilter"]


class _QualityFilterInputSpec(BaseInterfaceInputSpec):
    metabolites = traits.List(traits.Str, mandatory=True, minlen=1,
                              desc="metabolite names, in the order of the 4th axis of 4-D maps")
    snr_file = File(exists=True, mandatory=True, desc="S/N map on the MRSI grid (3-D, or 4-D per metabolite)")
    fwhm_file = File(exists=True, mandatory=True, desc="linewidth (FWHM, ppm) map on the MRSI grid")
    brain_mask = File(exists=True, mandatory=True,
                      desc="brain mask in the same scanner space, any grid (nonzero = brain)")
    sd_file = File(exists=True, desc="%SD (CRLB) map, 4-D per metabolite or 3-D")
    valid_file = File(exists=True, desc="fit validity (nonzero = valid), 4-D per metabolite or 3-D")
    in_file = File(exists=True, desc="concentration maps; only non-finite values are used (failed fits)")
    metadata_file = File(exists=True, desc="the loader's metabolites.json: its counts of negative voxels and of "
                                           "voxels absent from a slice's output become columns of the table")
    snr_min = traits.Float(SNR_MIN, usedefault=True, desc="reject S/N < snr_min (paper: 2.5)")
    fwhm_max = traits.Float(FWHM_MAX_PPM, usedefault=True, desc="reject FWHM > fwhm_max ppm (paper: 0.15)")
    crlb_max = traits.Float(requires=["sd_file"], desc="reject %SD > crlb_max (off unless set)")
    brain_fraction_min = traits.Range(0.01, 1.0, 0.5, usedefault=True,
                                      desc="an MRSI voxel is in the brain when at least this "
                                      "fraction of its volume is inside the brain mask")
    erode_mm = traits.Float(ERODE_MM, usedefault=True,
                            desc="erode the MRSI-grid brain mask by this distance, in whole in-plane voxels "
                                 "rounded to nearest (skull rim; paper: one 3.4 mm voxel)")
    erode_voxels = traits.Range(0, 10, desc="erode by this many voxels instead of erode_mm")
    erode_in_plane = traits.Bool(False, usedefault=True,
                                 desc="erode within axial slices only (default: in 3-D)")
    apply_snr_fwhm = traits.Bool(True, usedefault=True,
                                 desc="apply the S/N and FWHM criteria; False where the fit carries neither "
                                      "(LoadMetaboliteMaps.quality_available, e.g. an LCModel spreadsheet)")


class _QualityFilterOutputSpec(TraitedSpec):
    mask_file = File(exists=True, desc="kept voxels, uint8, 4-D (x, y, z, metabolite)")
    brain_mask_mrsi = File(exists=True, desc="eroded brain mask on the MRSI grid, uint8")
    brain_fraction_file = File(exists=True, desc="fraction of each MRSI voxel inside the brain, float32")
    counts_file = File(exists=True, desc="TSV of voxel counts per reason and metabolite (+ JSON sidecar)")


class QualityFilter(SimpleInterface):
    """Reject MRSI voxels of insufficient quality or at the skull (DESIGN.md §3).

    See :func:`mrsisr.quality.quality_mask` for the criteria (bounds inclusive: S/N = 2.5 and
    FWHM = 0.15 ppm are kept; NaN/Inf S/N, FWHM or %SD fail) and
    :func:`mrsisr.grid.brain_mask_on_grid` for the skull criterion.

    >>> qf = QualityFilter(metabolites=["tCho", "NAA"])
    >>> qf.inputs.snr_min, qf.inputs.fwhm_max, qf.inputs.erode_mm
    (2.5, 0.15, 3.4)
    """

    input_spec = _QualityFilterInputSpec
    output_spec = _QualityFilterOutputSpec

    def _run_interface(self, runtime):
        inputs = self.inputs
        optional = {name: getattr(inputs, name) if isdefined(getattr(inputs, name)) else None
                    for name in ("sd_file", "valid_file", "in_file", "crlb_max", "metadata_file")}
        self._results.update(filter_quality_files(
            metabolites=list(inputs.metabolites), snr_file=inputs.snr_file,
            fwhm_file=inputs.fwhm_file, brain_mask=inputs.brain_mask, out_dir=runtime.cwd,
            snr_min=inputs.snr_min, fwhm_max=inputs.fwhm_max,
            brain_fraction_min=inputs.brain_fraction_min,
            erode_voxels=inputs.erode_voxels if isdefined(inputs.erode_voxels) else None,
            erode_mm=inputs.erode_mm, erode_in_plane=inputs.erode_in_plane,
            apply_snr_fwhm=inputs.apply_snr_fwhm, **optional,
        ))
        return runtime
