"""LCModel CSI output as maps: per-voxel ``.table`` folders and CSI spreadsheets (``.csv``).

Conventions of this module:

* metabolite names are kept exactly as LCModel wrote them (alias resolution is
  :mod:`mrsisr.io.names`); CSV names are LCModel's 13-character cut;
* maps of a CSI run are numpy arrays indexed ``[row - 1, col - 1]`` (LCModel rows and
  columns are 1-based, (1, 1) top-left), ``NaN`` where LCModel wrote no voxel;
* FWHM is in ppm and S/N is LCModel's rounded integer (``-1`` when the noise was zero).

The single-file parsers (:func:`read_table`, :func:`read_spreadsheet`,
:func:`read_control_file`) live in :mod:`mrsisr.io.lcmodel_text` and are re-exported here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mrsisr.io.errors import GeometryError, LCModelFitFailedError, LCModelFormatError, MapLoadingError
from mrsisr.io.lcmodel_grid import find_spreadsheets
from mrsisr.io.lcmodel_text import (
    LCModelSpreadsheet,
    LCModelTable,
    read_control_file,
    read_spreadsheet,
    read_table,
)

__all__ = [
    "CSIMaps",
    "LCModelSpreadsheet",
    "LCModelTable",
    "find_csi_outputs",
    "read_control_file",
    "read_csi",
    "read_csi_volume",
    "read_spreadsheet",
    "read_table",
]

#: Per-voxel table of a CSI run: ``sl<z>_<row>-<col>.table`` or ``<stem>_sl<z>_<row>-<col>.table``.
_VOXEL_TABLE = re.compile(r"^(?:(?P<stem>.+)_)?sl(?P<slice>\d+)_(?P<row>\d+)-(?P<col>\d+)\.table$", re.IGNORECASE)
#: Per-slice CSI spreadsheet: ``sl<z>.csv`` or ``<stem>_sl<z>.csv``.
_SLICE_CSV = re.compile(r"^(?:(?P<stem>.+)_)?sl(?P<slice>\d+)\.csv$", re.IGNORECASE)


@dataclass
class CSIMaps:
    """Maps of one CSI run (2-D ``[row-1, col-1]``) or a stack of slices (``[row-1, col-1, slice-1]``).

    ``present`` marks voxels LCModel wrote output for, ``failed`` those whose table
    reported a FATAL fit (no concentrations).  ``missing`` lists the names that some
    slices of a volume lack (a spreadsheet without that column): NaN there.  ``has_quality`` is False when S/N and
    FWHM were not available (a spreadsheet carries neither): ``snr``/``fwhm`` are NaN.
    """

    conc: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    snr: np.ndarray
    fwhm: np.ndarray
    names: tuple[str, ...]
    present: np.ndarray
    failed: np.ndarray
    has_quality: bool
    sources: tuple[Path, ...] = field(default_factory=tuple)
    missing: dict[str, dict[int, Path]] = field(default_factory=dict)
    """Volumes only: names absent from some slices' output, ``{name: {slice: that slice's source}}``."""


def find_csi_outputs(directory: str | Path, stem: str | None = None) -> dict[int, dict]:
    """Index a CSI output folder: ``{slice: {"tables": {(row, col): path}, "csv": path | None}}``.

    Tables are ``[<stem>_]sl<z>_<row>-<col>.table``; spreadsheets ``[<stem>_]sl<z>.csv`` or any
    ``.csv`` whose header is LCModel's (``filcsv`` may be ``spreadsheet.csv``), its slice told
    by the run's control file (:func:`mrsisr.io.lcmodel_grid.find_spreadsheets`).
    Several stems in one folder are ambiguous unless ``stem`` picks one.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MapLoadingError(f"LCModel output folder {directory} does not exist")
    index: dict[int, dict] = {}
    stems = set()
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        table, csv = _VOXEL_TABLE.match(entry.name), _SLICE_CSV.match(entry.name)
        match = table or csv
        if match is None or (stem is not None and match["stem"] != stem):
            continue
        stems.add(match["stem"])
        slot = index.setdefault(int(match["slice"]), {"tables": {}, "csv": None})
        if table:
            slot["tables"][(int(table["row"]), int(table["col"]))] = entry
        else:
            slot["csv"] = entry
    if len(stems) > 1:
        raise MapLoadingError(
            f"{directory} holds LCModel outputs of several runs (stems {sorted(map(str, stems))}); pick one with stem=, or keep one run per folder"
        )
    named = {slot["csv"] for slot in index.values() if slot["csv"] is not None}
    if not named:
        for z, path in find_spreadsheets(directory).items():
            index.setdefault(z, {"tables": {}, "csv": None})["csv"] = path
    return index


