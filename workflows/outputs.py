"""Derivative writers (``init_ds_*_wf``): inputnode → sinks (→ outputnode).

Every file goes through :class:`mrsisr.interfaces.bids.DerivativesDataSink`,
which names it from the BIDS source file plus entities and writes atomically.
The sidecars are assembled at run time by :func:`mrsi_sidecars` from the
values the nodes report (acquired n, model identity, backends).
"""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from mrsisr.interfaces.bids import DerivativesDataSink, lambda_label

__all__ = ["init_ds_anat_wf", "init_ds_mrsi_wf", "export_training_slices", "mrsi_sidecars", "anat_sidecars",
           "software_versions", "uncertainty_sidecars", "UNCERTAINTY_SUFFIX"]

#: The uncertainty map of ``desc-srLam<λ>`` is ``desc-srLam<λ>Sd`` (same grid, mask and suffix).
UNCERTAINTY_SUFFIX = "Sd"


def software_versions() -> dict:
    """Versions of the software that produced the outputs."""
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("mrsisr", "torch", "nipype", "nibabel", "numpy", "scipy", "SimpleITK", "brainextractor"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "n/a"
    return versions


def anat_sidecars(sources: list, skullstrip_backend: str, coreg_backend: str) -> tuple:
    """Sidecars of the brain mask, the co-registered FLAIR and the transform."""
    from mrsisr.models.conditioning import trained_sharpness
    from mrsisr.workflows.outputs import software_versions

    versions = software_versions()
    mask = {"Type": "Brain", "Description": "Brain mask of the T1w", "RawSources": [sources[0]],
            "Sources": [sources[0]], "SpatialReference": sources[0], "SkullStrippingBackend": skullstrip_backend,
            "ProcessingSoftware": versions}
    flair = {"Description": "FLAIR rigidly co-registered to the T1w (6 dof) and resampled on its grid",
             "Sources": list(sources), "SpatialReference": sources[0], "SkullStripped": False,
             "CoregistrationBackend": coreg_backend, "ProcessingSoftware": versions}
    xfm = {"Description": "4x4 matrix mapping FLAIR scanner RAS (mm) to T1w scanner RAS (mm): p_T1w = M @ p_FLAIR",
           "FromFile": sources[1], "ToFile": sources[0], "CoregistrationBackend": coreg_backend,
           "DegreesOfFreedom": 6}
    return mask, flair, xfm


def mrsi_sidecars(
    sharpness: list, target_matrix: int, simulate_matrix, acquisition, acquired_matrix: int,
    model_info: dict, slices: list, thresholds: dict, sources: list, skullstrip_backend: str,
    coreg_backend: str,
) -> tuple:
    """Sidecars of the quality mask, zero-filled map, output mask and one per λ (same order)."""
    from mrsisr.models.conditioning import trained_sharpness
    from mrsisr.workflows.outputs import software_versions

    thresholds = dict(thresholds)
    notes = thresholds.pop("SubjectNotes", {})  # MissingMetabolites, FLAIR: top-level keys of every sidecar
    common = {
        "AcquiredMatrix": int(acquired_matrix), "TargetMatrix": int(target_matrix),
        "SimulatedAcquisition": simulate_matrix is not None, "Acquisition": acquisition,
        "QualityThresholds": thresholds, "SelectedSlices": [int(k) for k in slices],
        "SkullStrippingBackend": skullstrip_backend, "CoregistrationBackend": coreg_backend,
        "Sources": list(sources), "ProcessingSoftware": software_versions(), **notes,
    }
    model = {"Variant": model_info.get("variant"), "File": str(model_info.get("weights")),
             "Sha256": model_info.get("sha256"), "Placeholder": bool(model_info.get("placeholder", False)),
             "SharpnessOrigin": float(model_info.get("lambda_origin", 0.0))}
    quality = dict(common, Description="Voxels kept by the quality filter (1) on the acquired MRSI grid")
    zero_filled = dict(common, Description="Zero-filled reconstruction (k-space zero-padding to N×N), magnitude",
                       Units="institutional units (as the fitting tool wrote them)")
    out_mask = dict(common, Description="Output mask on the N-grid (quality mask and selected slices)")
    per_lambda = [dict(common, Description="Super-resolved metabolite map (multi-encoder UNet with MCM)",
                       Sharpness=float(lam), TrainedSharpness=round(trained_sharpness(float(lam), model["SharpnessOrigin"]), 6),
                       Model=model, Units="institutional units") for lam in sharpness]
    return quality, zero_filled, out_mask, per_lambda


def uncertainty_sidecars(per_lambda: list, uncertainty: dict) -> list:
    """Sidecars of the uncertainty maps: those of the super-resolved maps (same order), the
    transformations and their count."""
    return [dict(sidecar, Description="Uncertainty of the super-resolved map: standard deviation of the network's "
                 "outputs under test-time transformations of its inputs (in-plane flips and 90° turns, sub-voxel "
                 "shifts of the map as a k-space phase ramp and of the MRI alike), each undone on the output",
                 UncertaintySamples=int(uncertainty.get("Samples", 0)),
                 TestTimeTransforms=list(uncertainty.get("Transforms", []))) for sidecar in per_lambda]


def export_training_slices(in_file: str, output_dir: str) -> str:
    """Copy a prepared-slice file to ``OUTPUT_DIR/training/slices/`` (atomically), for ``group --train``."""
    from pathlib import Path

    from mrsisr.interfaces.bids import atomic_copy

    return str(atomic_copy(in_file, Path(output_dir) / "training" / "slices" / Path(in_file).name))


def _sink(name: str, output_dir: str, **entities) -> pe.Node:
    return pe.Node(DerivativesDataSink(base_directory=str(output_dir), **entities), name=name,
                   run_without_submitting=True)


def init_ds_anat_wf(*, output_dir: str, sources: list[str], flair: bool = True,
                    name: str = "ds_anat_wf") -> pe.Workflow:
    """Write the brain mask, the co-registered FLAIR and the FLAIR→T1w transform (without ``flair``:
    the brain mask only, a T1w-only study).

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.outputs import init_ds_anat_wf
            wf = init_ds_anat_wf(output_dir="/tmp", sources=["bids:raw:sub-01/anat/sub-01_T1w.nii.gz",
                                                              "bids:raw:sub-01/anat/sub-01_FLAIR.nii.gz"])

    Parameters
    ----------
    output_dir : str
        Root of the derivatives dataset.
    sources : list of str
        BIDS URIs of the T1w and the FLAIR (in this order).
    name : str
        Workflow name.

    Inputs
    ------
    source_file, brain_mask, flair_t1w, out_matrix, skullstrip_backend, coreg_backend

    Outputs
    -------
    brain_mask, flair_t1w, out_matrix
        The written derivative paths.
    """
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=[
        "source_file", "brain_mask", "flair_t1w", "out_matrix", "skullstrip_backend", "coreg_backend"]),
        name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["brain_mask", "flair_t1w", "out_matrix"]), name="outputnode")
    sidecars = pe.Node(niu.Function(function=anat_sidecars,
                                    input_names=["sources", "skullstrip_backend", "coreg_backend"],
                                    output_names=["mask", "flair", "xfm"]), name="sidecars",
                        run_without_submitting=True)
    sidecars.inputs.sources = list(sources)
    ds_brain_mask = _sink("ds_brain_mask", output_dir, datatype="anat", desc="brain", suffix="mask")
    ds_flair = _sink("ds_flair", output_dir, datatype="anat", space="T1w", desc="coreg", suffix="FLAIR")
    ds_xfm = _sink("ds_xfm", output_dir, datatype="anat", from_="FLAIR", to="T1w", mode="image", suffix="xfm",
                   extension=".txt")

    workflow.connect([
        (inputnode, sidecars, [("skullstrip_backend", "skullstrip_backend"),
                               ("coreg_backend", "coreg_backend")]),
        (inputnode, ds_brain_mask, [("source_file", "source_file"),
                                    ("brain_mask", "in_file")]),
        (sidecars, ds_brain_mask, [("mask", "metadata")]),
        (ds_brain_mask, outputnode, [("out_file", "brain_mask")]),
    ])
    if not flair:
        return workflow
    workflow.connect([
        (inputnode, ds_flair, [("source_file", "source_file"),
                               ("flair_t1w", "in_file")]),
        (inputnode, ds_xfm, [("source_file", "source_file"),
                             ("out_matrix", "in_file")]),
        (sidecars, ds_flair, [("flair", "metadata")]),
        (sidecars, ds_xfm, [("xfm", "metadata")]),
        (ds_flair, outputnode, [("out_file", "flair_t1w")]),
        (ds_xfm, outputnode, [("out_file", "out_matrix")]),
    ])
    return workflow


