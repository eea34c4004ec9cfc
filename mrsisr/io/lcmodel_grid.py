"""What an LCModel CSI run says about itself: its grid, its control files, its spreadsheets.

LCModel writes no geometry, but it records the grid it was told about: ``ndrows``,
``ndcols``, ``ndslic`` (the raw data's rows, columns and slices), ``islice`` (the one
slice this run analysed) and ``irowst..irowen``, ``icolst..icolen`` (the rectangle
analysed) in its control namelist and in the ``$$INPU`` block of every ``.table``
(only the values that differ from LCModel's defaults, which are 1).  This module reads
that grid, checks it against the MRSI geometry and the voxels present, and finds CSI
spreadsheets by their content (``filcsv`` may name them anything, e.g. ``spreadsheet.csv``).

Rows, columns and slices are LCModel's, 1-based; the correspondence with NIfTI voxels is
:data:`mrsisr.io.geometry.CONVENTION` (rows along ``j``, columns along ``i``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mrsisr.io.errors import GeometryError, LCModelFormatError, MapLoadingError
from mrsisr.io.geometry import MRSIGeometry
from mrsisr.io.lcmodel_text import read_control_file

__all__ = [
    "LCModelGrid",
    "check_grid",
    "check_voxels",
    "find_control_files",
    "find_lcmodel_grid",
    "find_spreadsheets",
    "is_lcmodel_spreadsheet",
    "read_lcmodel_grid",
    "spreadsheet_slice",
]

_GRID_KEYS = ("ndrows", "ndcols", "ndslic", "islice", "irowst", "irowen", "icolst", "icolen")
_PAIR = re.compile(r"([A-Za-z][\w()]*)\s*=\s*('[^']*'|[^\s,]+)")
_SLICE_IN_NAME = re.compile(r"(?:^|[_\-.])sl(?P<slice>\d+)(?:[_\-.]|$)", re.IGNORECASE)
#: Extensions of LCModel's own outputs and images: never a control file.
_NOT_CONTROL = {".table", ".coord", ".csv", ".ps", ".pdf", ".print", ".nii", ".gz", ".json", ".raw", ".basis", ".h2o"}


@dataclass(frozen=True)
class LCModelGrid:
    """LCModel's CSI grid as one run recorded it (``rows`` x ``cols`` x ``slices``, 1-based ranges)."""

    rows: int
    cols: int
    slices: int
    slice: int
    row_range: tuple[int, int]
    col_range: tuple[int, int]
    source: Path
    filcsv: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(ndrows, ndcols, ndslic)``."""
        return self.rows, self.cols, self.slices

    def describe(self) -> str:
        return f"ndrows={self.rows}, ndcols={self.cols}, ndslic={self.slices}"


def _grid_from_values(values: dict[str, str], source: Path) -> LCModelGrid:
    """Build the grid from namelist values (absent keys take LCModel's default, 1)."""
    number = {}
    for key in _GRID_KEYS:
        if key in values:
            try:
                number[key] = int(float(values[key]))
            except ValueError:
                raise LCModelFormatError(f"{source}: {key}={values[key]!r} is not an integer") from None
    rows, cols, slices = (number.get(k, 1) for k in ("ndrows", "ndcols", "ndslic"))
    grid = LCModelGrid(
        rows=rows, cols=cols, slices=slices, slice=number.get("islice", 1),
        row_range=(number.get("irowst", 1), number.get("irowen", number.get("irowst", 1))),
        col_range=(number.get("icolst", 1), number.get("icolen", number.get("icolst", 1))),
        source=source, filcsv=values.get("filcsv"),
    )
    for what, (low, high), size in (("irowst..irowen", grid.row_range, rows), ("icolst..icolen", grid.col_range, cols),
                                    ("islice", (grid.slice, grid.slice), slices)):
        if not 1 <= low <= high <= size:
            raise LCModelFormatError(f"{source}: {what} = {low}..{high} lies outside the grid ({grid.describe()})")
    return grid


def _input_block(text: str, source: Path) -> dict[str, str] | None:
    """The ``$$INPU`` block of a ``.table`` (or the 'table of input changes' of a ``.coord``)."""
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if "table of input changes" in line), None)
    if start is None:
        return None
    values = {}
    for line in lines[start + 1:]:
        if not line.strip() or line.lstrip().startswith("$$"):
            break
        values.update({key.lower(): value.strip("'") for key, value in _PAIR.findall(line)})
    return values


def read_lcmodel_grid(path: str | Path) -> LCModelGrid:
    """The grid recorded in a control file (``$LCMODL ... $END``) or a ``.table``/``.coord``'s input block."""
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"LCModel file {path} does not exist (or is not a file)")
    text = path.read_bytes().decode("latin-1")
    if "$LCMODL" in text.upper():
        return _grid_from_values(read_control_file(path), path)
    values = _input_block(text, path)
    if values is None:
        raise LCModelFormatError(
            f"{path} is neither an LCModel control file ($LCMODL ... $END) nor a .table with a $$INPU block"
        )
    return _grid_from_values(values, path)


def find_control_files(folder: str | Path) -> list[Path]:
    """Control namelists in ``folder``, found by content (any name: ``control.file``, ``*.control``...)."""
    folder = Path(folder)
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_file() or path.suffix.lower() in _NOT_CONTROL or path.stat().st_size > 65536:
            continue
        with open(path, "rb") as handle:
            head = handle.read(512).decode("latin-1")
        if head.lstrip().upper().startswith("$LCMODL"):
            found.append(path)
    return found