def _empty_maps(shape, names, has_quality) -> CSIMaps:
    nan = np.full(shape, np.nan)
    return CSIMaps(
        conc={n: nan.copy() for n in names}, sd={n: nan.copy() for n in names}, snr=nan.copy(),
        fwhm=nan.copy(), names=tuple(names), present=np.zeros(shape, bool), failed=np.zeros(shape, bool),
        has_quality=has_quality,
    )


def _check_voxel(path: Path, row: int, col: int, shape: tuple[int, int]) -> None:
    if not (1 <= row <= shape[0] and 1 <= col <= shape[1]):
        raise GeometryError(
            f"{path}: voxel row {row}, col {col} lies outside the stated grid of {shape[0]} rows x {shape[1]} cols"
        )


def _maps_from_tables(tables: dict[tuple[int, int], Path], shape: tuple[int, int]) -> CSIMaps:
    parsed, failed = {}, []
    for (row, col), path in sorted(tables.items()):
        _check_voxel(path, row, col, shape)
        try:
            parsed[(row, col)] = table = read_table(path)
        except LCModelFitFailedError:
            failed.append((row, col))
            continue
        if table.location and table.location[1:] != (row, col):
            raise LCModelFormatError(
                f"{path}: the file name says row {row}, col {col} but its title says row "
                f"{table.location[1]}, col {table.location[2]}"
            )
    names = list(dict.fromkeys(name for table in parsed.values() for name in table.names))
    maps = _empty_maps(shape, names, has_quality=True)
    for (row, col), table in parsed.items():
        at = (row - 1, col - 1)
        for name in table.names:
            maps.conc[name][at], maps.sd[name][at] = table.conc[name], table.sd[name]
        maps.snr[at], maps.fwhm[at] = table.snr, table.fwhm
        maps.present[at] = True
    for row, col in failed:
        maps.present[row - 1, col - 1] = maps.failed[row - 1, col - 1] = True
    if failed:
        warnings.warn(f"{len(failed)} LCModel table(s) report a failed fit (FATAL); those voxels are invalid")
    maps.sources = tuple(tables[key] for key in sorted(tables))
    return maps


def _maps_from_spreadsheet(path: Path, shape: tuple[int, int]) -> CSIMaps:
    sheet = read_spreadsheet(path)
    maps = _empty_maps(shape, sheet.names, has_quality=False)
    seen = set()
    for index, (row, col) in enumerate(zip(sheet.rows.tolist(), sheet.cols.tolist())):
        _check_voxel(path, row, col, shape)
        if (row, col) in seen:
            raise LCModelFormatError(f"{path}: voxel row {row}, col {col} appears twice")
        seen.add((row, col))
        for name in sheet.names:
            maps.conc[name][row - 1, col - 1] = sheet.conc[name][index]
            maps.sd[name][row - 1, col - 1] = sheet.sd[name][index]
        maps.present[row - 1, col - 1] = True
    maps.sources = (path,)
    return maps


