"""``mrsisr-prepare``: prepared slices for training and evaluation straight from a BIDS dataset.

For every subject with high-resolution LCModel maps (``acq-64`` by default): skull-strip the T1w,
co-register the FLAIR, load the maps, filter quality, select slices, resample the MRI onto the 3×
MRSI grid and write ``sub-<label>_slices.npz`` (see :mod:`mrsisr.slices`). It runs the participant
workflow's steps with the same options (:mod:`mrsisr.preparation`), in one process per subject,
without the network, the derivatives and the reports — the quick way to turn a synthetic cohort
into a training set::

    mrsisr-synth cohort/ --subjects 15 --seed 1
    mrsisr-prepare cohort/ prepared/ --nprocs 2
    mrsisr-train prepared/ runs/mcm --variant mcm
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mrsisr.defaults import CRLB_MAX, FWHM_MAX_PPM, MIN_VALID_FRACTION, SNR_MIN
from mrsisr.preparation import PrepareOptions, prepare_bids_subjects

__all__ = ["main", "parse_args"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrsisr-prepare", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("bids_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--participant-label", nargs="+", help="labels (with or without sub-); default: all")
    parser.add_argument("--lcmodel-dir", type=Path, help="default: BIDS_DIR/derivatives/lcmodel")
    parser.add_argument("--acquisition", default="64", help="acq-<label> of the high-resolution maps")
    quality = parser.add_argument_group("quality (defaults: the participant level's)")
    quality.add_argument("--snr-min", type=float, default=SNR_MIN)
    quality.add_argument("--fwhm-max", type=float, default=FWHM_MAX_PPM, help="ppm")
    quality.add_argument("--crlb-max", type=float, default=CRLB_MAX, help="%%SD; default: not applied")
    quality.add_argument("--min-valid-fraction", type=float, default=MIN_VALID_FRACTION)
    parser.add_argument("--nprocs", type=int, default=1)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line (usage errors exit with code 2, before any work)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not args.bids_dir.is_dir():
        parser.error(f"{args.bids_dir} is not a directory")
    if args.out_dir.resolve().is_relative_to(args.bids_dir.resolve()):
        parser.error("the output directory must not be inside the BIDS dataset")
    available = sorted(p.name[4:] for p in args.bids_dir.glob("sub-*") if p.is_dir())
    args.participant_label = [label.removeprefix("sub-") for label in (args.participant_label or available)]
    unknown = [label for label in args.participant_label if label not in available]
    if unknown:
        parser.error(f"unknown participant label(s) {unknown}; available: {available}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``mrsisr-prepare``; 0 when every subject was prepared, 1 when one failed."""
    args = parse_args(argv)
    options = PrepareOptions(lcmodel_dir=args.lcmodel_dir, acquisition=args.acquisition, snr_min=args.snr_min,
                             fwhm_max=args.fwhm_max, crlb_max=args.crlb_max,
                             min_valid_fraction=args.min_valid_fraction)
    results = prepare_bids_subjects(args.bids_dir, args.participant_label, args.out_dir, options,
                                    nprocs=max(1, args.nprocs))
    for subject, outcome, seconds in results:
        print(f"sub-{subject}\t{seconds:6.1f} s\t{outcome}")
    return 1 if any(outcome.startswith("FAILED") for _, outcome, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
