"""Builders that lay inputs out the way the real tools do, for issue 12's end-to-end tests.

Each builder takes a BIDS root (see :func:`bids_root`: a T1w from nilearn's MNI152 template,
no FLAIR unless asked) and returns the paths it wrote.  Files are small and fast to make:

* :func:`raw_mrsi`: the raw MRSI in BIDS ``mrs/``, NIfTI-MRS written with ``nifti-mrs``;
* :func:`lcmodel_csi_run`: a stock LCModel 6.3-1N CSI run (``control.file``, per-voxel
  ``<stem>_sl<z>_<row>-<col>.table``, ``spreadsheet.csv``, ``.coord`` files, one FATAL voxel,
  no Gly) -- the text is written by :mod:`real_lcmodel` in LCModel's own columns;
* :func:`fsl_mrsi_output`: an ``fsl_mrsi --output sub-01/mrsi_fit`` tree;
* :func:`mrsiprep_maps`: MRSIPrep-named maps (sessions, aliases ``GPCPCh``, ``CrPCr``...).

Grids: :data:`GRID_3T` (32 x 32 on a 240 mm FOV, 10 mm slices) and :data:`GRID_RECT`
(32 x 24 on 240 x 180 mm: rectangular FOV, square 7.5 mm voxels).  Maps follow the brain of
the template resampled onto the grid, so they look like a head, not a phantom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

import real_lcmodel
from mrsisr.io.geometry import MRSIGeometry, write_geometry_json

__all__ = [
    "GRID_3T", "GRID_RECT", "FSL_METABOLITES", "MRSIPREP_METABOLITES", "MRSIGrid",
    "bids_root", "fsl_mrsi_output", "lcmodel_csi_run", "mrsiprep_maps", "raw_mrsi",
]


@dataclass(frozen=True)
class MRSIGrid:
    """An acquisition grid: ``matrix`` (nx, ny) = (columns, rows), ``fov_mm`` (x, y), slices."""

    matrix: tuple[int, int]
    fov_mm: tuple[float, float]
    slices: int
    slice_mm: float
    frequency_mhz: float = 123.253  # 1H at 2.894 T (a "3 T" Siemens)
    centre_mm: tuple[float, float, float] = (0.0, -18.0, 20.0)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.matrix[0], self.matrix[1], self.slices

    @property
    def affine(self) -> np.ndarray:
        """RAS affine whose voxel centres are centred on ``centre_mm``."""
        zooms = np.array([self.fov_mm[0] / self.matrix[0], self.fov_mm[1] / self.matrix[1], self.slice_mm])
        affine = np.diag([*zooms, 1.0])
        affine[:3, 3] = np.asarray(self.centre_mm) - zooms * (np.asarray(self.shape) - 1) / 2
        return affine


GRID_3T = MRSIGrid((32, 32), (240.0, 240.0), 8, 10.0)
GRID_RECT = MRSIGrid((32, 24), (240.0, 180.0), 8, 10.0)

#: fsl_mrsi names (basis of single metabolites, then ``--combine`` sums) and typical values (mM).
FSL_METABOLITES = {"NAA": 9.0, "NAAG": 1.2, "Cr": 4.5, "PCr": 3.5, "PCho": 0.6, "GPC": 1.0, "Glu": 8.0,
                   "Gln": 3.0, "Ins": 5.5, "GABA": 1.2, "GSH": 1.5, "Tau": 1.2, "Scyllo": 0.3}
FSL_COMBINED = {"PCho+GPC": ("PCho", "GPC"), "Cr+PCr": ("Cr", "PCr"), "NAA+NAAG": ("NAA", "NAAG"),
                "Glu+Gln": ("Glu", "Gln")}
#: MRSIPrep labels (aliases of the sums) and typical values.
MRSIPREP_METABOLITES = {"GPCPCh": 1.6, "CrPCr": 8.0, "NAANAAG": 10.2, "GluGln": 11.0, "Ins": 5.5}


def _save(img, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def _json(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path


def _entities(subject: str, session: str | None, acquisition: str | None = None) -> str:
    return f"sub-{subject}" + (f"_ses-{session}" if session else "") + (f"_acq-{acquisition}" if acquisition else "")


def _subject_dir(root: Path, subject: str, session: str | None) -> Path:
    return root / f"sub-{subject}" / (f"ses-{session}" if session else "")


@lru_cache(maxsize=1)
def _template() -> nib.Nifti1Image:
    """nilearn's packaged MNI152 T1 template at 3 mm (no download)."""
    from nilearn.datasets import load_mni152_template
    from nilearn.image import resample_img

    template = load_mni152_template(resolution=2)
    affine = template.affine.copy()
    affine[:3, :3] = np.diag([3.0, 3.0, 3.0])
    shape = tuple(int(s * 2 / 3) for s in template.shape)
    return resample_img(template, target_affine=affine, target_shape=shape, interpolation="continuous",
                        force_resample=True, copy_header=True)


