"""Workflow builders: graphs built from literals, docstring examples, small function nodes."""

from __future__ import annotations

import re

import nibabel as nib
import numpy as np
import pytest

from mrsisr.kspace import fine_grid_affine
from mrsisr.workflows import anatomical, base, mrsi, outputs
from mrsisr.workflows.anatomical import apply_mask, init_anat_wf
from mrsisr.workflows.base import bids_uri, init_single_subject_wf, subject_workflow_name
from mrsisr.workflows.mrsi import MRSIOptions, export_label, init_mrsi_wf, target_grid

BUILDERS = [anatomical.init_anat_wf, mrsi.init_mrsi_wf, outputs.init_ds_anat_wf, outputs.init_ds_mrsi_wf,
            base.init_single_subject_wf, base.init_mrsisr_wf]


def _fields(workflow, node: str) -> set[str]:
    return set(workflow.get_node(node).inputs.copyable_trait_names())


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_docstring_workflow_example_builds(builder):
    """The ``.. workflow::`` block of every builder runs (what the docs build would do)."""
    doc = builder.__doc__
    block = re.search(r"\.\. workflow::\n(?:\s+:[^\n]+\n)+\n((?:\s{12,}[^\n]*\n?)+)", doc)
    assert block, f"{builder.__name__} has no .. workflow:: example"
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    namespace: dict = {}
    exec("\n".join(line[indent:] for line in lines), namespace)  # noqa: S102 - our own docstrings
    assert namespace["wf"].list_node_names()
    for section in ("Parameters", "Inputs", "Outputs") if builder is not base.init_mrsisr_wf else ("Parameters",):
        assert section in doc


def test_anat_wf_nodes_and_fields():
    wf = init_anat_wf(backend="python")
    assert {"skullstrip", "coregister", "mask_flair", "inputnode", "outputnode"} <= set(wf.list_node_names())
    assert {"t1w", "flair"} <= _fields(wf, "inputnode")
    assert wf.get_node("skullstrip").inputs.backend == "python"


@pytest.mark.parametrize("crlb_max, connected", [(None, False), (20.0, True)])
def test_mrsi_wf_crlb_only_when_asked(tmp_path, crlb_max, connected):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    wf = init_mrsi_wf(options=MRSIOptions(metabolites=("NAA",), crlb_max=crlb_max, sharpness=(0.0, 0.03),
                                          simulate_matrix=16, weights=str(weights)))
    edges = wf._graph.get_edge_data(wf.get_node("load"), wf.get_node("quality"))["connect"]
    assert (("sd_file", "sd_file") in edges) is connected
    superres = wf.get_node("superres")
    assert superres.inputs.sharpness == [0.0, 0.03] and superres.inputs.simulate_matrix == 16
    assert superres.inputs.weights == str(weights)
    assert wf.get_node("target_grid").inputs.simulate is True


def test_single_subject_without_output_dir_has_no_sinks():
    wf = init_single_subject_wf(subject="01", session="pre", options=MRSIOptions(metabolites=("NAA",)))
    assert wf.name == "sub_01_ses_pre_wf"
    assert not [n for n in wf.list_node_names() if ".ds_" in n or n.startswith("ds_")]
    assert {"sr_files", "zero_filled_file", "quality_mask", "brain_mask"} <= _fields(wf, "outputnode")


def test_single_subject_with_output_dir_has_sinks(tmp_path):
    wf = init_single_subject_wf(subject="01", t1w="/d/sub-01/anat/sub-01_T1w.nii.gz", output_dir=str(tmp_path),
                                bids_dir="/d", options=MRSIOptions(sharpness=(0.0, 0.01, 0.03), export_slices=True))
    names = set(wf.list_node_names())
    assert {"ds_anat_wf.ds_brain_mask", "ds_mrsi_wf.ds_sr", "ds_slices_npz", "mrsi_wf.export_slices"} <= names
    assert wf.get_node("ds_mrsi_wf.ds_sr").inputs.desc == ["srLam0", "srLam0p01", "srLam0p03"]


@pytest.mark.parametrize("subject, session, name", [("01", None, "sub_01_wf"), ("A2", "pre", "sub_A2_ses_pre_wf")])
def test_subject_workflow_names(subject, session, name):
    assert subject_workflow_name(subject, session) == name


def test_bids_uri(tmp_path):
    assert bids_uri(tmp_path / "sub-01" / "anat" / "x.nii.gz", tmp_path) == "bids:raw:sub-01/anat/x.nii.gz"
    assert bids_uri("/elsewhere/x.nii.gz", tmp_path) == "/elsewhere/x.nii.gz"


