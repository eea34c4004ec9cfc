"""``mrsisr-prepare``: prepared slices for training and evaluation straight from a BIDS dataset.

For every subject with high-resolution LCModel maps (``acq-64`` by default): skull-strip the T1w,
co-register the FLAIR, load the maps, filter quality, select slices, resample the MRI onto the 3×
MRSI grid and write ``sub-<label>_slices.npz`` (see :mod:`mrsisr.slices`). It runs the
same functions as the participant workflow's nodes, in one process per subject, without the
derivatives and reports — the quick way to turn a synthetic cohort into a training set::

    mrsisr-synth cohort/ --subjects 15 --seed 1
    mrsisr-prepare cohort/ prepared/ --nprocs 2
    mrsisr-train prepared/ runs/mcm --variant mcm
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import METABOLITES

__all__ = ["prepare_bids_subject", "main"]


def _anatomy(bids_dir: Path, subject: str) -> tuple[Path, Path]:
    anat = bids_dir / f"sub-{subject}" / "anat"
    t1w, flair = anat / f"sub-{subject}_T1w.nii.gz", anat / f"sub-{subject}_FLAIR.nii.gz"
    for path in (t1w, flair):
        if not path.is_file():
            raise FileNotFoundError(f"sub-{subject}: {path} is missing (T1w and FLAIR are both needed)")
    return t1w, flair


def prepare_bids_subject(bids_dir: str | Path, subject: str, out_dir: str | Path, *,
                         lcmodel_dir: str | Path | None = None, acquisition: str = "64",
                         metabolites: tuple[str, ...] = METABOLITES, snr_min: float = 2.5,
                         fwhm_max: float = 0.15) -> Path:
    """Prepare one subject's slices; returns the ``.npz`` path. Never writes into ``bids_dir``."""
    from mrsisr.grid import brain_mask_on_grid
    from mrsisr.interfaces.quality import quality_mask, select_slices
    from mrsisr.interfaces.registration import register_rigid_sitk
    from mrsisr.interfaces.resample import mrsi_fine_grid, resample_mri
    from mrsisr.interfaces.skullstrip import skullstrip_python
    from mrsisr.io.loader import load_metabolite_maps
    from mrsisr.slices import cut_slices, save_subject

    bids_dir = Path(bids_dir)
    t1w, flair = _anatomy(bids_dir, subject)
    maps = load_metabolite_maps(Path(lcmodel_dir or bids_dir / "derivatives" / "lcmodel"), subject=subject,
                                acquisition=acquisition, metabolites=metabolites)
    with tempfile.TemporaryDirectory(prefix=f"mrsisr-prepare-{subject}-") as work:
        brain, mask = skullstrip_python(str(t1w), f"{work}/brain.nii.gz", f"{work}/mask.nii.gz")
        register_rigid_sitk(str(flair), str(t1w), f"{work}/flair.nii.gz", f"{work}/flair.tfm", f"{work}/flair.txt")
        mask_img, brain_img, flair_img = (nib.load(p) for p in (mask, brain, f"{work}/flair.nii.gz"))
        geometry = maps.geometry
        _, brain_grid = brain_mask_on_grid(np.asanyarray(mask_img.dataobj) > 0, mask_img.affine, geometry.shape,
                                           geometry.affine)
        quality = quality_mask(metabolites=list(maps.metabolites), snr=maps.snr, fwhm=maps.fwhm, brain=brain_grid,
                               valid=maps.valid, conc=maps.conc, snr_min=snr_min, fwhm_max=fwhm_max)
        slices, _ = select_slices(quality.mask.any(axis=-1), source=f"sub-{subject} quality mask")
        fine_shape, fine_affine, first = mrsi_fine_grid(geometry.shape, geometry.affine, slices=slices)
        brain_mask = np.asanyarray(mask_img.dataobj) > 0
        t1_3x = resample_mri(brain_img.get_fdata(dtype=np.float32), brain_img.affine, fine_shape, fine_affine,
                             source=str(t1w))
        flair_3x = resample_mri(flair_img.get_fdata(dtype=np.float32) * brain_mask, flair_img.affine, fine_shape,
                                fine_affine, source=str(flair))
    data = cut_slices(subject, maps.conc, quality.mask, t1_3x, flair_3x, slices, list(maps.metabolites),
                           geometry.affine, first)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_subject(data, out_dir / f"sub-{subject}_slices.npz")


def _job(arguments: tuple) -> tuple[str, str, float]:
    bids_dir, subject, out_dir, lcmodel_dir, acquisition = arguments
    start = time.perf_counter()
    try:
        path = prepare_bids_subject(bids_dir, subject, out_dir, lcmodel_dir=lcmodel_dir, acquisition=acquisition)
        return subject, str(path), time.perf_counter() - start
    except Exception as error:  # one subject's failure must not stop the others
        return subject, f"FAILED: {type(error).__name__}: {error}", time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mrsisr-prepare", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("bids_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--participant-label", nargs="+", help="labels (with or without sub-); default: all")
    parser.add_argument("--lcmodel-dir", type=Path, help="default: BIDS_DIR/derivatives/lcmodel")
    parser.add_argument("--acquisition", default="64", help="acq-<label> of the high-resolution maps")
    parser.add_argument("--nprocs", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.bids_dir.is_dir():
        parser.error(f"{args.bids_dir} is not a directory")
    if args.out_dir.resolve().is_relative_to(args.bids_dir.resolve()):
        parser.error("the output directory must not be inside the BIDS dataset")
    available = sorted(p.name[4:] for p in args.bids_dir.glob("sub-*") if p.is_dir())
    labels = [label.removeprefix("sub-") for label in (args.participant_label or available)]
    unknown = [label for label in labels if label not in available]
    if unknown:
        parser.error(f"unknown participant label(s) {unknown}; available: {available}")
    jobs = [(args.bids_dir, label, args.out_dir, args.lcmodel_dir, args.acquisition) for label in labels]
    with ProcessPoolExecutor(max_workers=max(1, args.nprocs)) as pool:
        results = list(pool.map(_job, jobs))
    for subject, outcome, seconds in results:
        print(f"sub-{subject}\t{seconds:6.1f} s\t{outcome}")
    return 1 if any(outcome.startswith("FAILED") for _, outcome, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