def init_ds_mrsi_wf(
    *, output_dir: str, sources: list[str], acquisition: str | None, sharpness: tuple[float, ...],
    target_matrix: int, simulate_matrix: int | None, thresholds: dict, uncertainty: bool = False,
    name: str = "ds_mrsi_wf",
) -> pe.Workflow:
    """Write, per metabolite, the quality mask, zero-filled map, output mask and SR map per λ
    (with ``uncertainty``, its uncertainty map ``desc-srLam<λ>Sd`` too), plus the quality-count and
    slice tables.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.outputs import init_ds_mrsi_wf
            wf = init_ds_mrsi_wf(output_dir="/tmp", sources=[], acquisition="16", sharpness=(0.0, 0.03),
                                 target_matrix=64, simulate_matrix=None, thresholds={})

    Parameters
    ----------
    output_dir : str
        Root of the derivatives dataset.
    sources : list of str
        BIDS URIs of the inputs (recorded in every sidecar).
    acquisition : str or None
        Label of the ``acq-`` entity of the outputs.
    sharpness : tuple of float
        The λ values, in the order of ``sr_files``.
    target_matrix, simulate_matrix, thresholds
        Recorded in the sidecars (``res-<N>`` names the N-grid outputs).
    uncertainty : bool
        Also write ``sd_files`` (one per λ, same order), their sidecars naming the transformations.
    name : str
        Workflow name.

    Inputs
    ------
    source_file, metabolites, acquired_matrix, model_info, slices, quality_mask, counts_file,
    slices_file, zero_filled_file, sr_files, sr_mask, skullstrip_backend, coreg_backend, sd_files,
    uncertainty

    Outputs
    -------
    sr_files, zero_filled, quality_mask, sd_files
        Written derivative paths (lists; ``sd_files`` only with ``uncertainty``).
    """
    workflow = pe.Workflow(name=name)
    fields = ["source_file", "metabolites", "acquired_matrix", "model_info", "slices", "quality_mask",
              "counts_file", "slices_file", "zero_filled_file", "sr_files", "sr_mask", "skullstrip_backend",
              "coreg_backend", "sd_files", "uncertainty"]
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["sr_files", "zero_filled", "quality_mask", "sd_files"]),
                         name="outputnode")
    sidecars = pe.Node(niu.Function(function=mrsi_sidecars, output_names=["quality", "zero_filled", "mask", "sr"]),
                       name="sidecars", run_without_submitting=True)
    for key, value in (("sharpness", list(sharpness)), ("target_matrix", target_matrix),
                       ("simulate_matrix", simulate_matrix), ("acquisition", acquisition),
                       ("thresholds", dict(thresholds)), ("sources", list(sources))):
        setattr(sidecars.inputs, key, value)
    mrs = {"datatype": "mrs", "space": "orig"}
    if acquisition:
        mrs["acquisition"] = acquisition
    grid_n = dict(mrs, res=str(target_matrix))
    ds_quality = _sink("ds_quality_mask", output_dir, **mrs, desc="quality", suffix="mask")
    ds_zero_filled = _sink("ds_zero_filled", output_dir, **grid_n, desc="zerofilled", suffix="mrsi")
    ds_sr_mask = _sink("ds_sr_mask", output_dir, **grid_n, desc="sr", suffix="mask")
    ds_sr = pe.MapNode(DerivativesDataSink(base_directory=str(output_dir), suffix="mrsi", **grid_n),
                       iterfield=["in_file", "desc", "metadata"], name="ds_sr", run_without_submitting=True)
    ds_sr.inputs.desc = [lambda_label(lam) for lam in sharpness]
    ds_counts = _sink("ds_counts", output_dir, **mrs, desc="quality", suffix="counts", extension=".tsv",
                      metadata={"Sources": list(sources)})
    ds_slices = _sink("ds_slices", output_dir, **mrs, desc="selected", suffix="slices", extension=".tsv",
                      metadata={"Sources": list(sources)})

    workflow.connect([
        (inputnode, sidecars, [("acquired_matrix", "acquired_matrix"),
                               ("model_info", "model_info"),
                               ("slices", "slices"),
                               ("skullstrip_backend", "skullstrip_backend"),
                               ("coreg_backend", "coreg_backend")]),
        (inputnode, ds_quality, [("source_file", "source_file"),
                                 ("metabolites", "metabolites"),
                                 ("quality_mask", "in_file")]),
        (inputnode, ds_zero_filled, [("source_file", "source_file"),
                                     ("metabolites", "metabolites"),
                                     ("zero_filled_file", "in_file")]),
        (inputnode, ds_sr_mask, [("source_file", "source_file"),
                                 ("metabolites", "metabolites"),
                                 ("sr_mask", "in_file")]),
        (inputnode, ds_sr, [("source_file", "source_file"),
                            ("metabolites", "metabolites"),
                            ("sr_files", "in_file")]),
        (inputnode, ds_counts, [("source_file", "source_file"),
                                ("counts_file", "in_file")]),
        (inputnode, ds_slices, [("source_file", "source_file"),
                                ("slices_file", "in_file")]),
        (sidecars, ds_quality, [("quality", "metadata")]),
        (sidecars, ds_zero_filled, [("zero_filled", "metadata")]),
        (sidecars, ds_sr_mask, [("mask", "metadata")]),
        (sidecars, ds_sr, [("sr", "metadata")]),
        (ds_sr, outputnode, [("out_file", "sr_files")]),
        (ds_zero_filled, outputnode, [("out_file", "zero_filled")]),
        (ds_quality, outputnode, [("out_file", "quality_mask")]),
    ])
    if uncertainty:
        _add_uncertainty_sink(workflow, inputnode, sidecars, outputnode, output_dir, sharpness, grid_n)
    return workflow


