"""MRSI processing: load the maps, filter by quality, select slices, bring the MRI onto the
MRSI grid at 3× and super-resolve."""

from __future__ import annotations

from dataclasses import dataclass, field

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from mrsisr import METABOLITES, defaults

__all__ = ["MRSIOptions", "init_mrsi_wf", "target_grid", "export_label", "resample_ratios_to_t1w",
           "RATIO_FIELDS", "T1W_FIELDS"]


@dataclass(frozen=True)
class MRSIOptions:
    """How one subject's MRSI is processed: a value handed down by the builders (no global state).

    Attributes
    ----------
    metabolites : tuple of str
        Metabolites to load and super-resolve (canonical names).
    acquisition : str or None
        ``acq-<label>`` of the fitting output to read (None: the only one present).
    target_matrix : int
        Output in-plane matrix N.
    simulate_matrix : int or None
        Evaluation mode: the maps are N×N and an n×n acquisition is simulated from them.
    sharpness : tuple of float
        The λ values to condition the network on (one output each, named by
        :func:`mrsisr.interfaces.bids.lambda_label`; values with the same label are refused).
    weights : str or None
        Safetensors weights; None uses the packaged model.
    device, batch_size, omp_nthreads
        Where and how the network runs.
    snr_min, fwhm_max, crlb_max
        Voxel quality thresholds (S/N, FWHM in ppm, %SD; ``crlb_max`` None: off).
    min_valid_fraction : float or None
        Slice selection on the whole matrix (valid voxels / nx·ny, ``--min-valid-fraction``); None: off.
    min_slice_fraction : float or None
        Slice selection relative to the fullest slice (valid voxels / those of the fullest slice;
        the default, which holds at any field of view); None: off.
    missing_metabolites : dict
        The network's metabolites the fitting output lacks, with the reason (recorded in the sidecars).
    flair : bool
        Whether the subject has a FLAIR; without one the network gets :data:`mrsisr.defaults.FLAIR_SUBSTITUTE`.
    export_slices : bool
        Also write a prepared-slice file for ``mrsisr-train`` (output ``slices_npz``).
    output_spaces : tuple of str
        With ``T1w``, the super-resolved and ratio maps are also resampled onto the T1w grid.
    fsl_mrs_scaling, spectrometer_frequency
        ``fsl_mrsi`` concentration scaling and 1H frequency (MHz; None: from the files).
    mrsi_filters
        pybids filters (``--bids-filter-file`` key ``mrsi``) narrowing the query of the raw MRSI in
        ``mrs/`` that gives LCModel outputs their grid (the dataset: the builder's ``bids_dir`` input).
    uncertainty_samples : int
        Test-time transformations whose spread is written beside each super-resolved map
        (:mod:`mrsisr.uncertainty`; at least 2, 0: none).
    """

    metabolites: tuple[str, ...] = METABOLITES
    acquisition: str | None = None
    target_matrix: int = defaults.TARGET_MATRIX
    simulate_matrix: int | None = None
    sharpness: tuple[float, ...] = defaults.SHARPNESS
    weights: str | None = None
    device: str = "auto"
    batch_size: int = defaults.BATCH_SIZE
    snr_min: float = defaults.SNR_MIN
    fwhm_max: float = defaults.FWHM_MAX_PPM
    crlb_max: float | None = defaults.CRLB_MAX
    min_valid_fraction: float | None = None
    min_slice_fraction: float | None = defaults.MIN_SLICE_FRACTION
    missing_metabolites: dict = field(default_factory=dict, hash=False)
    flair: bool = True
    omp_nthreads: int = 1
    export_slices: bool = False
    output_spaces: tuple[str, ...] = defaults.OUTPUT_SPACES
    fsl_mrs_scaling: str = "auto"
    spectrometer_frequency: float | None = None
    mrsi_filters: dict | None = None
    uncertainty_samples: int = defaults.UNCERTAINTY_SAMPLES

    def __post_init__(self):
        from mrsisr.interfaces.bids import lambda_label

        object.__setattr__(self, "metabolites", tuple(self.metabolites))
        object.__setattr__(self, "output_spaces", tuple(self.output_spaces))
        object.__setattr__(self, "sharpness", tuple(float(lam) for lam in self.sharpness))
        labels = [lambda_label(lam) for lam in self.sharpness]
        if not labels or len(set(labels)) != len(labels):
            raise ValueError(f"sharpness {list(self.sharpness)}: give one or more λ values, each once "
                             "(one output file per value)")
        if self.weights is not None:
            object.__setattr__(self, "weights", str(self.weights))
        if self.uncertainty_samples == 1 or self.uncertainty_samples < 0:
            raise ValueError(f"uncertainty_samples must be 0 (off) or at least 2, got {self.uncertainty_samples}")

    def sidecar_notes(self) -> dict:
        """What every sidecar of the subject says beyond the thresholds: the network's metabolites
        missing from the fitting output (with why) and, without a FLAIR, its substitute."""
        notes = {}
        if self.missing_metabolites:
            notes["MissingMetabolites"] = list(self.missing_metabolites)
            notes["MissingMetaboliteReasons"] = dict(self.missing_metabolites)
        if not self.flair:
            notes["FLAIR"] = f"none, substitute: {defaults.FLAIR_SUBSTITUTE}"
        return notes

    def thresholds(self) -> dict:
        """The quality thresholds as recorded in the sidecars."""
        return {"SNRMin": self.snr_min, "FWHMMax": self.fwhm_max, "FWHMUnits": "ppm", "CRLBMax": self.crlb_max,
                "MinValidFraction": self.min_valid_fraction, "MinSliceFraction": self.min_slice_fraction}


