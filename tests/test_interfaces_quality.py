"""Tests of the quality filter and slice selection (mrsisr.quality, its nodes, mrsisr.grid)."""

from __future__ import annotations

import doctest
import json
import os

import nibabel as nib
import numpy as np
import pytest

from mrsisr.grid import brain_mask_on_grid, mask_fraction_on_grid
from mrsisr.defaults import MIN_VALID_FRACTION
from mrsisr.interfaces.quality import QualityFilter
from mrsisr.interfaces.selection import SelectSlices
from mrsisr.quality import filter_quality_files, quality_mask, select_slices, select_slices_file

MRSI_AFFINE = np.diag([4.0, 4.0, 4.0, 1.0])  # voxel (i, j, k) covers [4i-2, 4i+2) mm, ...


def _save(path, data, affine=MRSI_AFFINE):
    nib.save(nib.Nifti1Image(np.asarray(data), affine), str(path))
    return str(path)


def _read_tsv(path):
    lines = open(path).read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def _cube_mask(lo_mm: float, hi_mm: float, size: int = 48) -> np.ndarray:
    """1 mm mask (identity affine, voxel centres at integer mm) of the cube [lo, hi)³."""
    centres = np.arange(size)
    inside = (centres >= lo_mm + 0.5) & (centres <= hi_mm - 0.5)
    return (inside[:, None, None] & inside[None, :, None] & inside[None, None, :]).astype(np.uint8)


@pytest.fixture
def maps(tmp_path):
    """A 10×10×10 MRSI grid (4 mm) with a 6×6×6 brain; S/N, FWHM, %SD, validity with known failures."""
    shape = (10, 10, 10)
    snr = np.full(shape, 10.0)
    fwhm = np.full(shape, 0.05)
    crlb = np.full(shape + (2,), 5.0)
    valid = np.ones(shape + (2,), dtype=np.uint8)
    snr[4, 4, 4] = 1.0                              # low S/N
    snr[4, 5, 4] = np.nan                           # no fit written → low S/N
    fwhm[5, 4, 4] = 0.2                             # wide line
    fwhm[5, 5, 4] = 0.2; snr[5, 5, 4] = 2.0         # two reasons
    crlb[4, 4, 5, 1] = 40.0                         # high %SD for the 2nd metabolite only
    valid[5, 5, 5, 0] = 0                           # failed fit for the 1st metabolite only
    brain = _cube_mask(6.0, 30.0)                   # MRSI voxels 2…7 fully inside
    return {
        "metabolites": ["NAA", "tCho"],
        "snr_file": _save(tmp_path / "snr.nii.gz", snr),
        "fwhm_file": _save(tmp_path / "fwhm.nii.gz", fwhm),
        "sd_file": _save(tmp_path / "crlb.nii.gz", crlb),
        "valid_file": _save(tmp_path / "valid.nii.gz", valid),
        "brain_mask": _save(tmp_path / "brain.nii.gz", brain, np.eye(4)),
    }


# ---------------------------------------------------------------- pure functions
@pytest.mark.parametrize("module", ["mrsisr.grid", "mrsisr.quality", "mrsisr.interfaces.quality", "mrsisr.interfaces.selection"])
def test_docstring_examples_run(module):
    import importlib

    assert doctest.testmod(importlib.import_module(module)).failed == 0


def test_counts_per_reason_on_hand_made_map():
    shape = (3, 1, 1)
    result = quality_mask(
        metabolites=["NAA"],
        snr=np.array([1.0, 1.0, 9.0]).reshape(shape),
        fwhm=np.array([0.2, 0.1, 0.2]).reshape(shape),
        brain=np.array([False, True, True]).reshape(shape),
    )
    row = result.counts[0]
    # voxel 0 fails three reasons: counted under each, and once as rejected
    assert row == {"metabolite": "NAA", "total": 3, "outside_brain": 1, "low_snr": 2,
                   "wide_fwhm": 2, "high_crlb": "n/a", "failed_fit": 0, "rejected": 3, "kept": 0}
    assert result.mask.shape == shape + (1,) and not result.mask.any()


def test_thresholds_are_inclusive_and_nonfinite_fails():
    snr = np.array([2.5, np.nextafter(2.5, 0), np.nan, np.inf, 3.0, 3.0, 3.0, 3.0]).reshape(8, 1, 1)
    fwhm = np.array([0.1, 0.1, 0.1, 0.1, 0.15, np.nextafter(0.15, 1), np.nan, 0.1]).reshape(8, 1, 1)
    crlb = np.array([20.0] * 7 + [20.5]).reshape(8, 1, 1)
    brain = np.ones((8, 1, 1), bool)
    kept = quality_mask(metabolites=["A"], snr=snr, fwhm=fwhm, brain=brain, crlb=crlb,
                        crlb_max=20.0).mask[:, 0, 0, 0]
    assert kept.tolist() == [True, False, False, False, True, False, False, False]
    # %SD is ignored unless crlb_max is set
    off = quality_mask(metabolites=["A"], snr=snr, fwhm=fwhm, brain=brain, crlb=crlb)
    assert off.mask[-1, 0, 0, 0] and off.counts[0]["high_crlb"] == "n/a"


