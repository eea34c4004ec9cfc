"""``mrsisr-synth``: write a synthetic MRSI cohort as a BIDS dataset.

Exit codes: 0 success, 2 bad arguments (argparse), 1 the output exists and is not empty.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from mrsisr.synth.dataset import generate_dataset
from mrsisr.synth.outputs import FORMATS
from mrsisr.synth.subject import DEFAULT_ACQUIRED_MATRICES


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrsisr-synth",
        description="Write a synthetic 7T glioma MRSI study (BIDS raw + LCModel derivatives + ground truth).",
    )
    parser.add_argument("out_dir", type=Path, help="dataset root to create")
    cohort = parser.add_argument_group("cohort")
    cohort.add_argument("--subjects", type=int, default=3, help="number of subjects (default 3)")
    cohort.add_argument("--seed", type=int, default=0, help="cohort seed (default 0)")
    cohort.add_argument("--share-without-flair", type=float, default=0.0, metavar="F",
                        help="share of subjects without a FLAIR, 0..1 (default 0)")
    cohort.add_argument("--share-3t", type=float, default=0.0, metavar="F",
                        help="share of 3T-like acquisitions (4×4×5 mm MRSI voxels, lower S/N), 0..1 (default 0)")
    mrsi = parser.add_argument_group("MRSI")
    mrsi.add_argument("--slices", type=int, default=None, help="MRSI slices Z (default 39; 8 with --tiny)")
    mrsi.add_argument("--acquired-matrix", type=int, nargs="+", default=list(DEFAULT_ACQUIRED_MATRICES),
                      metavar="n", help="low-resolution matrices besides 64 (default 16 20 24 28 32)")
    mrsi.add_argument("--formats", default="nifti,csv",
                      help=f"comma-separated subset of {','.join(FORMATS)} (default nifti,csv)")
    parser.add_argument("--tiny", action="store_true", help="small, fast subjects for tests")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty output folder")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line (errors exit with code 2)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    unknown = set(args.formats) - set(FORMATS)
    if unknown or not args.formats:
        parser.error(f"--formats: choose from {','.join(FORMATS)}")
    if args.subjects < 1:
        parser.error("--subjects must be at least 1")
    for name in ("share_without_flair", "share_3t"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be within 0..1")
    if args.slices is not None and not 1 <= args.slices <= 64:
        parser.error("--slices must be within 1..64")
    for matrix in args.acquired_matrix:
        if matrix % 2 or not 2 <= matrix < 64:
            parser.error(f"--acquired-matrix values must be even and within 2..62 (got {matrix})")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run ``mrsisr-synth``; returns the exit code."""
    args = parse_args(argv)
    if args.out_dir.exists() and any(args.out_dir.iterdir()) and not args.overwrite:
        print(f"mrsisr-synth: {args.out_dir} exists and is not empty (use --overwrite)", file=sys.stderr)
        return 1
    start = time.perf_counter()
    command = "mrsisr-synth " + shlex.join(sys.argv[1:] if argv is None else argv)
    generate_dataset(args.out_dir, subjects=args.subjects, seed=args.seed, slices=args.slices,
                     acquired_matrix=tuple(args.acquired_matrix), formats=args.formats, tiny=args.tiny,
                     command=command, share_without_flair=args.share_without_flair, share_3t=args.share_3t)
    print(f"mrsisr-synth: wrote {args.subjects} subject(s) to {args.out_dir} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