def find_lcmodel_grid(folder: str | Path) -> LCModelGrid | None:
    """The grid of the LCModel run(s) in ``folder``: from its control files, else any ``.table``.

    Several control files (one per slice) must agree on ``ndrows``/``ndcols``/``ndslic``.
    Returns None when the folder records no grid.
    """
    folder = Path(folder)
    grids = [read_lcmodel_grid(p) for p in find_control_files(folder)]
    if not grids:
        for table in sorted(folder.glob("*.table")) + sorted(folder.glob("*.TABLE")):
            values = _input_block(table.read_bytes().decode("latin-1"), table)
            if values is not None:
                grids = [_grid_from_values(values, table)]
                break
    for other in grids[1:]:
        if other.shape != grids[0].shape:
            raise GeometryError(
                f"LCModel runs in {folder} disagree on the grid: {grids[0].source.name} says {grids[0].describe()}, "
                f"{other.source.name} says {other.describe()}"
            )
    return grids[0] if grids else None


def check_grid(grid: LCModelGrid, geometry: MRSIGeometry) -> None:
    """Raise :class:`GeometryError` when the MRSI geometry is not LCModel's grid (rows = ny, cols = nx)."""
    if geometry.lcmodel_shape != grid.shape:
        nx, ny, nz = geometry.shape
        raise GeometryError(
            f"the MRSI geometry from {geometry.origin or 'the stated geometry'} is {nx}x{ny}x{nz} (nx, ny, nz), i.e. "
            f"{ny} rows x {nx} cols x {nz} slices, but LCModel's {grid.source} says {grid.describe()}; "
            "the geometry must be the grid the spectra were fitted on (rows along j, columns along i)"
        )


def check_voxels(grid: LCModelGrid, voxels, source: str | Path) -> None:
    """Raise :class:`GeometryError` when a voxel ``(slice, row, col)`` of the maps lies outside the grid."""
    voxels = list(voxels)
    if not voxels:
        return
    extent = tuple(max(v[axis] for v in voxels) for axis in range(3))
    if extent[0] > grid.slices or extent[1] > grid.rows or extent[2] > grid.cols:
        raise GeometryError(
            f"the maps in {source} reach slice {extent[0]}, row {extent[1]}, col {extent[2]}, outside LCModel's "
            f"grid in {grid.source} ({grid.describe()})"
        )


def _is_spreadsheet_header(line: str) -> bool:
    fields = [field.strip() for field in line.split(",")]
    triples = fields[2:]
    if [f.lower() for f in fields[:2]] != ["row", "col"] or not triples or len(triples) % 3:
        return False
    names = triples[0::3]
    return all(n and s == f"{n} %SD" and r.startswith(f"{n}/") for n, s, r in zip(names, triples[1::3], triples[2::3]))


def is_lcmodel_spreadsheet(path: str | Path) -> bool:
    """Whether a file is an LCModel spreadsheet (header ``Row, Col, <met>, <met> %SD, <met>/<ref>, ...``).

    Only the first non-empty line is read; an empty file (a failed fit's CSV) is not one.
    """
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = raw.decode("latin-1").strip()
                if line:
                    return _is_spreadsheet_header(line)
    except OSError:
        return False
    return False


def spreadsheet_slice(path: str | Path, controls: list[LCModelGrid] = ()) -> int | None:
    """The slice a CSI spreadsheet holds: its run's ``islice``, else ``sl<z>`` in its name.

    A control file is this spreadsheet's run when its ``filcsv`` names this file, or when
    it is the only control file; a one-slice grid holds slice 1.  None when nothing tells.
    """
    path = Path(path)
    named = _SLICE_IN_NAME.search(path.stem)
    own = [g for g in controls if g.filcsv and Path(g.filcsv).name == path.name]
    if not own and len(controls) == 1 and not named:
        own = list(controls)
    if own:
        if named and int(named["slice"]) != own[0].slice:
            raise GeometryError(
                f"{path}: its name says slice {named['slice']} but {own[0].source} (islice) says slice {own[0].slice}"
            )
        return own[0].slice
    if named:
        return int(named["slice"])
    if controls and all(g.slices == 1 for g in controls):
        return 1
    return None


def find_spreadsheets(folder: str | Path) -> dict[int, Path]:
    """LCModel CSI spreadsheets in ``folder`` by content, keyed by the slice each holds.

    Raises :class:`MapLoadingError` when a spreadsheet's slice cannot be told or two hold the same slice.
    """
    folder = Path(folder)
    controls = [read_lcmodel_grid(p) for p in find_control_files(folder)]
    found: dict[int, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"):
        if not is_lcmodel_spreadsheet(path):
            continue
        z = spreadsheet_slice(path, controls)
        if z is None:
            raise MapLoadingError(
                f"{path}: cannot tell which slice this LCModel spreadsheet holds; keep the run's control file "
                "(islice, filcsv) beside it or name it sl<z>.csv"
            )
        if z in found:
            raise MapLoadingError(f"{found[z]} and {path} both hold slice {z}; keep one spreadsheet per slice")
        found[z] = path
    return found