def bids_root(root: str | Path, subjects: dict[str, tuple] | None = None, flair: bool = False) -> Path:
    """A raw BIDS dataset with a T1w per subject/session (``{"01": (None,)}`` or ``{"01": ("1", "2")}``)."""
    root = Path(root)
    subjects = subjects or {"01": (None,)}
    _json(root / "dataset_description.json", {"Name": "mrsisr real-layout test", "BIDSVersion": "1.10.0",
                                                "DatasetType": "raw"})
    (root / "participants.tsv").write_text("participant_id\n" + "".join(f"sub-{s}\n" for s in subjects))
    template = _template()
    t1w = np.clip(np.asarray(template.dataobj, dtype=np.float32) * 1000, 0, None).astype(np.int16)
    for subject, sessions in subjects.items():
        for session in sessions:
            anat = _subject_dir(root, subject, session) / "anat"
            name = _entities(subject, session)
            _save(nib.Nifti1Image(t1w, template.affine), anat / f"{name}_T1w.nii.gz")
            _json(anat / f"{name}_T1w.json", {"MagneticFieldStrength": 3, "RepetitionTime": 2.3})
            if flair:
                flair_data = np.clip(1000 - t1w * 0.6, 0, None).astype(np.int16) * (t1w > 0)
                _save(nib.Nifti1Image(flair_data, template.affine), anat / f"{name}_FLAIR.nii.gz")
    return root


def brain_on_grid(grid: MRSIGrid) -> tuple[np.ndarray, np.ndarray]:
    """(grey-matter-like weight in 0..1, brain mask) of the template resampled onto ``grid``."""
    template = _template()
    data = ndimage.gaussian_filter(np.asarray(template.dataobj, dtype=np.float32), 1.5)
    to_template = np.linalg.inv(template.affine) @ grid.affine
    values = ndimage.affine_transform(data, to_template, output_shape=grid.shape, order=1)
    mask = values > 0.25 * values.max()
    weight = np.clip(values / values.max(), 0, 1)
    return np.where(mask, weight, 0.0), mask


def metabolite_map(grid: MRSIGrid, typical: float, seed: int) -> np.ndarray:
    """A head-like map: ``typical`` in the brain, modulated by tissue and 5 % noise, 0 outside."""
    weight, mask = brain_on_grid(grid)
    noise = np.random.default_rng(seed).normal(1.0, 0.05, grid.shape)
    return np.where(mask, typical * (0.6 + 0.5 * weight) * noise, 0.0).astype(np.float32)