def test_per_metabolite_criteria_and_nan_concentration():
    shape = (2, 1, 1)
    valid = np.array([[1, 0], [1, 1]]).reshape(2, 1, 1, 2)
    conc = np.array([[1.0, 1.0], [1.0, np.nan]]).reshape(2, 1, 1, 2)
    result = quality_mask(metabolites=["A", "B"], snr=np.full(shape, 5.0), fwhm=np.full(shape, 0.1),
                          brain=np.ones(shape, bool), valid=valid, conc=conc)
    assert result.mask[:, 0, 0, 0].tolist() == [True, True]
    assert result.mask[:, 0, 0, 1].tolist() == [False, False]
    assert [row["failed_fit"] for row in result.counts] == [0, 2]


def test_brain_fraction_is_a_volume_average_on_a_simple_affine():
    mask = np.zeros((16, 16, 16), np.uint8)
    mask[:5] = 1                                     # brain where x < 4.5 mm
    grid = np.diag([4.0, 4.0, 4.0, 1.0])
    grid[:3, 3] = 1.5                                # MRSI voxels [-0.5, 3.5), [3.5, 7.5), …
    fraction = mask_fraction_on_grid(mask, np.eye(4), (4, 3, 3), grid)
    np.testing.assert_allclose(fraction[:, 1, 1], [1.0, 0.25, 0.0, 0.0], atol=1e-6)
    mask[:6] = 1                                     # x < 5.5 mm: exactly half of voxel 1
    fraction, brain = brain_mask_on_grid(mask, np.eye(4), (4, 3, 3), grid, erode_voxels=0)
    assert fraction[1, 1, 1] == pytest.approx(0.5)
    assert brain[:, 1, 1].tolist() == [True, True, False, False]   # threshold inclusive
    _, brain = brain_mask_on_grid(mask, np.eye(4), (4, 3, 3), grid, min_fraction=0.6, erode_voxels=0)
    assert brain[:, 1, 1].tolist() == [True, False, False, False]


def test_brain_fraction_differs_from_nearest_neighbour():
    # a 1 mm sheet through the centre plane of MRSI voxels: nearest neighbour would call them
    # brain, but only a quarter of each 4 mm voxel is inside
    mask = np.zeros((16, 16, 16), np.uint8)
    mask[5] = 1
    grid = np.diag([4.0, 4.0, 4.0, 1.0])
    grid[:3, 3] = 1.5
    fraction, brain = brain_mask_on_grid(mask, np.eye(4), (4, 3, 3), grid, erode_voxels=0)
    assert fraction[1, 1, 1] == pytest.approx(0.25, abs=1e-6)
    assert not brain.any()


def test_erosion_removes_voxels_at_the_skull():
    mask = _cube_mask(6.0, 30.0)                     # MRSI voxels 2…7 (6 per axis)
    shape = (10, 10, 10)
    counts = [int(brain_mask_on_grid(mask, np.eye(4), shape, MRSI_AFFINE, erode_voxels=n)[1].sum())
              for n in (0, 1, 2)]
    assert counts == [6**3, 4**3, 2**3]
    in_plane = brain_mask_on_grid(mask, np.eye(4), shape, MRSI_AFFINE, erode_in_plane=True)[1]
    assert int(in_plane.sum()) == 4 * 4 * 6


def test_erosion_does_not_eat_the_slab_edges_where_the_brain_continues():
    mask = _cube_mask(6.0, 30.0, size=48)
    mask[:, :, :] = mask[:, :, 20][:, :, None]       # brain column through all of z
    slab = MRSI_AFFINE.copy()
    slab[2, 3] = 16.0                                # 3 slices at z = 16, 20, 24 mm, well inside
    _, brain = brain_mask_on_grid(mask, np.eye(4), (10, 10, 3), slab, erode_voxels=1)
    assert brain.sum(axis=(0, 1)).tolist() == [16, 16, 16]


