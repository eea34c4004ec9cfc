"""``mrsisr-geometry IN.nii[.gz] OUT.json``: write the MRSI grid of an image as ``geometry.json``.

For labs whose raw MRSI is not in BIDS ``mrs/``: the grid (its first three dimensions
and affine) of a NIfTI-MRS file (validated with ``nifti-mrs``) or of any 3-D/4-D NIfTI
on the MRSI grid (e.g. a map exported by the scanner or by the fitting tool) is written
in the format :func:`mrsisr.io.geometry.geometry_from_json` reads, with the row/column
convention.  ``--check-lcmodel`` compares the grid with an LCModel control file or
``.table`` first.

Exit codes: 0 written, 1 the input cannot give a grid (or disagrees with LCModel), or the
output exists (use ``--force``), 2 bad arguments (argparse).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nibabel as nib

from mrsisr.io.errors import MapLoadingError
from mrsisr.io.geometry import MRSIGeometry, geometry_from_nifti, write_geometry_json
from mrsisr.io.lcmodel_grid import check_grid, read_lcmodel_grid
from mrsisr.io.niftimrs import is_nifti_mrs, read_nifti_mrs

__all__ = ["geometry_of_image", "main", "parse_args"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrsisr-geometry",
        description="Write geometry.json (the MRSI grid: shape and affine) from a NIfTI-MRS or 3-D/4-D NIfTI file.",
    )
    parser.add_argument("input", type=Path, help="NIfTI-MRS raw MRSI, or any 3-D/4-D NIfTI on the MRSI grid")
    parser.add_argument("output", type=Path, help="the geometry.json to write")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--check-lcmodel", type=Path, metavar="FILE",
                        help="an LCModel control file or .table whose ndrows/ndcols/ndslic the grid must match")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (errors exit with code 2)."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if ".nii" not in args.input.name:
        parser.error(f"{args.input}: expected a NIfTI file (.nii or .nii.gz)")
    return args


def geometry_of_image(path: str | Path) -> tuple[MRSIGeometry, str]:
    """The grid of a NIfTI-MRS or plain NIfTI file, with a one-line description of the source."""
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"{path} does not exist (or is not a file)")
    if is_nifti_mrs(path):
        raw = read_nifti_mrs(path)
        return raw.geometry, f"NIfTI-MRS, {raw.nucleus} at {raw.spectrometer_frequency:.3f} MHz"
    geometry = geometry_from_nifti(path)
    ndim = len(nib.load(str(path)).shape)
    if ndim > 4:
        raise MapLoadingError(
            f"{path} has {ndim} dimensions and is not NIfTI-MRS; give a NIfTI-MRS file or a 3-D/4-D NIfTI"
        )
    return geometry, f"{ndim}-D NIfTI"


def main(argv: list[str] | None = None) -> int:
    """Run ``mrsisr-geometry``; returns the exit code."""
    args = parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"mrsisr-geometry: {args.output} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    try:
        geometry, kind = geometry_of_image(args.input)
        if args.check_lcmodel is not None:
            check_grid(read_lcmodel_grid(args.check_lcmodel), geometry)
    except MapLoadingError as error:
        print(f"mrsisr-geometry: {error}", file=sys.stderr)
        return 1
    write_geometry_json(geometry, args.output)
    nx, ny, nz = geometry.shape
    zooms = "x".join(f"{v:g}" for v in geometry.zooms)
    print(f"mrsisr-geometry: wrote {args.output}: grid {nx}x{ny}x{nz} (LCModel: {ny} rows x {nx} cols x {nz} "
          f"slices), voxels {zooms} mm, from {args.input} ({kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
