"""Top-level builders: one workflow per run (:func:`init_mrsisr_wf`) made of one workflow per
subject/session (:func:`init_single_subject_wf`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from mrsisr.defaults import RATIO_DENOMINATOR_FLOOR
from mrsisr.workflows.anatomical import init_anat_wf
from mrsisr.workflows.mrsi import RATIO_FIELDS, T1W_FIELDS, MRSIOptions, init_mrsi_wf
from mrsisr.workflows.outputs import export_training_slices, init_ds_anat_wf, init_ds_mrsi_wf
from mrsisr.workflows.outputs_derived import init_ds_mrsi_t1w_wf, init_ds_ratios_wf

__all__ = ["init_mrsisr_wf", "init_single_subject_wf", "mrsi_options", "subject_workflow_name", "bids_uri"]


def subject_workflow_name(subject: str, session: str | None) -> str:
    """``sub_01_wf`` or ``sub_01_ses_pre_wf``."""
    return f"sub_{subject}" + (f"_ses_{session}" if session else "") + "_wf"


def bids_uri(path: str | Path, bids_dir: str | Path | None) -> str:
    """``bids:raw:<relative path>`` for a file inside the raw dataset, else the absolute path."""
    path = Path(path).absolute()
    if bids_dir is not None:
        root = Path(bids_dir).absolute()
        if root in path.parents:
            return f"bids:raw:{path.relative_to(root).as_posix()}"
    return str(path)


def init_single_subject_wf(
    *,
    subject: str,
    session: str | None = None,
    t1w: str | None = None,
    flair: str | None = None,
    lcmodel_dir: str | None = None,
    output_dir: str | None = None,
    bids_dir: str | None = None,
    options: MRSIOptions = MRSIOptions(),
    backend: str = "auto",
    name: str | None = None,
) -> pe.Workflow:
    """Process one subject/session: anatomy, MRSI, super-resolution and (optionally) derivatives.

    Without ``output_dir`` no derivative is written: connect the ``outputnode`` into your own
    workflow instead (see ``docs/bids_app.md``, "Embedding").

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.base import init_single_subject_wf
            from mrsisr.workflows.mrsi import MRSIOptions
            wf = init_single_subject_wf(subject="01", options=MRSIOptions(metabolites=("NAA",), sharpness=(0.0, 0.03)))

    Parameters
    ----------
    subject, session : str
        Labels (without ``sub-``/``ses-``).
    t1w, flair, lcmodel_dir : str or None
        Inputs; when None, connect them to ``inputnode`` instead.
    output_dir, bids_dir : str or None
        Root of the derivatives dataset (None: no sinks) and of the raw dataset (for BIDS URIs).
    options : :class:`~mrsisr.workflows.mrsi.MRSIOptions`
        How the MRSI is processed (passed to :func:`~mrsisr.workflows.mrsi.init_mrsi_wf` as is).
    backend : str
        Anatomical backend (see :func:`~mrsisr.workflows.anatomical.init_anat_wf`).
    name : str or None
        Workflow name (default :func:`subject_workflow_name`).

    Inputs
    ------
    t1w, flair, lcmodel_dir

    Outputs
    -------
    brain_mask, t1w_brain, flair_t1w, out_matrix, metabolites, acquired_matrix, quality_mask,
    counts_file, slices_file, zero_filled_file, sr_files, sr_mask, model_info, slices_npz, ratio_files,
    ratio_masks, ratio_labels, ratio_numerators, ratio_denominators, ratio_sharpness, ratio_floors, and with
    ``T1w`` in ``options.output_spaces``: sr_t1w_files, sr_t1w_mask, ratio_t1w_files, ratio_t1w_masks
    """
    workflow = pe.Workflow(name=name or subject_workflow_name(subject, session))
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w", "flair", "lcmodel_dir", "subject", "session"]),
                        name="inputnode")
    inputnode.inputs.subject = subject
    if session:
        inputnode.inputs.session = session
    for field, value in (("t1w", t1w), ("flair", flair), ("lcmodel_dir", lcmodel_dir)):
        if value is not None:
            setattr(inputnode.inputs, field, str(value))
    mrsi_fields = ["metabolites", "acquired_matrix", "quality_mask", "counts_file", "slices_file",
                   "zero_filled_file", "sr_files", "sr_mask", "model_info", "slices_npz"] + RATIO_FIELDS
    if "T1w" in options.output_spaces:
        mrsi_fields += T1W_FIELDS
    outputnode = pe.Node(niu.IdentityInterface(fields=["brain_mask", "t1w_brain", "flair_t1w", "out_matrix"]
                                               + mrsi_fields), name="outputnode")
    anat_wf = init_anat_wf(backend=backend, flair=options.flair)
    mrsi_wf = init_mrsi_wf(options=options)
    if bids_dir is not None:  # its mrs/ gives LCModel outputs their grid
        mrsi_wf.inputs.inputnode.bids_dir = str(bids_dir)

    workflow.connect([
        (inputnode, anat_wf, [("t1w", "inputnode.t1w")] + ([("flair", "inputnode.flair")] if options.flair else [])),
        (inputnode, mrsi_wf, [("lcmodel_dir", "inputnode.lcmodel_dir"),
                              ("subject", "inputnode.subject"),
                              ("session", "inputnode.session")]),
        (anat_wf, mrsi_wf, [("outputnode.brain_mask", "inputnode.brain_mask"),
                            ("outputnode.t1w_brain", "inputnode.t1w_brain"),
                            ("outputnode.flair_brain", "inputnode.flair_brain")]),
        (anat_wf, outputnode, [("outputnode.brain_mask", "brain_mask"),
                               ("outputnode.t1w_brain", "t1w_brain")]
         + ([("outputnode.flair_t1w", "flair_t1w"), ("outputnode.out_matrix", "out_matrix")] if options.flair else [])),
        (mrsi_wf, outputnode, [(f"outputnode.{field}", field) for field in mrsi_fields]),
    ])
    if output_dir is not None:
        _add_sinks(workflow, anat_wf, mrsi_wf, inputnode, output_dir=output_dir, t1w=t1w, flair=flair,
                   lcmodel_dir=lcmodel_dir, bids_dir=bids_dir, subject=subject, session=session, options=options)
        _add_derived_sinks(workflow, anat_wf, mrsi_wf, inputnode, output_dir=output_dir, t1w=t1w, flair=flair,
                           lcmodel_dir=lcmodel_dir, bids_dir=bids_dir, subject=subject, session=session,
                           options=options)
        if options.export_slices:
            ds_slices_npz = pe.Node(niu.Function(function=export_training_slices, input_names=["in_file", "output_dir"],
                                                 output_names=["out_file"]), name="ds_slices_npz",
                                    run_without_submitting=True)
            ds_slices_npz.inputs.output_dir = str(output_dir)
            workflow.connect([(mrsi_wf, ds_slices_npz, [("outputnode.slices_npz", "in_file")])])
    return workflow


def _add_sinks(workflow, anat_wf, mrsi_wf, inputnode, *, output_dir, t1w, flair, lcmodel_dir, bids_dir,
               subject, session, options: MRSIOptions) -> None:
    """Connect the derivative writers of :mod:`mrsisr.workflows.outputs`."""
    anat_sources = [bids_uri(t1w or "T1w", bids_dir), bids_uri(flair or "FLAIR", bids_dir)]
    folder = Path(lcmodel_dir or ".") / f"sub-{subject}" / (f"ses-{session}" if session else "")
    label = options.acquisition
    if options.simulate_matrix is not None:
        label = f"sim{options.simulate_matrix}"
    ds_anat_wf = init_ds_anat_wf(output_dir=output_dir, sources=anat_sources, flair=options.flair)
    ds_mrsi_wf = init_ds_mrsi_wf(
        output_dir=output_dir, sources=anat_sources + [bids_uri(folder, bids_dir)], acquisition=label,
        sharpness=options.sharpness, target_matrix=options.target_matrix, simulate_matrix=options.simulate_matrix,
        thresholds=dict(options.thresholds(), SourceAcquisition=options.acquisition,
                        SubjectNotes=options.sidecar_notes()),
        uncertainty=options.uncertainty_samples > 0)
    backends = [("outputnode.skullstrip_backend", "inputnode.skullstrip_backend"),
                ("outputnode.coreg_backend", "inputnode.coreg_backend")]
    workflow.connect([
        (inputnode, ds_anat_wf, [("t1w", "inputnode.source_file")]),
        (inputnode, ds_mrsi_wf, [("t1w", "inputnode.source_file")]),
        (anat_wf, ds_anat_wf, [("outputnode.brain_mask", "inputnode.brain_mask")]
         + ([("outputnode.flair_t1w", "inputnode.flair_t1w"), ("outputnode.out_matrix", "inputnode.out_matrix")]
            if options.flair else []) + backends),
        (anat_wf, ds_mrsi_wf, backends),
        (mrsi_wf, ds_mrsi_wf, [("outputnode.metabolites", "inputnode.metabolites"),
                               ("outputnode.acquired_matrix", "inputnode.acquired_matrix"),
                               ("outputnode.model_info", "inputnode.model_info"),
                               ("outputnode.slices", "inputnode.slices"),
                               ("outputnode.quality_mask", "inputnode.quality_mask"),
                               ("outputnode.counts_file", "inputnode.counts_file"),
                               ("outputnode.slices_file", "inputnode.slices_file"),
                               ("outputnode.zero_filled_file", "inputnode.zero_filled_file"),
                               ("outputnode.sr_files", "inputnode.sr_files"),
                               ("outputnode.sr_mask", "inputnode.sr_mask"),
                               ("outputnode.sd_files", "inputnode.sd_files"),
                               ("outputnode.uncertainty", "inputnode.uncertainty")]),
    ])


def _add_derived_sinks(workflow, anat_wf, mrsi_wf, inputnode, *, output_dir, t1w, flair, lcmodel_dir, bids_dir,
                       subject, session, options: MRSIOptions) -> None:
    """Connect the writers of :mod:`mrsisr.workflows.outputs_derived`: ratio maps per output space and the
    super-resolved maps on the T1w grid."""
    anat_sources = [bids_uri(t1w or "T1w", bids_dir), bids_uri(flair or "FLAIR", bids_dir)]
    folder = Path(lcmodel_dir or ".") / f"sub-{subject}" / (f"ses-{session}" if session else "")
    sources = anat_sources + [bids_uri(folder, bids_dir)]
    label = f"sim{options.simulate_matrix}" if options.simulate_matrix is not None else options.acquisition
    ratio_fields = [("ratio_labels", "labels"), ("ratio_numerators", "numerators"),
                    ("ratio_denominators", "denominators"), ("ratio_sharpness", "sharpness"),
                    ("ratio_floors", "floors"), ("model_info", "model_info")]
    for space in ["orig"] + (["T1w"] if "T1w" in options.output_spaces else []):  # orig: always (as the SR maps)
        suffix = "" if space == "orig" else "_t1w"
        ds_ratios_wf = init_ds_ratios_wf(output_dir=output_dir, sources=sources, acquisition=label, space=space,
                                         target_matrix=options.target_matrix, floor_fraction=RATIO_DENOMINATOR_FLOOR,
                                         name=f"ds_ratios{suffix}_wf")
        workflow.connect([
            (inputnode, ds_ratios_wf, [("t1w", "inputnode.source_file")]),
            (mrsi_wf, ds_ratios_wf, [(f"outputnode.ratio{suffix}_files", "inputnode.ratio_files"),
                                     (f"outputnode.ratio{suffix}_masks", "inputnode.ratio_masks")]
             + [(f"outputnode.{src}", f"inputnode.{dst}") for src, dst in ratio_fields]),
        ])
    if "T1w" not in options.output_spaces:
        return
    ds_t1w_wf = init_ds_mrsi_t1w_wf(output_dir=output_dir, sources=sources, acquisition=label,
                                    sharpness=options.sharpness, target_matrix=options.target_matrix,
                                    simulate_matrix=options.simulate_matrix,
                                    thresholds=dict(options.thresholds(), SourceAcquisition=options.acquisition,
                                                    SubjectNotes=options.sidecar_notes()))
    workflow.connect([
        (inputnode, ds_t1w_wf, [("t1w", "inputnode.source_file")]),
        (anat_wf, ds_t1w_wf, [("outputnode.skullstrip_backend", "inputnode.skullstrip_backend"),
                              ("outputnode.coreg_backend", "inputnode.coreg_backend")]),
        (mrsi_wf, ds_t1w_wf, [("outputnode.metabolites", "inputnode.metabolites"),
                              ("outputnode.acquired_matrix", "inputnode.acquired_matrix"),
                              ("outputnode.model_info", "inputnode.model_info"),
                              ("outputnode.slices", "inputnode.slices"),
                              ("outputnode.sr_t1w_files", "inputnode.sr_t1w_files"),
                              ("outputnode.sr_t1w_mask", "inputnode.sr_t1w_mask")]),
    ])


def init_mrsisr_wf(config, subjects) -> pe.Workflow:
    """The whole participant-level run: one :func:`init_single_subject_wf` per subject/session.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from pathlib import Path
            from mrsisr.bids_app.bids import SubjectInputs
            from mrsisr.bids_app.config import RunConfig
            from mrsisr.workflows.base import init_mrsisr_wf
            config = RunConfig(bids_dir=Path("/data"), output_dir=Path("/out"), analysis_level="participant",
                               work_dir=Path("/work"), lcmodel_dir=Path("/data/derivatives/lcmodel"))
            wf = init_mrsisr_wf(config, [SubjectInputs("01", None, "/data/sub-01/anat/sub-01_T1w.nii.gz",
                                "/data/sub-01/anat/sub-01_FLAIR.nii.gz", "/data/derivatives/lcmodel", "16")])

    Parameters
    ----------
    config : :class:`mrsisr.bids_app.config.RunConfig`
        The run configuration (the only builder that receives it).
    subjects : list of :class:`mrsisr.bids_app.bids.SubjectInputs`
        What to process.
    """
    workflow = pe.Workflow(name="mrsisr_wf", base_dir=str(config.work_dir))
    options = mrsi_options(config)
    for item in subjects:
        single = init_single_subject_wf(
            subject=item.subject, session=item.session, t1w=item.t1w, flair=item.flair,
            lcmodel_dir=item.lcmodel_dir, output_dir=str(config.output_dir), bids_dir=str(config.bids_dir),
            options=subject_options(options, item), backend=config.backend)
        workflow.add_nodes([single])
    return workflow


def subject_options(options: MRSIOptions, item) -> MRSIOptions:
    """The run's options for one subject: its acquisition, the metabolites its fitting output has
    (when the user named none, the network's that are present), the missing ones, FLAIR or not."""
    return dataclasses.replace(
        options, acquisition=item.acquisition, metabolites=tuple(item.metabolites) or options.metabolites,
        missing_metabolites=dict(item.missing_metabolites), flair=bool(item.flair))


def mrsi_options(config) -> MRSIOptions:
    """The :class:`~mrsisr.workflows.mrsi.MRSIOptions` of a run configuration: the fields of the same
    names (the acquisition is set per subject)."""
    names = {item.name for item in dataclasses.fields(MRSIOptions)} - {"acquisition", "missing_metabolites", "flair"}
    values = {name: getattr(config, name) for name in names}
    values["metabolites"] = tuple(config.metabolites) or MRSIOptions.metabolites
    return MRSIOptions(**values)
