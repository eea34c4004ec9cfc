"""A tiny synthetic cohort: BIDS validity, geometry, ground truth, tumour, quality, determinism."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr.synth import generate_dataset, generate_subject
from mrsisr.synth.quality import failure_mask
from mrsisr.synth.subject import acquisition_rng, subject_rng

SEED = 0  # with this seed sub-01 has a glioma and sub-02 has none
SLICES = 3
ACQUIRED = (16,)
FORMATS = ("nifti", "csv", "table")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "ds"
    return generate_dataset(root, subjects=2, seed=SEED, slices=SLICES, acquired_matrix=ACQUIRED,
                            formats=FORMATS, tiny=True)


def _lcmodel(root: Path, label: str = "01") -> Path:
    return root / "derivatives" / "lcmodel" / f"sub-{label}"


def _map(root: Path, matrix: int, desc: str, met: str | None = None, label: str = "01") -> nib.Nifti1Image:
    met_part = f"_met-{met}" if met else ""
    return nib.load(_lcmodel(root, label) / f"sub-{label}_acq-{matrix}_space-orig{met_part}_desc-{desc}_mrsi.nii.gz")


def _phantom(root: Path, name: str, label: str = "01") -> Path:
    return root / "sourcedata" / "phantom" / f"sub-{label}" / f"sub-{label}_{name}"


def _table_value(path: Path, row_name: str) -> float:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("$$CONC"))
    for line in lines[start + 2 : start + 1 + int(lines[start].split()[1])]:
        if line[23:].strip() == row_name:
            return float(line[1:9])
    raise KeyError(row_name)


def test_raw_dataset_files_and_participants(dataset: Path) -> None:
    for name in ("dataset_description.json", "participants.tsv", "participants.json", "README",
                 "derivatives/lcmodel/dataset_description.json", "sourcedata/phantom/README"):
        assert (dataset / name).is_file(), name
    rows = [line.split("\t") for line in (dataset / "participants.tsv").read_text().splitlines()]
    assert rows[0] == ["participant_id", "age", "sex", "tumour"]
    assert [r[0] for r in rows[1:]] == ["sub-01", "sub-02"]
    assert [r[3] for r in rows[1:]] == ["yes", "no"]
    derivative = json.loads((dataset / "derivatives/lcmodel/dataset_description.json").read_text())
    assert derivative["DatasetType"] == "derivative"


def test_bids_layout_indexes_the_dataset(dataset: Path) -> None:
    bids = pytest.importorskip("bids")
    layout = bids.BIDSLayout(dataset)
    assert layout.get_subjects() == ["01", "02"]
    assert len(layout.get(suffix="T1w", extension=".nii.gz")) == 2
    assert len(layout.get(suffix="FLAIR", extension=".nii.gz")) == 2


def test_bids_validator_finds_no_error(dataset: Path) -> None:
    executable = shutil.which("bids-validator-deno")
    if executable is None:
        pytest.skip("bids-validator-deno is not installed")
    completed = subprocess.run([executable, str(dataset), "--format", "json"], capture_output=True, text=True,
                               check=False, timeout=120)
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.skip(f"bids-validator-deno did not run: {completed.stderr[-300:]}")
    errors = [i for i in report["issues"]["issues"] if i.get("severity") == "error"]
    assert errors == []


def test_mri_geometry(dataset: Path) -> None:
    t1w = nib.load(dataset / "sub-01/anat/sub-01_T1w.nii.gz")
    flair = nib.load(dataset / "sub-01/anat/sub-01_FLAIR.nii.gz")
    assert t1w.header.get_zooms() == pytest.approx((2.0, 2.0, 2.0))  # tiny; full is 1 mm
    assert flair.header.get_zooms() != t1w.header.get_zooms()
    assert t1w.get_data_dtype() == np.int16
    motion = np.loadtxt(_phantom(dataset, "from-FLAIR_to-T1w_mode-scanner_xfm.txt"))
    record = json.loads(_phantom(dataset, "from-FLAIR_to-T1w_mode-scanner_xfm.json").read_text())
    assert np.allclose(motion, record["matrix"])
    assert np.allclose(motion[:3, :3] @ motion[:3, :3].T, np.eye(3), atol=1e-8)
    assert 0.0 < record["rotation_angle_deg"] <= 5.0
    assert 0.0 < np.linalg.norm(motion[:3, 3]) <= 5.0 + 1e-9


def _sample(image: nib.Nifti1Image, points: np.ndarray) -> np.ndarray:
    """Nearest-neighbour values of ``image`` at scanner points (3, N); NaN outside."""
    index = np.rint(np.linalg.inv(image.affine)[:3] @ np.vstack([points, np.ones(points.shape[1])])).astype(int)
    data = np.asanyarray(image.dataobj)
    inside = np.all((index >= 0) & (index < np.array(data.shape)[:, None]), axis=0)
    out = np.full(points.shape[1], np.nan)
    out[inside] = data[tuple(index[:, inside])]
    return out


def _mutual_information(a: np.ndarray, b: np.ndarray, bins: int = 32) -> float:
    joint, _, _ = np.histogram2d(a, b, bins=bins)
    joint /= joint.sum()
    pa, pb = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log(joint[nonzero] / (pa @ pb)[nonzero])).sum())


def test_recorded_flair_to_t1w_transform_aligns_the_images(dataset: Path) -> None:
    flair = nib.load(dataset / "sub-01/anat/sub-01_FLAIR.nii.gz")
    t1w = nib.load(dataset / "sub-01/anat/sub-01_T1w.nii.gz")
    motion = np.loadtxt(_phantom(dataset, "from-FLAIR_to-T1w_mode-scanner_xfm.txt"))
    data = np.asarray(flair.dataobj, float)
    index = np.argwhere(data > 0.1 * data.max()).T  # head voxels of the FLAIR
    points = np.vstack([(flair.affine @ np.vstack([index, np.ones(index.shape[1])]))[:3], np.ones(index.shape[1])])

    def information(matrix: np.ndarray) -> float:
        values = _sample(t1w, (matrix @ points)[:3])
        ok = np.isfinite(values)
        return _mutual_information(data[tuple(index[:, ok])], values[ok])

    true, ignored, wrong_way = information(motion), information(np.eye(4)), information(np.linalg.inv(motion))
    assert true > ignored + 0.02 and true > wrong_way + 0.02


def test_mrsi_geometry_files_and_low_resolution_grids(dataset: Path) -> None:
    geometry = {}
    for matrix in (64, *ACQUIRED):
        record = json.loads((_lcmodel(dataset) / f"lcmodel_acq-{matrix}" / "geometry.json").read_text())
        assert record["shape"] == [matrix, matrix, SLICES]
        assert "(i, j, k) = (c-1, r-1, s-1)" in record["convention"]
        affine = np.array(record["affine"])
        assert np.allclose(_map(dataset, matrix, "snr").affine, affine)
        assert np.allclose(np.linalg.norm(affine[:3, :3], axis=0), [3.4 * 64 / matrix] * 2 + [3.4])
        assert affine[0, 0] < 0 and affine[1, 1] < 0 and affine[2, 2] > 0  # LPS: (1,1) top-left
        geometry[matrix] = affine
    for matrix in ACQUIRED:  # voxel n//2 shares its centre with voxel 32 of the 64 grid
        assert np.allclose(geometry[matrix] @ [matrix // 2, matrix // 2, 1, 1], geometry[64] @ [32, 32, 1, 1])


def test_mrsi_grid_sits_on_the_brain_of_the_t1w(dataset: Path) -> None:
    mask64 = nib.load(_phantom(dataset, "acq-64_space-orig_desc-brain_mask.nii.gz"))
    mask_t1w = nib.load(_phantom(dataset, "space-T1w_desc-brain_mask.nii.gz"))
    index = np.argwhere(np.asarray(mask64.dataobj) > 0).T
    points = (mask64.affine @ np.vstack([index, np.ones(index.shape[1])]))[:3]
    assert index.shape[1] > 500
    assert np.nanmean(_sample(mask_t1w, points)) > 0.9


@pytest.mark.parametrize("matrix", [64, 16])
def test_nifti_table_and_csv_agree_voxel_by_voxel(dataset: Path, matrix: int) -> None:
    folder = _lcmodel(dataset) / f"lcmodel_acq-{matrix}"
    naa = np.asarray(_map(dataset, matrix, "signal", "NAA").dataobj)
    crlb = np.asarray(_map(dataset, matrix, "crlb", "tCho").dataobj)
    fwhm = np.asarray(_map(dataset, matrix, "fwhm").dataobj)
    tables = sorted(folder.glob("sl*_*-*.table"))
    assert len(tables) == int((fwhm > 0).sum())  # one table per voxel with data, none outside
    assert np.all(naa[fwhm == 0] == 0) and np.all(crlb[fwhm == 0] == 999)
    rng = np.random.default_rng(0)
    for path in rng.choice(tables, 5, replace=False):
        s, r, c = (int(v) for v in path.stem[2:].replace("_", " ").replace("-", " ").split())
        assert _table_value(path, "NAA+NAAG") == pytest.approx(naa[c - 1, r - 1, s - 1], abs=1e-6)
        text = path.read_text()
        assert f"FWHM = {fwhm[c - 1, r - 1, s - 1]:5.3f} ppm" in text
        header, *rows = (folder / f"sl{s}.csv").read_text().splitlines()
        names = header.split(", ")
        row = next(line.split(", ") for line in rows if line.startswith(f"{r:3d}, {c:3d},"))
        assert float(row[names.index("NAA+NAAG")]) == pytest.approx(naa[c - 1, r - 1, s - 1], abs=1e-6)
        assert float(row[names.index("GPC+PCh %SD")]) == crlb[c - 1, r - 1, s - 1]
    total_rows = sum(len((folder / f"sl{s}.csv").read_text().splitlines()) - 1 for s in range(1, SLICES + 1))
    assert total_rows == len(tables)


def test_tumour_has_its_metabolic_signature(dataset: Path) -> None:
    labels = np.asarray(nib.load(_phantom(dataset, "acq-64_space-orig_desc-tumour_dseg.nii.gz")).dataobj)
    brain = np.asarray(nib.load(_phantom(dataset, "acq-64_space-orig_desc-brainfraction_mrsi.nii.gz")).dataobj)
    enhancing, normal = labels == 3, (labels == 0) & (brain > 0.95)
    assert enhancing.sum() >= 3 and (labels == 2).sum() >= 3
    truth = {m: np.asarray(nib.load(_phantom(dataset, f"acq-64_space-orig_met-{m}_desc-truth_mrsi.nii.gz")).dataobj)
             for m in ("NAA", "tCr", "tCho", "Gly", "Gln")}
    ratio = {m: truth[m][enhancing].mean() / truth[m][normal].mean() for m in truth}
    assert ratio["NAA"] < 0.6 and ratio["tCr"] < 0.95
    assert ratio["tCho"] > 1.3 and ratio["Gly"] > 1.3 and ratio["Gln"] > 1.3
    measured = np.asarray(_map(dataset, 64, "signal", "tCho").dataobj)
    assert measured[enhancing].mean() > 1.3 * measured[normal].mean()
    t1w_labels = np.asarray(nib.load(_phantom(dataset, "space-T1w_desc-tumour_dseg.nii.gz")).dataobj)
    assert set(np.unique(t1w_labels)) == {0, 1, 2, 3}
    healthy = np.asarray(nib.load(_phantom(dataset, "acq-64_space-orig_desc-tumour_dseg.nii.gz", "02")).dataobj)
    assert not healthy.any()


def test_share_of_quality_failures_is_realistic(dataset: Path) -> None:
    shares = []
    for label in ("01", "02"):
        failed = failure_mask(np.asarray(_map(dataset, 64, "snr", label=label).dataobj),
                              np.asarray(_map(dataset, 64, "fwhm", label=label).dataobj))
        fraction = _phantom(dataset, "acq-64_space-orig_desc-brainfraction_mrsi.nii.gz", label)
        brain = np.asarray(nib.load(fraction).dataobj)
        shares.append(failed[brain >= 0.5].mean())
        edge, core = (brain >= 0.5) & (brain < 0.95), brain >= 0.95
        assert failed[edge].mean() > failed[core].mean()
    # Mid-brain slabs of tiny subjects fail less than whole-brain ones (about 8-20 %).
    assert 0.02 <= np.mean(shares) <= 0.35


def test_subject_regenerates_alone_and_identically(dataset: Path, tmp_path: Path) -> None:
    generate_subject(tmp_path, 2, seed=SEED, slices=SLICES, acquired_matrix=ACQUIRED, formats=("nifti", "csv"),
                     tiny=True)
    for relative in ("sub-02/anat/sub-02_T1w.nii.gz", "sub-02/anat/sub-02_FLAIR.nii.gz",
                     "derivatives/lcmodel/sub-02/sub-02_acq-16_space-orig_met-NAA_desc-signal_mrsi.nii.gz",
                     "sourcedata/phantom/sub-02/sub-02_acq-64_space-orig_met-Gln_desc-truth_mrsi.nii.gz"):
        again, first = nib.load(tmp_path / relative), nib.load(dataset / relative)
        assert np.array_equal(np.asarray(again.dataobj), np.asarray(first.dataobj)), relative
        assert np.allclose(again.affine, first.affine)
    csv = "derivatives/lcmodel/sub-02/lcmodel_acq-64/sl2.csv"
    assert (tmp_path / csv).read_text() == (dataset / csv).read_text()


def test_random_streams_differ_by_seed_subject_and_concern() -> None:
    draws = {
        key: subject_rng(*key).standard_normal(4).tolist()
        for key in ((0, 1, "anatomy"), (1, 1, "anatomy"), (0, 2, "anatomy"), (0, 1, "tumour"))
    }
    assert len({tuple(v) for v in draws.values()}) == len(draws)
    assert subject_rng(0, 1, "anatomy").standard_normal(4).tolist() == draws[(0, 1, "anatomy")]
    assert acquisition_rng(0, 1, 16).random() != acquisition_rng(0, 1, 20).random()


@pytest.mark.parametrize("prefer", ["table", "csv"])
def test_project_loader_reads_back_the_maps_written(dataset: Path, prefer: str) -> None:
    lcmodel_io = pytest.importorskip("mrsisr.io.lcmodel")
    matrix = ACQUIRED[0]
    volume = lcmodel_io.read_csi_volume(_lcmodel(dataset) / f"lcmodel_acq-{matrix}", (matrix, matrix, SLICES),
                                        prefer=prefer)
    for met, row in (("NAA", "NAA+NAAG"), ("tCho", "GPC+PCh"), ("Gly", "Gly")):
        expected = np.transpose(np.asarray(_map(dataset, matrix, "signal", met).dataobj), (1, 0, 2))
        present = np.isfinite(volume.conc[row])
        assert present.sum() > 50
        assert np.allclose(volume.conc[row][present], expected[present], atol=1e-5)
        assert np.all(expected[~present] == 0)
