"""Writers of the derived outputs (``init_ds_*_wf``): super-resolved maps in T1w space and ratio maps.

Like :mod:`mrsisr.workflows.outputs` (whose sink and sidecars they reuse), every file goes
through :class:`~mrsisr.bids_app.derivatives.DerivativesDataSink`. Names::

    sub-<s>_acq-<n>_space-T1w_met-<Met>_desc-srLam<λ>_mrsi.nii.gz       SR map on the T1w grid
    sub-<s>_acq-<n>_space-T1w_met-<Met>_desc-sr_mask.nii.gz              its mask
    sub-<s>_acq-<n>_space-orig_res-<N>_desc-srLam<λ>ratio<Num><Den>_mrsi.nii.gz (+ _mask)  ratio map
    sub-<s>_acq-<n>_space-T1w_desc-srLam<λ>ratio<Num><Den>_mrsi.nii.gz (+ _mask)           on the T1w grid

A ratio is not a metabolite, so it gets no ``met-`` entity (whose values stay metabolite
names for every reader); it is a description of the map, so it extends ``desc``, after the
λ, so that selecting ``desc-srLam0p03*`` finds every map of one λ.
"""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from mrsisr.interfaces.bids import DerivativesDataSink, lambda_label
from mrsisr.workflows.outputs import _sink

__all__ = ["init_ds_mrsi_t1w_wf", "init_ds_ratios_wf", "t1w_sidecars", "ratio_sidecars", "sink_each"]


def t1w_sidecars(
    sharpness: list, target_matrix: int, simulate_matrix, acquisition, acquired_matrix: int, model_info: dict,
    slices: list, thresholds: dict, sources: list, skullstrip_backend: str, coreg_backend: str,
) -> tuple:
    """Sidecars of the T1w-space output mask and of the T1w-space map of each λ (same order)."""
    from mrsisr.workflows.outputs import mrsi_sidecars

    _, _, mask, per_lambda = mrsi_sidecars(sharpness, target_matrix, simulate_matrix, acquisition, acquired_matrix,
                                           model_info, slices, thresholds, sources, skullstrip_backend,
                                           coreg_backend)
    t1w = {"Space": "T1w", "SpatialReference": sources[0],
           "Resampling": "normalised trilinear interpolation over the output mask (mrsisr.spaces.resample_masked): "
                         "masked-out voxels do not enter the values; 0 outside the resampled mask"}
    mask = dict(mask, **t1w, Description="Output mask resampled onto the T1w grid")
    per_lambda = [dict(meta, **t1w, Description="Super-resolved metabolite map resampled onto the T1w grid")
                  for meta in per_lambda]
    return mask, per_lambda


def ratio_sidecars(labels: list, numerators: list, denominators: list, sharpness: list, floors: list,
                   floor_fraction: float, space: str, sources: list, model_info: dict) -> tuple:
    """``desc`` labels and sidecars of the ratio maps and of their masks (one each per ratio map)."""
    from mrsisr.interfaces.bids import lambda_label
    from mrsisr.workflows.outputs import software_versions

    versions = software_versions()
    model = {"Variant": model_info.get("variant"), "Sha256": model_info.get("sha256"),
             "Placeholder": bool(model_info.get("placeholder", False))}
    descs, maps, masks = [], [], []
    for label, num, den, lam, floor in zip(labels, numerators, denominators, sharpness, floors, strict=True):
        descs.append(f"{lambda_label(lam)}ratio{label}")
        common = {"Numerator": num, "Denominator": den, "Sharpness": float(lam), "Space": space,
                  "RatioOf": [f"super-resolved {num} (desc-{lambda_label(lam)})",
                              f"super-resolved {den} (desc-{lambda_label(lam)})"],
                  "DenominatorFloor": float(floor), "DenominatorFloorFraction": float(floor_fraction),
                  "Sources": list(sources), "Model": model, "ProcessingSoftware": versions}
        maps.append(dict(common, Description=f"{num}/{den} ratio of the super-resolved maps (0 outside its mask)",
                         Units="ratio (unitless)"))
        masks.append(dict(common, Description=f"Voxels where both {num} and {den} are valid and {den} exceeds "
                                              "DenominatorFloor"))
    return descs, maps, masks