def _add_uncertainty_sink(workflow, inputnode, sidecars, outputnode, output_dir, sharpness, grid_n) -> None:
    """``ds_sd``: the uncertainty map of each λ, beside its super-resolved map."""
    sd_sidecars = pe.Node(niu.Function(function=uncertainty_sidecars, input_names=["per_lambda", "uncertainty"],
                                       output_names=["sidecars"]), name="sd_sidecars", run_without_submitting=True)
    ds_sd = pe.MapNode(DerivativesDataSink(base_directory=str(output_dir), suffix="mrsi", **grid_n),
                       iterfield=["in_file", "desc", "metadata"], name="ds_sd", run_without_submitting=True)
    ds_sd.inputs.desc = [lambda_label(lam) + UNCERTAINTY_SUFFIX for lam in sharpness]
    workflow.connect([
        (inputnode, sd_sidecars, [("uncertainty", "uncertainty")]),
        (inputnode, ds_sd, [("source_file", "source_file"),
                            ("metabolites", "metabolites"),
                            ("sd_files", "in_file")]),
        (sidecars, sd_sidecars, [("sr", "per_lambda")]),
        (sd_sidecars, ds_sd, [("sidecars", "metadata")]),
        (ds_sd, outputnode, [("out_file", "sd_files")]),
    ])
