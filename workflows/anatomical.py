"""Anatomical preprocessing: skull-stripping of the T1w and co-registration of the FLAIR."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

__all__ = ["init_anat_wf", "apply_mask"]


def apply_mask(in_file: str, mask_file: str) -> str:
    """Zero ``in_file`` outside ``mask_file`` (same grid); writes ``<name>_masked.nii.gz`` in the cwd."""
    import os

    import nibabel as nib
    import numpy as np

    img = nib.load(in_file)
    mask = np.asanyarray(nib.load(mask_file).dataobj) > 0
    if mask.shape != img.shape[:3]:
        raise ValueError(f"mask {mask_file} has shape {mask.shape}, image {in_file} has {img.shape[:3]}")
    data = np.asarray(img.dataobj, dtype=np.float32) * mask
    stem = os.path.basename(in_file).split(".")[0]
    out_file = os.path.abspath(f"{stem}_masked.nii.gz")
    nib.save(nib.Nifti1Image(data, img.affine), out_file)
    return out_file


def init_anat_wf(*, backend: str = "auto", skullstrip_iterations: int = 1000, flair: bool = True,
                 name: str = "anat_wf") -> pe.Workflow:
    """Skull-strip the T1w and rigidly co-register the FLAIR to it.

    Without ``flair`` (a T1w-only study) nothing is co-registered: ``flair_brain`` is the
    skull-stripped T1w, the substitute the network's FLAIR encoder receives
    (:data:`mrsisr.defaults.FLAIR_SUBSTITUTE`), ``coreg_backend`` is ``none`` and ``flair_t1w``,
    ``transform_file`` and ``out_matrix`` stay unset.

    The FLAIR is registered to the whole-head T1w (6 degrees of freedom, mutual
    information) and then masked with the T1w brain mask, so both images reach
    the MRSI grid skull-stripped.

    Workflow Graph
        .. workflow::
            :graph2use: orig
            :simple_form: yes

            from mrsisr.workflows.anatomical import init_anat_wf
            wf = init_anat_wf(backend="python")

    Parameters
    ----------
    backend : str
        ``auto`` (FSL when installed, else Python), ``fsl`` (BET + FLIRT) or ``python``
        (brainextractor + SimpleITK).
    skullstrip_iterations : int
        Surface-deformation iterations of the Python skull-strip (BET's 1000).
    flair : bool
        Whether a FLAIR is given (input ``flair``); False: T1w only.
    name : str
        Workflow name.

    Inputs
    ------
    t1w
        T1-weighted image (BIDS ``anat/``).
    flair
        FLAIR image (BIDS ``anat/``).

    Outputs
    -------
    t1w_brain
        Skull-stripped T1w.
    brain_mask
        Binary brain mask on the T1w grid.
    flair_t1w
        FLAIR resampled into T1w space (whole head).
    flair_brain
        ``flair_t1w`` masked with ``brain_mask``.
    transform_file
        The registration in the backend's format (FLIRT ``.mat`` or ITK text).
    out_matrix
        4×4 matrix mapping FLAIR scanner RAS mm to T1w scanner RAS mm (text).
    skullstrip_backend, coreg_backend
        The backends that ran.
    """
    from mrsisr.interfaces.registration import CoRegister
    from mrsisr.interfaces.skullstrip import SkullStrip

    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w", "flair"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=[
        "t1w_brain", "brain_mask", "flair_t1w", "flair_brain", "transform_file", "out_matrix",
        "skullstrip_backend", "coreg_backend"]), name="outputnode")
    skullstrip = pe.Node(SkullStrip(backend=backend, iterations=skullstrip_iterations),
                         name="skullstrip", mem_gb=1.0)
    if not flair:
        workflow.connect([
            (inputnode, skullstrip, [("t1w", "in_file")]),
            (skullstrip, outputnode, [("out_file", "t1w_brain"),
                                      ("out_file", "flair_brain"),
                                      ("mask_file", "brain_mask"),
                                      ("backend_used", "skullstrip_backend")]),
        ])
        outputnode.inputs.coreg_backend = "none"
        return workflow
    coregister = pe.Node(CoRegister(backend=backend), name="coregister", mem_gb=1.0)
    mask_flair = pe.Node(niu.Function(function=apply_mask, input_names=["in_file", "mask_file"],
                                      output_names=["out_file"]), name="mask_flair")

    workflow.connect([
        (inputnode, skullstrip, [("t1w", "in_file")]),
        (inputnode, coregister, [("flair", "in_file"),
                                 ("t1w", "reference")]),
        (skullstrip, mask_flair, [("mask_file", "mask_file")]),
        (skullstrip, outputnode, [("out_file", "t1w_brain"),
                                  ("mask_file", "brain_mask"),
                                  ("backend_used", "skullstrip_backend")]),
        (coregister, mask_flair, [("out_file", "in_file")]),
        (coregister, outputnode, [("out_file", "flair_t1w"),
                                  ("transform_file", "transform_file"),
                                  ("out_matrix", "out_matrix"),
                                  ("backend_used", "coreg_backend")]),
        (mask_flair, outputnode, [("out_file", "flair_brain")]),
    ])
    return workflow