def read_csi(
    source: str | Path, shape: tuple[int, int], slice: int | None = None, stem: str | None = None
) -> CSIMaps:
    """Read one slice of an LCModel CSI run into ``(rows, cols)`` maps indexed ``[row-1, col-1]``.

    Parameters
    ----------
    source
        A folder of per-voxel tables (``[<stem>_]sl<z>_<row>-<col>.table``; per-slice
        ``sl<z>.csv`` are used when a slice has no tables) or one CSI ``.csv``.
    shape
        ``(rows, cols)`` of the CSI grid (LCModel's ``ndrows``, ``ndcols``).
    slice
        Which slice to read when the folder holds several (1-based, as in the names).
    stem
        Which run to read when the folder holds tables of several runs.

    Voxels LCModel wrote nothing for are NaN; a spreadsheet has no S/N or FWHM, so
    those stay NaN and ``has_quality`` is False.
    """
    source, shape = Path(source), (int(shape[0]), int(shape[1]))
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise MapLoadingError(f"{source}: expected a folder of per-voxel .table files or a CSI .csv")
        return _maps_from_spreadsheet(source, shape)
    index = find_csi_outputs(source, stem)
    if not index:
        raise MapLoadingError(
            f"{source} holds no LCModel CSI output; expected [<stem>_]sl<z>_<row>-<col>.table or sl<z>.csv files"
        )
    if slice is None:
        if len(index) > 1:
            raise MapLoadingError(f"{source} holds slices {sorted(index)}; choose one with slice=")
        slice = next(iter(index))
    if slice not in index:
        raise MapLoadingError(f"{source} holds no output for slice {slice}; slices present: {sorted(index)}")
    return _read_slice(index[slice], shape)


def _read_slice(entry: dict, shape: tuple[int, int], prefer: str = "table") -> CSIMaps:
    """One slice from its index entry: tables or spreadsheet, as preferred, else the other one."""
    if entry["tables"] and (prefer == "table" or entry["csv"] is None):
        return _maps_from_tables(entry["tables"], shape)
    return _maps_from_spreadsheet(entry["csv"], shape)


def read_csi_volume(
    source: str | Path, shape: tuple[int, int, int], stem: str | None = None, prefer: str = "table"
) -> CSIMaps:
    """Read every slice of a multi-slice CSI folder into ``(rows, cols, slices)`` arrays.

    Arrays are indexed ``[row-1, col-1, slice-1]``; slices without any output stay NaN.
    Each slice comes from its tables or its ``sl<z>.csv``, whichever ``prefer`` names
    (``"table"`` or ``"csv"``) when both exist.  ``has_quality`` is True only when every
    slice read came from tables.
    """
    if prefer not in ("table", "csv"):
        raise ValueError(f"prefer must be 'table' or 'csv', got {prefer!r}")
    source = Path(source)
    rows, cols, n_slices = (int(v) for v in shape)
    index = find_csi_outputs(source, stem)
    if not index:
        raise MapLoadingError(
            f"{source} holds no LCModel CSI output; expected [<stem>_]sl<z>_<row>-<col>.table or sl<z>.csv files"
        )
    outside = [z for z in index if not 1 <= z <= n_slices]
    if outside:
        raise GeometryError(f"{source}: slices {outside} lie outside the stated {n_slices} slices")
    per_slice = {z: _read_slice(index[z], (rows, cols), prefer) for z in sorted(index)}
    names = list(dict.fromkeys(name for maps in per_slice.values() for name in maps.names))
    volume = _empty_maps((rows, cols, n_slices), names, has_quality=all(m.has_quality for m in per_slice.values()))
    for z, maps in per_slice.items():
        for name in maps.names:
            volume.conc[name][..., z - 1] = maps.conc[name]
            volume.sd[name][..., z - 1] = maps.sd[name]
        volume.snr[..., z - 1], volume.fwhm[..., z - 1] = maps.snr, maps.fwhm
        volume.present[..., z - 1], volume.failed[..., z - 1] = maps.present, maps.failed
    volume.sources = tuple(path for maps in per_slice.values() for path in maps.sources)
    for name in names:
        lacking = {z: (maps.sources[0] if len(maps.sources) == 1 else source / f"sl{z}_*.table")
                   for z, maps in per_slice.items() if name not in maps.names}
        if lacking:
            volume.missing[name] = lacking
    return volume