def sink_each(base_directory: str, source_file: str, in_files: list, descs: list, metadata: list,
              entities: dict) -> list:
    """Write each file with its own ``desc`` and sidecar through the derivatives sink; an empty list writes
    nothing (a MapNode cannot iterate over an empty list: a run whose metabolites make no ratio)."""
    from mrsisr.workflows import outputs

    written = []
    for in_file, desc, meta in zip(in_files, descs, metadata, strict=True):
        sink = outputs.DerivativesDataSink(base_directory=base_directory, source_file=source_file,
                                           in_file=in_file, desc=desc, metadata=meta, **entities)
        written += sink.run().outputs.out_file
    return written


def _each_sink(name: str, output_dir: str, **entities) -> pe.Node:
    node = pe.Node(niu.Function(function=sink_each, output_names=["out_files"]), name=name,
                   run_without_submitting=True, overwrite=True)  # cheap, like the sink: always rewrite
    node.inputs.base_directory = str(output_dir)
    node.inputs.entities = entities
    return node


def init_ds_ratios_wf(
    *, output_dir: str, sources: list[str], acquisition: str | None, space: str, target_matrix: int | None = None,
    floor_fraction: float, name: str = "ds_ratios_wf",
) -> pe.Workflow:
    """Write the ratio maps (``desc-srLam<λ>ratio<Num><Den>``, suffix ``mrsi``) and their masks.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.outputs_derived import init_ds_ratios_wf
            wf = init_ds_ratios_wf(output_dir="/tmp", sources=[], acquisition="16", space="orig",
                                   target_matrix=64, floor_fraction=0.05)

    Parameters
    ----------
    output_dir, sources, acquisition
        As :func:`init_ds_mrsi_wf`.
    space : str
        ``orig`` (the N-grid, named with ``res-<N>``) or ``T1w``.
    target_matrix : int or None
        N of ``res-<N>`` (``orig`` only).
    floor_fraction : float
        The denominator floor fraction, recorded in the sidecars.

    Inputs
    ------
    source_file, ratio_files, ratio_masks, labels, numerators, denominators, sharpness, floors, model_info

    Outputs
    -------
    ratio_files, ratio_masks
        The written derivative paths.
    """
    workflow = pe.Workflow(name=name)
    fields = ["source_file", "ratio_files", "ratio_masks", "labels", "numerators", "denominators", "sharpness",
              "floors", "model_info"]
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["ratio_files", "ratio_masks"]), name="outputnode")
    sidecars = pe.Node(niu.Function(function=ratio_sidecars, output_names=["descs", "maps", "masks"]),
                       name="sidecars", run_without_submitting=True)
    sidecars.inputs.floor_fraction = float(floor_fraction)
    sidecars.inputs.space = space
    sidecars.inputs.sources = list(sources)
    entities = {"datatype": "mrs", "space": space}
    if acquisition:
        entities["acquisition"] = acquisition
    if space == "orig" and target_matrix:
        entities["res"] = str(target_matrix)
    ds_ratio = _each_sink("ds_ratio", output_dir, **entities, suffix="mrsi")
    ds_ratio_mask = _each_sink("ds_ratio_mask", output_dir, **entities, suffix="mask")
    workflow.connect([
        (inputnode, sidecars, [("labels", "labels"),
                               ("numerators", "numerators"),
                               ("denominators", "denominators"),
                               ("sharpness", "sharpness"),
                               ("floors", "floors"),
                               ("model_info", "model_info")]),
        (inputnode, ds_ratio, [("source_file", "source_file"),
                               ("ratio_files", "in_files")]),
        (inputnode, ds_ratio_mask, [("source_file", "source_file"),
                                    ("ratio_masks", "in_files")]),
        (sidecars, ds_ratio, [("descs", "descs"),
                              ("maps", "metadata")]),
        (sidecars, ds_ratio_mask, [("descs", "descs"),
                                   ("masks", "metadata")]),
        (ds_ratio, outputnode, [("out_files", "ratio_files")]),
        (ds_ratio_mask, outputnode, [("out_files", "ratio_masks")]),
    ])
    return workflow