def raw_mrsi(root: str | Path, subject: str = "01", session: str | None = None, acquisition: str | None = None,
             grid: MRSIGrid = GRID_3T, points: int = 64, echo_time: float = 0.030) -> Path:
    """``sub-X[/ses-Y]/mrs/sub-X[_ses-Y][_acq-L]_mrsi.nii.gz`` as NIfTI-MRS (``nifti-mrs``), with its sidecar."""
    from nifti_mrs.create_nmrs import gen_nifti_mrs

    dwell = 1.0 / 1200.0
    time = np.arange(points) * dwell
    shifts_hz = np.array([2.01, 3.03, 3.21]) - 4.65
    fid = sum(np.exp(2j * np.pi * s * grid.frequency_mhz * time) for s in shifts_hz) * np.exp(-time / 0.08)
    _, mask = brain_on_grid(grid)
    data = (mask[..., None] * np.round(fid * 1000)[None, None, None, :]).astype(np.complex64)
    image = gen_nifti_mrs(data, dwell, grid.frequency_mhz, nucleus="1H", affine=grid.affine)
    name = f"{_entities(subject, session, acquisition)}_mrsi.nii.gz"
    path = _subject_dir(Path(root), subject, session) / "mrs" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path))
    _json(path.with_name(path.name.replace(".nii.gz", ".json")), {
        "ResonantNucleus": ["1H"], "SpectrometerFrequency": [grid.frequency_mhz], "SpectralWidth": [1.0 / dwell],
        "EchoTime": echo_time, "RepetitionTime": 1.5, "MagneticFieldStrength": 3, "WaterSuppression": True,
        "PulseSequenceType": "PRESS-CSI"})
    return path


