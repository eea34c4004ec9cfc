"""File names and metadata of the synthetic BIDS dataset, its LCModel derivatives and phantom.

Layout (``XX`` = subject label, ``n`` = acquisition matrix)::

    dataset_description.json  participants.tsv  participants.json  README
    sub-XX/anat/sub-XX_T1w.nii.gz (+ .json), sub-XX_FLAIR.nii.gz (+ .json)
    derivatives/lcmodel/dataset_description.json  README
    derivatives/lcmodel/sub-XX/sub-XX_acq-<n>_space-orig_met-<Met>_desc-{signal,crlb}_mrsi.nii.gz
    derivatives/lcmodel/sub-XX/sub-XX_acq-<n>_space-orig_desc-{snr,fwhm}_mrsi.nii.gz
    derivatives/lcmodel/sub-XX/lcmodel_acq-<n>/geometry.json, sl<z>.csv, sl<z>_<row>-<col>.table
    sourcedata/phantom/README  sourcedata/phantom/sub-XX/...  (ground truth; see PHANTOM_README)
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

import mrsisr

BIDS_VERSION = "1.9.0"
_SCANNER = {
    "Modality": "MR", "MagneticFieldStrength": 7, "Manufacturer": "Siemens",
    "ManufacturersModelName": "MAGNETOM Terra (simulated by mrsisr-synth)",
    "DeviceSerialNumber": "SYNTH-0001", "StationName": "mrsisr-synth",
    "SoftwareVersions": f"mrsisr-synth {mrsisr.__version__}",
    "InstitutionName": "None (synthetic data)", "InstitutionAddress": "n/a",
    "InstitutionalDepartmentName": "n/a", "ReceiveCoilName": "32Ch Head (simulated)",
}
T1W_SIDECAR = {
    **_SCANNER, "ScanningSequence": "GR\\IR", "SequenceVariant": "SK\\SP\\MP", "SequenceName": "tfl3d1",
    "PulseSequenceType": "MPRAGE", "MRAcquisitionType": "3D", "RepetitionTime": 2.3,
    "EchoTime": 0.00298, "InversionTime": 1.05, "FlipAngle": 8, "ContrastBolusIngredient": "GADOLINIUM",
}
FLAIR_SIDECAR = {
    **_SCANNER, "ScanningSequence": "SE\\IR", "SequenceVariant": "SK\\SP\\MP", "SequenceName": "tir2d1",
    "PulseSequenceType": "TSE with inversion recovery", "MRAcquisitionType": "2D",
    "RepetitionTime": 9.0, "EchoTime": 0.094, "InversionTime": 2.5, "FlipAngle": 150,
}
PARTICIPANTS_JSON = {
    "age": {"Description": "age at scan", "Units": "year"},
    "sex": {"Description": "sex", "Levels": {"M": "male", "F": "female"}},
    "tumour": {"Description": "whether the subject has a (simulated) high-grade glioma",
               "Levels": {"yes": "glioma present", "no": "no lesion"}},
}
README_TEXT = """Synthetic 7T glioma MRSI study (mrsisr-synth {version})

Simulated subjects, each with a contrast-enhanced T1w (MPRAGE-like) and a FLAIR whose head
position differs from the T1w (rigid motion up to 5 degrees and 5 mm). Anatomy: nilearn's
MNI152 2009 templates, deformed per subject, with CSF, skull, marrow, scalp, fat, eyes and
sinuses added. Most subjects carry a high-grade glioma (necrosis, enhancing rim, oedema).

derivatives/lcmodel holds simulated LCModel 6.3 results of a 64x64xZ FID-MRSI (3.4 mm) and of
lower-resolution acquisitions of the same field of view. sourcedata/phantom holds the ground
truth; no processing step may read it.

Generated with: {command}
Every value is synthetic; nothing here comes from a person.
"""
LCMODEL_README = """Simulated LCModel 6.3-1N outputs (mrsisr-synth).

Per subject and acquisition matrix n (acq-<n>; 64 = the high-resolution acquisition):
  NIfTI maps sub-XX_acq-<n>_space-orig_met-<Met>_desc-signal_mrsi.nii.gz (concentration,
  institutional units ~ mM; voxels without data or with a zero fit are 0) and desc-crlb (%SD,
  999 = not found or no data); desc-snr (LCModel S/N, 0 = no data) and desc-fwhm (ppm, 0 = no data).
  NIfTI <Met> -> LCModel row: tCho = GPC+PCh, tCr = Cr+PCr, NAA = NAA+NAAG, Gly = Gly, Gln = Gln,
  Glu = Glu, Ins = Ins.
  lcmodel_acq-<n>/geometry.json: {"shape", "affine", "convention"}; LCModel row r, column c,
  slice s is NIfTI voxel (c-1, r-1, s-1) and the affine maps it to scanner RAS mm (T1w session).
  lcmodel_acq-<n>/sl<s>.csv: the CSI spreadsheet of slice s (lcsv=11), centre-out voxel order.
  lcmodel_acq-<n>/sl<s>_<r>-<c>.table: per-voxel tables (when requested).
Voxels with all-zero data (outside the head) have no table and no CSV row, as in LCModel.
Quality rule used downstream: reject S/N < 2.5 or FWHM > 0.15 ppm.
"""
PHANTOM_README = """Ground truth of the synthetic study (never read by any processing step).