def target_grid(reference: str, target_matrix: int, simulate: bool) -> str:
    """Write a 3-D NIfTI of the network's square N-grid for the MRSI grid of ``reference``.

    Acquired maps (``simulate`` False) are on an n×n grid, or nx×ny with a rectangular field of view
    or anisotropic voxels: :func:`mrsisr.io.geometry.in_plane_embedding` places them on an N×N grid
    (for a rectangular field of view, the square one of the longer side; the output is cropped back
    by ``SuperResolve``). Simulated acquisitions start from maps that already are on the N-grid,
    which must then have N×N voxels in-plane.
    """
    import os

    import nibabel as nib
    import numpy as np

    from mrsisr.io.geometry import MRSIGeometry, in_plane_embedding

    img = nib.load(reference)
    nx, ny, nz = img.shape[:3]
    if simulate:
        if (nx, ny) != (target_matrix, target_matrix):
            raise ValueError(
                f"--simulate-matrix needs maps on the {target_matrix}×{target_matrix} target grid; "
                f"{reference} is {nx}×{ny} (choose the high-resolution acquisition with --acquisition)"
            )
        affine = img.affine
    else:
        embedding = in_plane_embedding(MRSIGeometry((nx, ny, nz), img.affine, origin=reference), target_matrix)
        affine = embedding.network_affine(img.affine)
    out_file = os.path.abspath("target_grid.nii.gz")
    out = nib.Nifti1Image(np.zeros((target_matrix, target_matrix, nz), np.uint8), affine)
    out.header.set_xyzt_units("mm")
    nib.save(out, out_file)
    return out_file


def export_label(subject: str, session: str | None = None) -> str:
    """Label of a prepared-slice file: ``01`` or ``01_ses-pre``."""
    return subject + (f"_ses-{session}" if session else "")


