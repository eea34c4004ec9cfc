"""Prepared slices straight from a BIDS dataset: the participant graph's steps, without the network.

For one subject with high-resolution (N×N) maps, the same functions as the participant workflow's
nodes, in the same order and with the same options: skull-strip the T1w (python backend),
co-register the FLAIR and mask it, load the maps, filter quality (S/N, FWHM, %SD when ``crlb_max``
is set, failed fits, the eroded brain mask), select slices (``min_valid_fraction``), resample the
MRI onto the 3× MRSI grid, and write ``sub-<label>_slices.npz`` with :func:`mrsisr.slices.export_slices`
— the function the workflow's ``ExportSlices`` node calls. ``mrsisr-prepare`` and
``mrsisr-evaluate`` on a BIDS dataset both come through here.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mrsisr import METABOLITES
from mrsisr.defaults import CRLB_MAX, FWHM_MAX_PPM, MIN_VALID_FRACTION, MRI_FACTOR, SNR_MIN

__all__ = ["PrepareOptions", "prepare_bids_subject", "prepare_bids_subjects"]


@dataclass(frozen=True)
class PrepareOptions:
    """What the slices depend on besides the subject (the participant level's options of the same names)."""

    lcmodel_dir: Path | None = None
    acquisition: str | None = "64"
    metabolites: tuple[str, ...] = METABOLITES
    snr_min: float = SNR_MIN
    fwhm_max: float = FWHM_MAX_PPM
    crlb_max: float | None = CRLB_MAX
    min_valid_fraction: float = MIN_VALID_FRACTION


def _anatomy(bids_dir: Path, subject: str) -> tuple[Path, Path]:
    anat = bids_dir / f"sub-{subject}" / "anat"
    t1w, flair = anat / f"sub-{subject}_T1w.nii.gz", anat / f"sub-{subject}_FLAIR.nii.gz"
    for path in (t1w, flair):
        if not path.is_file():
            raise FileNotFoundError(f"sub-{subject}: {path} is missing (T1w and FLAIR are both needed)")
    return t1w, flair


def prepare_bids_subject(bids_dir: str | Path, subject: str, out_dir: str | Path,
                         options: PrepareOptions = PrepareOptions()) -> Path:
    """Prepare one subject's slices; returns the ``.npz`` path. Never writes into ``bids_dir``."""
    from nilearn.image import math_img

    from mrsisr.spaces import resample_files_to_mrsi
    from mrsisr.registration import register_rigid_sitk
    from mrsisr.skullstrip import skullstrip_python
    from mrsisr.io.loader import load_metabolite_maps, save_loaded_maps
    from mrsisr.quality import filter_quality_files, select_slices_file
    from mrsisr.slices import export_slices

    bids_dir = Path(bids_dir)
    t1w, flair = _anatomy(bids_dir, subject)
    maps = load_metabolite_maps(Path(options.lcmodel_dir or bids_dir / "derivatives" / "lcmodel"), subject=subject,
                                acquisition=options.acquisition, metabolites=options.metabolites)
    with tempfile.TemporaryDirectory(prefix=f"mrsisr-prepare-{subject}-") as work:
        files = {key: str(path) for key, path in save_loaded_maps(maps, work).items()}
        brain, mask = skullstrip_python(str(t1w), f"{work}/brain.nii.gz", f"{work}/mask.nii.gz")
        register_rigid_sitk(str(flair), str(t1w), f"{work}/flair.nii.gz", f"{work}/flair.tfm", f"{work}/flair.txt")
        flair_brain = f"{work}/flair_brain.nii.gz"  # masked with the T1w brain, as the anatomical workflow does
        math_img("flair * (mask > 0)", flair=f"{work}/flair.nii.gz", mask=mask).to_filename(flair_brain)
        quality = filter_quality_files(
            metabolites=list(maps.metabolites), snr_file=files["snr_file"], fwhm_file=files["fwhm_file"],
            brain_mask=mask, out_dir=work, valid_file=files["valid_file"], in_file=files["conc_file"],
            sd_file=files["sd_file"] if options.crlb_max is not None else None,
            snr_min=options.snr_min, fwhm_max=options.fwhm_max, crlb_max=options.crlb_max)
        slices, _ = select_slices_file(quality["mask_file"], f"{work}/selected_slices.tsv",
                                       min_valid_fraction=options.min_valid_fraction)
        mri = resample_files_to_mrsi(t1w_file=brain, flair_file=flair_brain, reference=files["conc_file"],
                                     out_dir=work, factor=MRI_FACTOR, slices=slices)
        return export_slices(subject=subject, in_file=files["conc_file"], mask_file=quality["mask_file"],
                             t1w_file=mri["t1w_mrsi_file"], flair_file=mri["flair_mrsi_file"], slices=slices,
                             metabolites=list(maps.metabolites), out_dir=out_dir, slice_offset=mri["slice_offset"])


def _job(arguments: tuple) -> tuple[str, str, float]:
    bids_dir, subject, out_dir, options = arguments
    start = time.perf_counter()
    try:
        path = prepare_bids_subject(bids_dir, subject, out_dir, options)
        return subject, str(path), time.perf_counter() - start
    except Exception as error:  # one subject's failure must not stop the others
        return subject, f"FAILED: {type(error).__name__}: {error}", time.perf_counter() - start


def prepare_bids_subjects(bids_dir: str | Path, subjects: list[str], out_dir: str | Path,
                          options: PrepareOptions = PrepareOptions(),
                          nprocs: int = 1) -> list[tuple[str, str, float]]:
    """Prepare several subjects in ``nprocs`` processes: ``(subject, path or "FAILED: …", seconds)`` each."""
    jobs = [(Path(bids_dir), subject, Path(out_dir), options) for subject in subjects]
    if nprocs <= 1:
        return [_job(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=nprocs) as pool:
        return list(pool.map(_job, jobs))