sub-XX/
  sub-XX_space-T1w_desc-brain_mask.nii.gz     brain mask (template brain + tumour core), T1w grid
  sub-XX_space-T1w_label-{GM,WM,CSF}_probseg.nii.gz  tissue fractions (healthy tissue), T1w grid
  sub-XX_space-T1w_desc-tumour_dseg.nii.gz    tumour labels, T1w grid: 0 none, 1 necrotic core,
                                              2 oedema, 3 enhancing rim (BraTS 2023 numbering)
  sub-XX_from-FLAIR_to-T1w_mode-scanner_xfm.txt  4x4 matrix M: p_T1w = M @ p_FLAIR, where p_FLAIR are
                                              the scanner RAS mm coordinates of an anatomical point
                                              in the FLAIR image and p_T1w those of the same point in
                                              the T1w image (and on the MRSI grids)
  sub-XX_from-FLAIR_to-T1w_mode-scanner_xfm.json  the same matrix, its rotation angles (degrees,
                                              M[:3,:3] = Rz @ Ry @ Rx) and translation (mm)
  sub-XX_acq-64_space-orig_met-<Met>_desc-truth_mrsi.nii.gz  noise-free 64xZ maps (k-space
                                              sampled from a 3x finer map), LCModel-grid geometry
  sub-XX_acq-64_space-orig_desc-brain_mask.nii.gz   brain mask on the 64 MRSI grid (fraction >= 0.5)
  sub-XX_acq-64_space-orig_desc-brainfraction_mrsi.nii.gz  brain fraction per MRSI voxel
  sub-XX_acq-64_space-orig_desc-tumour_dseg.nii.gz  tumour labels on the 64 MRSI grid
  sub-XX_phantom.json                         every random parameter of the subject (warp, tumour
                                              in MNI and T1w scanner mm, quality, seeds)
"""


def subject_label(index: int) -> str:
    """BIDS label of the 1-based subject ``index`` (``01``, ``02``, …)."""
    return f"{index:02d}"


def write_json(path: Path, content: dict) -> None:
    """Write indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n")


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, stored_dtype: type | None = None) -> None:
    """Save ``data`` with ``affine`` as both qform and sform (scanner), units mm.

    With ``stored_dtype`` nibabel stores integers with a scale factor (``scl_slope``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(data, affine)
    if stored_dtype is not None:
        image.set_data_dtype(stored_dtype)
    image.header.set_xyzt_units("mm", "sec")
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    nib.save(image, path)


def save_probability(path: Path, fractions: np.ndarray, affine: np.ndarray) -> None:
    """Save fractions in [0, 1] compactly as scaled uint8."""
    save_nifti(path, np.clip(fractions, 0.0, 1.0).astype(np.float32), affine, np.uint8)


def write_dataset_files(root: Path, *, participants: list[dict], command: str) -> None:
    """Top-level raw files, derivative and phantom descriptions."""
    generated_by = [{"Name": "mrsisr-synth", "Version": mrsisr.__version__}]
    write_json(root / "dataset_description.json", {
        "Name": "mrsisr synthetic 7T glioma MRSI study", "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw", "License": "CC0", "Authors": ["mrsisr-synth", "The mrsisr developers"],
        "GeneratedBy": generated_by,
    })
    lines = ["participant_id\tage\tsex\ttumour"]
    lines += [f"sub-{p['label']}\t{p['age']}\t{p['sex']}\t{p['tumour']}" for p in participants]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    write_json(root / "participants.json", PARTICIPANTS_JSON)
    (root / "README").write_text(README_TEXT.format(version=mrsisr.__version__, command=command))
    lcmodel = root / "derivatives" / "lcmodel"
    write_json(lcmodel / "dataset_description.json", {
        "Name": "LCModel results (simulated)", "BIDSVersion": BIDS_VERSION, "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "LCModel", "Version": "6.3-1N", "Description": "simulated by mrsisr-synth"},
                        *generated_by],
    })
    (lcmodel / "README").write_text(LCMODEL_README)
    phantom = root / "sourcedata" / "phantom"
    phantom.mkdir(parents=True, exist_ok=True)
    (phantom / "README").write_text(PHANTOM_README)


def anat_path(root: Path, label: str, suffix: str) -> Path:
    """``sub-XX/anat/sub-XX_<suffix>.nii.gz``."""
    return root / f"sub-{label}" / "anat" / f"sub-{label}_{suffix}.nii.gz"


def lcmodel_dir(root: Path, label: str) -> Path:
    """``derivatives/lcmodel/sub-XX``."""
    return root / "derivatives" / "lcmodel" / f"sub-{label}"


def map_path(root: Path, label: str, matrix: int, desc: str, metabolite: str | None = None) -> Path:
    """Path of an LCModel NIfTI map (``met-`` only for per-metabolite maps)."""
    met = f"_met-{metabolite}" if metabolite else ""
    return lcmodel_dir(root, label) / f"sub-{label}_acq-{matrix}_space-orig{met}_desc-{desc}_mrsi.nii.gz"


def phantom_dir(root: Path, label: str) -> Path:
    """``sourcedata/phantom/sub-XX``."""
    return root / "sourcedata" / "phantom" / f"sub-{label}"