def init_mrsi_wf(*, options: MRSIOptions = MRSIOptions(), name: str = "mrsi_wf") -> pe.Workflow:
    """Metabolite maps to super-resolved maps on the N-grid, for one subject/session.

    ``load → quality → select_slices``; the T1w and FLAIR are resampled at 3× onto the
    N-grid of the MRSI slab (cropped to the selected slices), then ``superres`` runs the
    network for every selected slice, metabolite and λ.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.mrsi import MRSIOptions, init_mrsi_wf
            wf = init_mrsi_wf(options=MRSIOptions(metabolites=("NAA", "tCho"), sharpness=(0.0, 0.03)))

    Parameters
    ----------
    options : :class:`MRSIOptions`
        Metabolites, acquisition, N, λ values, network and quality settings.
    name : str
        Workflow name.

    Inputs
    ------
    lcmodel_dir
        Folder of the fitting outputs (``derivatives/lcmodel``).
    subject, session
        Labels used to find the subject's outputs under ``lcmodel_dir``.
    brain_mask, t1w_brain, flair_brain
        From :func:`~mrsisr.workflows.anatomical.init_anat_wf`.
    bids_dir
        The raw dataset whose ``mrs/`` holds the raw MRSI (optional: default, the folder above
        ``derivatives/``).

    Outputs
    -------
    metabolites, acquired_matrix
        Canonical names (order of the 4th axis) and the (acquired or simulated) n.
    quality_mask, counts_file, slices_file, slices
        Quality mask per metabolite (MRSI grid), counts per rejection reason, slice table.
    zero_filled_file, sr_files, sr_mask, reference_file
        Zero-filled maps, one super-resolved file per λ, the output mask (all on the N-grid).
    sd_files, uncertainty
        The uncertainty map of each super-resolved file and its transformations (empty lists/dict
        with ``uncertainty_samples`` 0).
    model_info
        The network's identity (variant, weights, sha256, placeholder flag).
    slices_npz
        Prepared-slice file (only with ``export_slices``).
    ratio_files, ratio_masks, ratio_labels, ratio_numerators, ratio_denominators, ratio_sharpness, ratio_floors
        Ratio maps (tCho/NAA, tCho/tCr, NAA/tCr) of each λ on the N-grid, see :class:`~mrsisr.interfaces.RatioMaps`.
    sr_t1w_files, sr_t1w_mask, ratio_t1w_files, ratio_t1w_masks
        The same maps on the T1w grid (only with ``T1w`` in ``output_spaces``).
    """
    from mrsisr.interfaces.maps import LoadMetaboliteMaps
    from mrsisr.interfaces.quality import QualityFilter
    from mrsisr.interfaces.resample import ResampleToMRSIGrid
    from mrsisr.interfaces.selection import SelectSlices
    from mrsisr.interfaces.superres import SuperResolve

    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=[
        "lcmodel_dir", "subject", "session", "brain_mask", "t1w_brain", "flair_brain", "bids_dir"]),
        name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=[
        "metabolites", "acquired_matrix", "quality_mask", "counts_file", "slices_file", "slices",
        "zero_filled_file", "sr_files", "sr_mask", "reference_file", "model_info", "slices_npz", "sd_files",
        "uncertainty"] + RATIO_FIELDS + T1W_FIELDS), name="outputnode")

    load = pe.Node(LoadMetaboliteMaps(metabolites=list(options.metabolites), require_quality=False,
                                      fsl_scaling=options.fsl_mrs_scaling), name="load", mem_gb=1.0)
    for field in ("acquisition", "spectrometer_frequency", "mrsi_filters"):
        if getattr(options, field):
            setattr(load.inputs, field, getattr(options, field))
    quality = pe.Node(QualityFilter(snr_min=options.snr_min, fwhm_max=options.fwhm_max), name="quality")
    if options.crlb_max is not None:
        quality.inputs.crlb_max = options.crlb_max
    select_slices = pe.Node(SelectSlices(min_valid_fraction=options.min_valid_fraction or 0.0), name="select_slices")
    if options.min_slice_fraction is not None:
        select_slices.inputs.min_slice_fraction = options.min_slice_fraction
    grid = pe.Node(niu.Function(function=target_grid, input_names=["reference", "target_matrix", "simulate"],
                                output_names=["out_file"]), name="target_grid",
                   run_without_submitting=True)
    grid.inputs.target_matrix = options.target_matrix
    grid.inputs.simulate = options.simulate_matrix is not None
    resample = pe.Node(ResampleToMRSIGrid(factor=defaults.MRI_FACTOR), name="resample", mem_gb=2.0)
    superres = pe.Node(SuperResolve(target_matrix=options.target_matrix, sharpness=list(options.sharpness),
                                    device=options.device, batch_size=options.batch_size,
                                    omp_nthreads=options.omp_nthreads,
                                    uncertainty_samples=options.uncertainty_samples),
                       name="superres", n_procs=options.omp_nthreads, mem_gb=2.0)
    if options.simulate_matrix is not None:
        superres.inputs.simulate_matrix = options.simulate_matrix
    if options.weights is not None:
        superres.inputs.weights = options.weights

    sd_map = [("sd_file", "sd_file")] if options.crlb_max is not None else []  # %SD only when filtered on
    workflow.connect([
        (inputnode, load, [("lcmodel_dir", "source"),
                           ("subject", "subject"),
                           ("session", "session"),
                           ("bids_dir", "bids_dir")]),
        (inputnode, quality, [("brain_mask", "brain_mask")]),
        (inputnode, resample, [("t1w_brain", "t1w_file"),
                               ("flair_brain", "flair_file")]),
        (load, quality, [("metabolites", "metabolites"),
                         ("quality_available", "apply_snr_fwhm"),
                         ("snr_file", "snr_file"),
                         ("fwhm_file", "fwhm_file"),
                         ("valid_file", "valid_file"),
                         ("metadata_file", "metadata_file"),
                         ("conc_file", "in_file")] + sd_map),
        (load, grid, [("snr_file", "reference")]),
        (load, superres, [("conc_file", "in_file"),
                          ("metabolites", "metabolites")]),
        (load, outputnode, [("metabolites", "metabolites")]),
        (quality, select_slices, [("mask_file", "mask_file")]),
        (quality, superres, [("mask_file", "mask_file")]),
        (quality, outputnode, [("mask_file", "quality_mask"),
                               ("counts_file", "counts_file")]),
        (select_slices, resample, [("slices", "slices")]),
        (select_slices, superres, [("slices", "slices")]),
        (select_slices, outputnode, [("slices_file", "slices_file"),
                                     ("slices", "slices")]),
        (grid, resample, [("out_file", "reference")]),
        (resample, superres, [("t1w_mrsi_file", "t1w_file"),
                              ("flair_mrsi_file", "flair_file"),
                              ("slice_offset", "slice_offset")]),
        (superres, outputnode, [("out_files", "sr_files"),
                                ("sd_files", "sd_files"),
                                ("uncertainty", "uncertainty"),
                                ("zero_filled_file", "zero_filled_file"),
                                ("mask_file", "sr_mask"),
                                ("reference_file", "reference_file"),
                                ("model_info", "model_info"),
                                ("acquired_matrix", "acquired_matrix")]),
    ])
    if options.export_slices:
        _add_export(workflow, inputnode, load, quality, select_slices, resample, outputnode)
    _add_lab_outputs(workflow, inputnode, load, superres, outputnode, sharpness=options.sharpness,
                     t1w="T1w" in options.output_spaces)
    return workflow