# ---------------------------------------------------------------- files and node
def test_filter_quality_files_outputs_and_counts(maps, tmp_path):
    out = filter_quality_files(out_dir=tmp_path, crlb_max=20.0, **maps)
    mask_img = nib.load(out["mask_file"])
    assert mask_img.shape == (10, 10, 10, 2) and mask_img.get_data_dtype() == np.uint8
    np.testing.assert_allclose(mask_img.affine, MRSI_AFFINE)
    brain = np.asarray(nib.load(out["brain_mask_mrsi"]).dataobj)
    assert brain.dtype == np.uint8 and int(brain.sum()) == 64
    rows = _read_tsv(out["counts_file"])
    assert [r["metabolite"] for r in rows] == ["NAA", "tCho"]
    naa, tcho = rows
    assert naa["total"] == "1000" and naa["outside_brain"] == str(1000 - 64)
    assert naa["low_snr"] == "3" and naa["wide_fwhm"] == "2"
    assert naa["high_crlb"] == "0" and tcho["high_crlb"] == "1"
    assert naa["failed_fit"] == "1" and tcho["failed_fit"] == "0"
    assert naa["kept"] == str(64 - 5) and tcho["kept"] == str(64 - 5)
    assert int(naa["rejected"]) + int(naa["kept"]) == 1000
    sidecar = json.load(open(out["counts_file"].replace(".tsv", ".json")))
    assert sidecar["Parameters"]["SNRMin"] == 2.5 and "low_snr" in sidecar


def test_bad_inputs_raise_specific_errors(maps, tmp_path):
    _save(tmp_path / "fwhm_small.nii.gz", np.zeros((10, 10, 9)))
    with pytest.raises(ValueError, match=r"fwhm_small.*\(10, 10, 9\).*snr.*\(10, 10, 10\)"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "fwhm_file": str(tmp_path / "fwhm_small.nii.gz")})
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "snr_file": str(tmp_path / "missing.nii.gz")})
    nan_mask = np.asarray(nib.load(maps["brain_mask"]).dataobj).astype(float)
    nan_mask[0, 0, 0] = np.nan
    bad = _save(tmp_path / "nan_brain.nii.gz", nan_mask, np.eye(4))
    with pytest.raises(ValueError, match="brain mask.*NaN"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "brain_mask": bad})
    nan_valid = np.ones((10, 10, 10, 2))
    nan_valid[1, 1, 1, 1] = np.nan
    bad = _save(tmp_path / "nan_valid.nii.gz", nan_valid)
    with pytest.raises(ValueError, match="fit-validity mask.*nan_valid.*NaN"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "valid_file": bad})
    no_snr = _save(tmp_path / "snr_nan.nii.gz", np.full((10, 10, 10), np.nan))
    with pytest.raises(ValueError, match="S/N map .*snr_nan.* no finite value"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "snr_file": no_snr})
    far = np.eye(4)
    far[:3, 3] = 500.0
    away = _save(tmp_path / "far_brain.nii.gz", np.ones((4, 4, 4), np.uint8), far)
    with pytest.raises(ValueError, match="covers no voxel of the MRSI grid"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "brain_mask": away})
    with pytest.raises(ValueError, match="crlb_max is set"):
        filter_quality_files(out_dir=tmp_path, crlb_max=20.0, **{**maps, "sd_file": None})
    empty = _save(tmp_path / "empty_brain.nii.gz", np.zeros((4, 4, 4), np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="empty"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "brain_mask": empty})
    three = _save(tmp_path / "crlb3.nii.gz", np.zeros((10, 10, 10, 3)))
    with pytest.raises(ValueError, match="3 volumes but 2 metabolites"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "sd_file": three})
    flat = _save(tmp_path / "snr2d.nii.gz", np.zeros((10, 10)))
    with pytest.raises(ValueError, match="2-D"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "snr_file": flat})
    shifted = MRSI_AFFINE.copy()
    shifted[0, 3] = 2.0
    moved = _save(tmp_path / "fwhm_moved.nii.gz", np.zeros((10, 10, 10)), shifted)
    with pytest.raises(ValueError, match="different affines"):
        filter_quality_files(out_dir=tmp_path, **{**maps, "fwhm_file": moved})