def init_ds_mrsi_t1w_wf(
    *, output_dir: str, sources: list[str], acquisition: str | None, sharpness: tuple[float, ...],
    target_matrix: int, simulate_matrix: int | None, thresholds: dict, name: str = "ds_mrsi_t1w_wf",
) -> pe.Workflow:
    """Write the super-resolved maps resampled onto the T1w grid (``space-T1w``) and their mask.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.outputs_derived import init_ds_mrsi_t1w_wf
            wf = init_ds_mrsi_t1w_wf(output_dir="/tmp", sources=["T1w"], acquisition="16", sharpness=(0.0,),
                                     target_matrix=64, simulate_matrix=None, thresholds={})

    Parameters
    ----------
    output_dir, sources, acquisition, sharpness, target_matrix, simulate_matrix, thresholds
        As :func:`init_ds_mrsi_wf` (``sources[0]``, the T1w, is the spatial reference).

    Inputs
    ------
    source_file, metabolites, acquired_matrix, model_info, slices, sr_t1w_files, sr_t1w_mask,
    skullstrip_backend, coreg_backend

    Outputs
    -------
    sr_files, sr_mask
        Written derivative paths.
    """
    workflow = pe.Workflow(name=name)
    fields = ["source_file", "metabolites", "acquired_matrix", "model_info", "slices", "sr_t1w_files",
              "sr_t1w_mask", "skullstrip_backend", "coreg_backend"]
    inputnode = pe.Node(niu.IdentityInterface(fields=fields), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["sr_files", "sr_mask"]), name="outputnode")
    sidecars = pe.Node(niu.Function(function=t1w_sidecars, output_names=["mask", "sr"]), name="sidecars",
                       run_without_submitting=True)
    for key, value in (("sharpness", list(sharpness)), ("target_matrix", target_matrix),
                       ("simulate_matrix", simulate_matrix), ("acquisition", acquisition),
                       ("thresholds", dict(thresholds)), ("sources", list(sources))):
        setattr(sidecars.inputs, key, value)
    t1w = {"datatype": "mrs", "space": "T1w"}
    if acquisition:
        t1w["acquisition"] = acquisition
    ds_mask = _sink("ds_sr_t1w_mask", output_dir, **t1w, desc="sr", suffix="mask")
    ds_sr = pe.MapNode(DerivativesDataSink(base_directory=str(output_dir), suffix="mrsi", **t1w),
                       iterfield=["in_file", "desc", "metadata"], name="ds_sr_t1w", run_without_submitting=True)
    ds_sr.inputs.desc = [lambda_label(lam) for lam in sharpness]
    workflow.connect([
        (inputnode, sidecars, [("acquired_matrix", "acquired_matrix"),
                               ("model_info", "model_info"),
                               ("slices", "slices"),
                               ("skullstrip_backend", "skullstrip_backend"),
                               ("coreg_backend", "coreg_backend")]),
        (inputnode, ds_mask, [("source_file", "source_file"),
                              ("metabolites", "metabolites"),
                              ("sr_t1w_mask", "in_file")]),
        (inputnode, ds_sr, [("source_file", "source_file"),
                            ("metabolites", "metabolites"),
                            ("sr_t1w_files", "in_file")]),
        (sidecars, ds_mask, [("mask", "metadata")]),
        (sidecars, ds_sr, [("sr", "metadata")]),
        (ds_sr, outputnode, [("out_file", "sr_files")]),
        (ds_mask, outputnode, [("out_file", "sr_mask")]),
    ])
    return workflow