RATIO_FIELDS = ["ratio_files", "ratio_masks", "ratio_labels", "ratio_numerators", "ratio_denominators",
                "ratio_sharpness", "ratio_floors"]
T1W_FIELDS = ["sr_t1w_files", "sr_t1w_mask", "ratio_t1w_files", "ratio_t1w_masks"]


def _add_lab_outputs(workflow, inputnode, load, superres, outputnode, *, sharpness, t1w: bool) -> None:
    """Ratio maps of the super-resolved maps and, with ``t1w``, both resampled onto the T1w grid."""
    from mrsisr.interfaces.ratios import RatioMaps
    from mrsisr.interfaces.spaces import ResampleToT1w

    ratios = pe.Node(RatioMaps(sharpness=list(sharpness)), name="ratios")
    workflow.connect([
        (load, ratios, [("metabolites", "metabolites")]),
        (superres, ratios, [("out_files", "in_files"),
                            ("mask_file", "mask_file")]),
        (ratios, outputnode, [("out_files", "ratio_files"),
                              ("mask_files", "ratio_masks"),
                              ("labels", "ratio_labels"),
                              ("numerators", "ratio_numerators"),
                              ("denominators", "ratio_denominators"),
                              ("sharpness", "ratio_sharpness"),
                              ("floors", "ratio_floors")]),
    ])
    if not t1w:
        return
    sr_to_t1w = pe.Node(ResampleToT1w(), name="sr_to_t1w", mem_gb=2.0)
    ratios_to_t1w = pe.Node(niu.Function(function=resample_ratios_to_t1w,
                                         input_names=["in_files", "mask_files", "reference_file"],
                                         output_names=["out_files", "out_masks"]), name="ratios_to_t1w", mem_gb=2.0)
    workflow.connect([
        (inputnode, sr_to_t1w, [("t1w_brain", "reference_file")]),
        (inputnode, ratios_to_t1w, [("t1w_brain", "reference_file")]),
        (superres, sr_to_t1w, [("out_files", "in_files"),
                               ("mask_file", "mask_files")]),
        (ratios, ratios_to_t1w, [("out_files", "in_files"),
                                 ("mask_files", "mask_files")]),
        (sr_to_t1w, outputnode, [("out_files", "sr_t1w_files"),
                                 (("out_masks", _first), "sr_t1w_mask")]),
        (ratios_to_t1w, outputnode, [("out_files", "ratio_t1w_files"),
                                     ("out_masks", "ratio_t1w_masks")]),
    ])


def _first(items: list):
    return items[0]


def resample_ratios_to_t1w(in_files: list, mask_files: list, reference_file: str) -> tuple[list, list]:
    """:class:`~mrsisr.interfaces.ResampleToT1w` on each ratio map with its own mask; empty lists stay empty
    (a run whose metabolites make no ratio)."""
    from mrsisr.interfaces.spaces import ResampleToT1w

    if not in_files:
        return [], []
    result = ResampleToT1w(in_files=in_files, mask_files=mask_files, reference_file=reference_file).run()
    return result.outputs.out_files, result.outputs.out_masks


def _add_export(workflow, inputnode, load, quality, select_slices, resample, outputnode) -> None:
    """Add the :class:`~mrsisr.interfaces.export.ExportSlices` node (training data for ``group --train``)."""
    from mrsisr.interfaces.export import ExportSlices

    label = pe.Node(niu.Function(function=export_label, input_names=["subject", "session"],
                                 output_names=["label"]), name="export_label", run_without_submitting=True)
    export = pe.Node(ExportSlices(), name="export_slices")
    workflow.connect([
        (inputnode, label, [("subject", "subject"),
                            ("session", "session")]),
        (label, export, [("label", "subject")]),
        (load, export, [("conc_file", "in_file"),
                        ("metabolites", "metabolites")]),
        (quality, export, [("mask_file", "mask_file")]),
        (select_slices, export, [("slices", "slices")]),
        (resample, export, [("t1w_mrsi_file", "t1w_file"),
                            ("flair_mrsi_file", "flair_file"),
                            ("slice_offset", "slice_offset")]),
        (export, outputnode, [("out_file", "slices_npz")]),
    ])