def test_quality_filter_node_standalone(maps, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = QualityFilter(**{k: v for k, v in maps.items() if k != "sd_file"}).run()
    assert os.path.isfile(result.outputs.mask_file)
    assert os.path.isfile(result.outputs.brain_fraction_file)
    rows = _read_tsv(result.outputs.counts_file)
    assert rows[0]["high_crlb"] == "n/a" and rows[0]["kept"] == str(64 - 5)


def test_quality_filter_node_refuses_missing_input(maps):
    with pytest.raises(Exception, match="snr_file"):
        QualityFilter(snr_file="/nonexistent/snr.nii.gz")


# ---------------------------------------------------------------- slice selection
def test_select_slices_rule_threshold_and_max_slices():
    valid = np.zeros((10, 10, 5), bool)
    valid[:, :3, 1] = True                           # 0.30: kept (inclusive)
    valid[:, :2, 2] = True
    valid[:, 2, 2, ] = True
    valid[0, 2, 2] = False                           # 0.29: dropped
    valid[:, :6, 3] = True                           # 0.60
    slices, rows = select_slices(valid)
    assert slices == [1, 3]
    assert [r["selected"] for r in rows] == ["false", "true", "false", "true", "false"]
    assert rows[2]["valid_fraction"] == pytest.approx(0.29)
    assert select_slices(valid, max_slices=1)[0] == [3]
    with pytest.raises(ValueError, match=r"sub-01_mask.*≥ 0\.7 .*best is slice k=3 with 0\.600"):
        select_slices(valid, min_valid_fraction=0.7, source="sub-01_mask.nii.gz")


@pytest.fixture(scope="module")
def mni_brain_on_mrsi_grid():
    """MNI152 brain mask on a whole-brain 64×64×39 grid of 3.4 mm, centred on the brain, eroded by 1."""
    from nilearn.datasets import load_mni152_brain_mask

    mni = load_mni152_brain_mask(resolution=2)
    data = np.asarray(mni.dataobj) > 0
    ijk = np.argwhere(data)
    centre = mni.affine[:3, :3] @ ((ijk.min(0) + ijk.max(0)) / 2) + mni.affine[:3, 3]
    shape = (64, 64, 39)
    affine = np.diag([3.4, 3.4, 3.4, 1.0])
    affine[:3, 3] = centre - 3.4 * (np.array(shape) - 1) / 2
    return brain_mask_on_grid(data, mni.affine, shape, affine)[1]


def test_default_threshold_keeps_the_papers_slice_count_on_mni(mni_brain_on_mrsi_grid):
    slices, rows = select_slices(mni_brain_on_mrsi_grid)
    assert 11 <= len(slices) <= 18
    assert slices == list(range(slices[0], slices[-1] + 1))          # one contiguous block
    assert max(r["valid_fraction"] for r in rows) == pytest.approx(0.40, abs=0.02)
    # with 15 % of voxels rejected by the spectral criteria, still within the paper's range
    lossy = mni_brain_on_mrsi_grid & (np.random.default_rng(0).random((64, 64, 39)) >= 0.15)
    assert 11 <= len(select_slices(lossy)[0]) <= 18


def test_select_slices_file_combines_metabolites_and_records_rule(tmp_path):
    mask = np.zeros((10, 10, 3, 2), np.uint8)
    mask[:, :5, 0, 0] = 1                            # slice 0: only metabolite 0
    mask[:, :5, 1, :] = 1                            # slice 1: both
    path = _save(tmp_path / "qmask.nii.gz", mask)
    assert select_slices_file(path, tmp_path / "any.tsv")[0] == [0, 1]
    slices, table = select_slices_file(path, tmp_path / "all.tsv", combine="all")
    assert slices == [1]
    sidecar = json.load(open(table.with_suffix(".json")))
    assert sidecar["MinValidFraction"] == MIN_VALID_FRACTION and sidecar["SelectedSlices"] == [1]
    assert _read_tsv(table)[1] == {"slice": "1", "n_valid": "50", "valid_fraction": "0.5", "selected": "true"}


def test_select_slices_node_errors_when_nothing_qualifies(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _save(tmp_path / "sub-07_qmask.nii.gz", np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(ValueError, match="sub-07_qmask.*no axial slice"):
        SelectSlices(mask_file=path).run()


def test_quality_and_selection_in_a_workflow(maps, tmp_path):
    from nipype.pipeline import engine as pe

    wf = pe.Workflow(name="quality_wf", base_dir=str(tmp_path / "work"))
    node_inputs = {("sd_file" if k == "crlb_file" else k): v for k, v in maps.items()}
    quality = pe.Node(QualityFilter(**node_inputs, crlb_max=20.0), name="quality")
    select = pe.Node(SelectSlices(min_valid_fraction=0.1, max_slices=3), name="select")
    wf.connect([(quality, select, [("mask_file", "mask_file")])])
    graph = wf.run()
    node = next(n for n in graph.nodes() if n.name == "select")
    # eroded brain: slices 3…6, 16 voxels each; slice 4 loses 4 to S/N and FWHM (any metabolite)
    assert node.result.outputs.slices == [3, 5, 6]
    assert node.result.outputs.n_slices == 3


def test_skull_rim_is_a_distance_not_a_voxel_count():
    """A 16×16 acquisition (13.6 mm voxels) must not lose a 13.6 mm rim of brain."""
    from mrsisr.quality import erosion_voxels

    assert [erosion_voxels(np.diag([size, size, 3.4, 1.0])) for size in (3.4, 6.8, 9.07, 13.6)] == [1, 1, 0, 0]
    assert erosion_voxels(np.diag([13.6, 13.6, 3.4, 1.0]), erode_mm=13.6) == 1