def lcmodel_csi_run(root: str | Path, subject: str = "01", session: str | None = None,
                    grid: MRSIGrid = GRID_3T, slices: tuple[int, ...] | None = None, stem: str = "run",
                    folder: str | Path | None = None, acquisition: str | None = None,
                    geometry_json: bool = False) -> dict:
    """A stock LCModel 6.3-1N CSI run under ``derivatives/lcmodel/sub-X[/ses-Y][/lcmodel_acq-L]`` (or ``folder``).

    One run per slice in ``slices`` (1-based; default the middle slice).  A single slice gives
    ``control.file`` and ``spreadsheet.csv``; several give ``control_sl<z>.file`` and
    ``spreadsheet_sl<z>.csv`` beside the shared per-voxel tables.  Returns ``{"folder",
    "controls", "spreadsheets", "tables", "coords", "fatal", "grid"}``; maps as numpy
    ``[row-1, col-1, slice-1]`` under ``"conc"``.  ``geometry_json`` also writes the grid as
    ``geometry.json`` beside the run (the fallback for labs without BIDS ``mrs/``).
    """
    root = Path(root)
    out = Path(folder) if folder else _subject_dir(root / "derivatives" / "lcmodel", subject, session)
    if acquisition and not folder:
        out = out / f"lcmodel_acq-{acquisition}"
    out.mkdir(parents=True, exist_ok=True)
    _json(root / "derivatives" / "lcmodel" / "dataset_description.json", {
        "Name": "LCModel fits", "BIDSVersion": "1.10.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "LCModel", "Version": "6.3-1N"}]})
    slices = tuple(slices) if slices else (grid.slices // 2,)
    _, mask = brain_on_grid(grid)
    conc_ijk = {name: metabolite_map(grid, value, seed=n)
                for n, (name, value) in enumerate(real_lcmodel.TYPICAL.items())}
    # NIfTI (i, j, k) -> LCModel [row-1, col-1, slice-1]: rows along j, columns along i.
    conc = {name: np.swapaxes(value, 0, 1) for name, value in conc_ijk.items()}
    brain = np.swapaxes(mask, 0, 1)
    written = {"folder": out, "controls": [], "spreadsheets": [], "tables": [], "coords": [], "fatal": [],
               "grid": grid, "conc": conc, "brain": brain}
    for z in slices:
        single = len(slices) == 1
        control_name = "control.file" if single else f"control_sl{z}.file"
        csv_name = "spreadsheet.csv" if single else f"spreadsheet_sl{z}.csv"
        run = real_lcmodel.write_csi_slice(out, grid.matrix[1], grid.matrix[0], grid.slices, z, conc, brain[..., z - 1],
                                           stem=stem, control_name=control_name, csv_name=csv_name,
                                           hzpppm=grid.frequency_mhz)
        for key in ("controls", "spreadsheets", "tables", "coords", "fatal"):
            written[key] += run[key]
    if geometry_json:
        written["geometry_json"] = write_geometry_json(MRSIGeometry(grid.shape, grid.affine), out / "geometry.json")
    return written


def _fsl_maps(grid: MRSIGrid) -> dict[str, np.ndarray]:
    maps = {name: metabolite_map(grid, value, seed=40 + n) for n, (name, value) in enumerate(FSL_METABOLITES.items())}
    for name, parts in FSL_COMBINED.items():
        maps[name] = sum(maps[p] for p in parts)
    return maps


def fsl_mrsi_output(root: str | Path, subject: str = "01", session: str | None = None, grid: MRSIGrid = GRID_3T,
                    output: str = "mrsi_fit", points: int = 32) -> dict:
    """``fsl_mrsi --output sub-X[/ses-Y]/<output>`` under ``derivatives/fsl-mrs`` as fsl_mrsi lays it out.

    ``concs/{raw,internal,molarity}/<Met>.nii.gz`` (single and ``--combine``\\ d names),
    ``uncertainties/<Met>_sd.nii.gz`` (%SD), ``qc/<Met>_{snr,fwhm}.nii.gz`` (FWHM in Hz, single
    metabolites only), ``fit/{fit,residual,baseline}.nii.gz`` (NIfTI-MRS with the frequency),
    ``nuisance/``, ``misc/``, ``options.txt``.  Returns ``{"folder", "frequency_mhz", "fwhm_hz", ...}``.
    """
    from nifti_mrs.create_nmrs import gen_nifti_mrs

    base = Path(root) / "derivatives" / "fsl-mrs"
    out = base / f"sub-{subject}" / (f"ses-{session}" if session else "") / output
    _json(base / "dataset_description.json", {"Name": "FSL-MRS fits", "BIDSVersion": "1.10.0",
                                              "DatasetType": "derivative",
                                              "GeneratedBy": [{"Name": "FSL-MRS", "Version": "2.1.13"}]})
    weight, mask = brain_on_grid(grid)
    maps = _fsl_maps(grid)
    affine = grid.affine
    scalings = {"raw": 1.0e3, "internal": 1.0 / 8.0, "molarity": 1.0}
    for scaling, factor in scalings.items():
        for name, value in maps.items():
            image = nib.Nifti1Image((value * factor).astype(np.float32), affine)
            _save(image, out / "concs" / scaling / f"{name}.nii.gz")
    rng = np.random.default_rng(7)
    for name, value in maps.items():
        sd = np.where(mask, np.clip(100 * 0.4 / np.sqrt(np.maximum(value, 1e-3)), 1, 999), 999).astype(np.float32)
        _save(nib.Nifti1Image(sd, affine), out / "uncertainties" / f"{name}_sd.nii.gz")
    fwhm_hz = np.where(mask, 7.0 + 3.0 * (1 - weight) + rng.normal(0, 0.3, grid.shape), 0).astype(np.float32)
    for name in FSL_METABOLITES:
        snr = np.where(mask, 12 * maps[name] / FSL_METABOLITES[name], 0).astype(np.float32)
        _save(nib.Nifti1Image(snr, affine), out / "qc" / f"{name}_snr.nii.gz")
        _save(nib.Nifti1Image(fwhm_hz, affine), out / "qc" / f"{name}_fwhm.nii.gz")
    dwell = 1.0 / 1200.0
    time = np.arange(points) * dwell
    fid = np.exp(2j * np.pi * -2.64 * grid.frequency_mhz * time - time / 0.08)
    for kind, scale in (("fit", 1000.0), ("residual", 10.0), ("baseline", 50.0)):
        data = (mask[..., None] * np.round(fid * scale)[None, None, None, :]).astype(np.complex64)
        path = out / "fit" / f"{kind}.nii.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        gen_nifti_mrs(data, dwell, grid.frequency_mhz, affine=affine).save(str(path))
    nuisance = {"p0": -12.0, "p1": 0.0, "shift_group0": 0.02, "gamma_group0": 8.0, "sigma_group0": 5.0}
    for name, value in nuisance.items():
        _save(nib.Nifti1Image(np.where(mask, value, 0).astype(np.float32), affine), out / "nuisance" / f"{name}.nii.gz")
    _save(nib.Nifti1Image(np.where(mask, 0.01, 0).astype(np.float32), affine), out / "misc" / "mse.nii.gz")
    _save(nib.Nifti1Image(mask.astype(np.uint8), affine), out / "misc" / "mask.nii.gz")
    raw = f"sub-{subject}/mrs/{_entities(subject, session)}_mrsi.nii.gz"
    (out / "options.txt").write_text(
        f"{{'data': '{raw}', 'basis': 'basis/3T_press_te30', 'mask': None, 'h2o': None, 'output': "
        f"'sub-{subject}/{output}', 'algo': 'Newton', 'ignore': None, 'keep': None, 'combine': "
        f"{[list(p) for p in FSL_COMBINED.values()]}, 'ppmlim': (0.2, 4.2), 'h2o_scale': 1.0, 'baseline_order': 2, "
        "'metab_groups': 0, 'lorentzian': False, 'free_shift': False, 'overwrite': True, 'verbose': False}\n"
        f"--------\nCommand Line Args:\nfsl_mrsi --data {raw} --basis basis/3T_press_te30 --output "
        f"sub-{subject}/{output} --combine PCho GPC --combine Cr PCr --combine NAA NAAG --combine Glu Gln\n")
    return {"folder": out, "frequency_mhz": grid.frequency_mhz, "fwhm_hz": fwhm_hz, "mask": mask, "maps": maps,
            "fit": out / "fit" / "fit.nii.gz", "grid": grid}


def mrsiprep_maps(root: str | Path, subject: str = "01", sessions: tuple = ("1", "2"), grid: MRSIGrid = GRID_3T,
                  acquisition: str | None = None) -> dict:
    """MRSIPrep-named maps under ``derivatives/mrsi-orig``: signal/crlb per metabolite, snr/fwhm (ppm).

    ``sub-X/ses-Y/sub-X_ses-Y[_acq-L]_space-orig_met-<Met>_desc-{signal,crlb}_mrsi.nii.gz`` and
    ``..._space-orig_desc-{snr,fwhm}_mrsi.nii.gz``; no FLAIR anywhere.  Returns ``{session: {kind: path}}``.
    """
    base = Path(root) / "derivatives" / "mrsi-orig"
    _json(base / "dataset_description.json", {"Name": "MRSIPrep", "BIDSVersion": "1.10.0", "DatasetType": "derivative",
                                              "GeneratedBy": [{"Name": "MRSIPrep"}]})
    weight, mask = brain_on_grid(grid)
    written = {}
    for n, session in enumerate(sessions):
        folder = base / f"sub-{subject}" / (f"ses-{session}" if session else "")
        prefix = f"{_entities(subject, session, acquisition)}_space-orig"
        files = {}
        for m, (label, value) in enumerate(MRSIPREP_METABOLITES.items()):
            signal = metabolite_map(grid, value, seed=80 + 10 * n + m)
            crlb = np.where(mask, np.clip(40 / np.sqrt(np.maximum(signal, 1e-3)), 1, 999), 999).astype(np.float32)
            for desc, data in (("signal", signal), ("crlb", crlb)):
                path = folder / f"{prefix}_met-{label}_desc-{desc}_mrsi.nii.gz"
                files[f"{label}_{desc}"] = _save(nib.Nifti1Image(data, grid.affine), path)
        snr = np.where(mask, 8 + 10 * weight, 0).astype(np.float32)
        fwhm = np.where(mask, 0.05 + 0.03 * (1 - weight), 0).astype(np.float32)
        files["snr"] = _save(nib.Nifti1Image(snr, grid.affine), folder / f"{prefix}_desc-snr_mrsi.nii.gz")
        files["fwhm"] = _save(nib.Nifti1Image(fwhm, grid.affine), folder / f"{prefix}_desc-fwhm_mrsi.nii.gz")
        written[session] = files
    return written