def test_export_label():
    assert export_label("01") == "01" and export_label("01", "pre") == "01_ses-pre"


@pytest.mark.parametrize("n", [16, 24, 32])
def test_target_grid_covers_the_acquired_field_of_view(tmp_path, monkeypatch, n):
    monkeypatch.chdir(tmp_path)
    affine = np.array([[-13.6, 0, 0, 100.0], [0, 13.6, 0, -120.0], [0, 0, 3.4, -20.0], [0, 0, 0, 1]])
    affine[:2, :2] *= 16 / n
    nib.save(nib.Nifti1Image(np.ones((n, n, 5), np.float32), affine), "acq.nii.gz")
    out = nib.load(target_grid("acq.nii.gz", 64, False))
    assert out.shape == (64, 64, 5) and np.allclose(out.affine, fine_grid_affine(affine, n, 64))
    # the field of view is unchanged: both grids span n*dx = 64*dX in-plane
    assert np.isclose(abs(out.affine[0, 0]) * 64, abs(affine[0, 0]) * n)


def test_target_grid_simulation_needs_the_target_matrix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nib.save(nib.Nifti1Image(np.ones((32, 32, 5), np.float32), np.eye(4)), "hr.nii.gz")
    with pytest.raises(ValueError, match="simulate-matrix needs maps on the 64×64"):
        target_grid("hr.nii.gz", 64, True)
    nib.save(nib.Nifti1Image(np.ones((64, 64, 5), np.float32), np.eye(4)), "hr64.nii.gz")
    assert np.allclose(nib.load(target_grid("hr64.nii.gz", 64, True)).affine, np.eye(4))


def test_apply_mask(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), 5.0, np.float32), np.eye(4)), "img.nii.gz")
    mask = np.zeros((4, 4, 4), np.uint8)
    mask[1:3, 1:3, 1:3] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), "mask.nii.gz")
    masked = nib.load(apply_mask("img.nii.gz", "mask.nii.gz")).get_fdata()
    assert masked.sum() == 5.0 * 8 and masked[0, 0, 0] == 0


def test_defaults_come_from_one_place(tmp_path):
    """The command line, the run configuration, the builders' options and the network node agree."""
    from mrsisr import defaults
    from mrsisr.bids_app.cli import _build_parser
    from mrsisr.bids_app.config import RunConfig
    from mrsisr.interfaces.resample import ResampleToMRSIGrid
    from mrsisr.interfaces.superres import SuperResolve
    from mrsisr.workflows.base import mrsi_options

    expected = {"snr_min": defaults.SNR_MIN, "fwhm_max": defaults.FWHM_MAX_PPM, "crlb_max": defaults.CRLB_MAX,
                "min_valid_fraction": None, "min_slice_fraction": defaults.MIN_SLICE_FRACTION, "target_matrix": defaults.TARGET_MATRIX,
                "sharpness": defaults.SHARPNESS, "batch_size": defaults.BATCH_SIZE}
    args = _build_parser().parse_args([str(tmp_path), str(tmp_path / "out"), "participant"])
    config = RunConfig(bids_dir=tmp_path, output_dir=tmp_path / "out", analysis_level="participant",
                       work_dir=tmp_path / "work", lcmodel_dir=tmp_path)
    from mrsisr.bids_app.cli import _slice_fraction

    args.min_slice_fraction = _slice_fraction(args.min_valid_fraction, args.min_slice_fraction)  # as config does
    for source in (args, config, MRSIOptions()):
        got = {key: getattr(source, key) for key in expected}
        assert dict(got, sharpness=tuple(got["sharpness"])) == expected, type(source).__name__
    assert mrsi_options(config) == MRSIOptions()
    node = SuperResolve().inputs
    assert (node.batch_size, node.target_matrix, tuple(node.sharpness)) == (8, 64, (0.0,))
    assert ResampleToMRSIGrid().inputs.factor == defaults.MRI_FACTOR == 3


def test_threads_are_omp_nthreads_everywhere():
    """One name for threads: the option, the network node and the registration node."""
    from mrsisr.interfaces.registration import CoRegister
    from mrsisr.interfaces.superres import SuperResolve

    superres = init_mrsi_wf(options=MRSIOptions(omp_nthreads=3)).get_node("superres")
    assert superres.inputs.omp_nthreads == 3 and superres.n_procs == 3
    for node in (SuperResolve(), CoRegister()):
        names = set(node.inputs.copyable_trait_names())
        assert "omp_nthreads" in names and "num_threads" not in names
