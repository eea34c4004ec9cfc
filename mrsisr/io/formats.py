"""The fitting-output formats mrsisr reads: one registry of detector and reader per format.

:data:`FORMATS` maps a format name to a :class:`SourceFormat`: how to recognise its
output in a folder (``detect``) or as one file (``detect_file``), how to read the
requested metabolites onto the MRSI grid (``read``), and which map defines the grid
when the output itself is NIfTI (``first_map``).  :mod:`mrsisr.io.discovery` tries the
detectors in registry order (``auto``), :mod:`mrsisr.io.loader` calls the reader, and
the Nipype node's ``source_format`` choices are the registry's keys; so a new reader is
its parsing module plus one entry here.  Metabolite names are resolved through one
table for every format (:mod:`mrsisr.metabolites`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrsisr.grid import load_image
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.fslmrs import find_fslmrs_maps, find_fslmrsi_folder, hz_to_ppm
from mrsisr.io.geometry import MRSIGeometry, lcmodel_to_ijk
from mrsisr.io.lcmodel import CSIMaps, find_csi_outputs, read_csi, read_csi_volume, read_spreadsheet, read_table
from mrsisr.io.lcmodel_grid import find_control_files, read_lcmodel_grid, spreadsheet_slice
from mrsisr.io.names import resolve_metabolite, resolve_metabolites
from mrsisr.io.nifti import find_nifti_maps

__all__ = ["FORMATS", "LocatedSource", "RawMaps", "ReadRequest", "SourceFormat", "fsl_frequency_missing", "map_reader"]


@dataclass(frozen=True)
class LocatedSource:
    """Where the maps are: ``format``, the ``path`` to read, and the entities used to find it."""

    format: str
    path: Path
    subject: str | None = None
    session: str | None = None
    acquisition: str | None = None


@dataclass(frozen=True)
class ReadRequest:
    """What the loader asks a reader for (see :func:`mrsisr.io.loader.load_metabolite_maps`)."""

    metabolites: tuple[str, ...]
    overrides: dict | None = None
    allow_nan: bool = False
    fsl_scaling: str = "auto"
    fsl_quality_metabolite: str = "NAA"
    frequency: float | None = None
    frequency_source: str = ""


@dataclass
class RawMaps:
    """What a reader returns: per-source-name 3-D maps on the grid, before validity, and the resolution.

    ``files``: the file each source name was read from (for messages); ``missing_by_slice``:
    ``{canonical: {slice (1-based): voxels with output but without this metabolite}}``.
    """

    conc: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    present: np.ndarray
    snr: np.ndarray | None
    fwhm: np.ndarray | None
    quality_source: str = ""
    resolved: list[tuple[str, str]] | None = None
    files: dict[str, Path] | None = None
    missing_by_slice: dict[str, dict[int, int]] | None = None


@dataclass(frozen=True)
class SourceFormat:
    """One fitting-output format.

    ``detect(base, acquisition, explicit)`` returns the path to read under the folder
    ``base`` or None (``explicit``: the user chose this format, so say why it does not
    fit); ``detect_file(path)`` the path to read when one file given is of this format
(the file, or the folder of the map set it belongs to); ``read(located,
    geometry, request)`` the maps; ``first_map(located)`` the map whose grid is the MRSI
    grid (None: the grid comes from elsewhere); ``geometry_beside``: a ``geometry.json``
    beside the output gives the grid; ``expected``: the layout, for error messages.
    """

    detect: Callable[[Path, str | None, bool], Path | None]
    read: Callable[[LocatedSource, MRSIGeometry, ReadRequest], RawMaps]
    expected: str
    detect_file: Callable[[Path], Path | None] | None = None
    first_map: Callable[[LocatedSource], Path | None] | None = None
    geometry_beside: bool = False
    names: Callable[[LocatedSource, str], list[str]] | None = None


def map_reader(geometry: MRSIGeometry, allow_nan: bool) -> Callable[[Path, str], np.ndarray]:
    """``read(path, what)``: a map on ``geometry`` as float64, through the one checked NIfTI loader."""
    return lambda path, what: load_image(path, what, allow_nan=allow_nan, grid=geometry, dtype=float)[0]


# --------------------------------------------------------------------------
# LCModel: per-voxel tables and CSI spreadsheets
# --------------------------------------------------------------------------
def _lcmodel_folder(base: Path, acquisition: str | None) -> Path | None:
    """The folder holding LCModel CSI output: ``base`` itself or one ``lcmodel[_acq-N]`` below it."""
    if find_csi_outputs(base):
        return base
    folders = sorted(p for p in base.glob("lcmodel*") if p.is_dir())
    if acquisition is not None:
        folders = [p for p in folders if p.name.endswith(f"acq-{acquisition}")]
    if len(folders) > 1:
        raise MapLoadingError(
            f"{base} holds several LCModel runs ({', '.join(p.name for p in folders)}); choose one with acquisition (command line: --acquisition)"
        )
    return folders[0] if folders and find_csi_outputs(folders[0]) else None


def _detect_tables(base: Path, acquisition: str | None, explicit: bool) -> Path | None:
    folder = _lcmodel_folder(base, acquisition)
    if folder is None:
        return None
    if any(entry["tables"] for entry in find_csi_outputs(folder).values()):
        return folder
    if explicit:
        raise MapLoadingError(f"{folder} holds no per-voxel .table files (only spreadsheets)")
    return None


def _detect_spreadsheets(base: Path, acquisition: str | None, explicit: bool) -> Path | None:
    folder = _lcmodel_folder(base, acquisition)
    if folder is None:
        return None
    if any(entry["csv"] for entry in find_csi_outputs(folder).values()):
        return folder
    raise MapLoadingError(
        f"{folder} holds LCModel tables but no CSI spreadsheet (a .csv with LCModel's header Row, Col, <met>, ...)"
    )


def _csv_slice(path: Path, n_slices: int) -> int:
    """Which slice a lone spreadsheet holds: its run's ``islice`` (control file), ``sl<z>`` in its name, or 1 of 1."""
    z = spreadsheet_slice(path, [read_lcmodel_grid(c) for c in find_control_files(path.parent)])
    if z is not None:
        return z
    if n_slices == 1:
        return 1
    raise MapLoadingError(
        f"{path}: cannot tell which of the {n_slices} slices this spreadsheet holds; "
        "keep LCModel's control file (islice, filcsv) beside it or name it sl<z>.csv"
    )


def _lcmodel_names(located: LocatedSource, prefer: str) -> list[str]:
    """Names in an LCModel run: each slice's spreadsheet header, or its first table with concentrations."""
    if located.path.is_file():
        return list(read_spreadsheet(located.path).names)
    names: list[str] = []
    for entry in find_csi_outputs(located.path).values():
        if entry["csv"] is not None and (prefer == "csv" or not entry["tables"]):
            names += read_spreadsheet(entry["csv"]).names
            continue
        for path in entry["tables"].values():
            try:
                names += read_table(path).names
                break
            except MapLoadingError:  # a FATAL voxel: try the next table
                continue
    return list(dict.fromkeys(names))


def _stack_slice(plane: CSIMaps, z: int, n_slices: int) -> CSIMaps:
    """Place a 2-D slice at slice ``z`` (1-based) of an otherwise empty volume."""
    if not 1 <= z <= n_slices:
        raise MapLoadingError(f"slice {z} lies outside the stated {n_slices} slices")

    def lift(array, fill):
        volume = np.full(array.shape + (n_slices,), fill, dtype=array.dtype)
        volume[..., z - 1] = array
        return volume

    return CSIMaps(
        conc={n: lift(a, np.nan) for n, a in plane.conc.items()}, sd={n: lift(a, np.nan) for n, a in plane.sd.items()},
        snr=lift(plane.snr, np.nan), fwhm=lift(plane.fwhm, np.nan), names=plane.names,
        present=lift(plane.present, False), failed=lift(plane.failed, False), has_quality=plane.has_quality,
        sources=plane.sources,
    )


def _read_lcmodel(located: LocatedSource, geometry: MRSIGeometry, request: ReadRequest) -> RawMaps:
    rows, cols, n_slices = geometry.lcmodel_shape
    if located.path.is_file():
        csi = _stack_slice(read_csi(located.path, (rows, cols)), _csv_slice(located.path, n_slices), n_slices)
    else:
        csi = read_csi_volume(located.path, (rows, cols, n_slices), prefer=located.format)
    valid_voxel = csi.present & ~csi.failed
    raw = RawMaps(
        conc={n: lcmodel_to_ijk(np.where(valid_voxel, a, np.nan)) for n, a in csi.conc.items()},
        sd={n: lcmodel_to_ijk(a) for n, a in csi.sd.items()},
        present=lcmodel_to_ijk(valid_voxel),
        snr=lcmodel_to_ijk(csi.snr) if csi.has_quality else None,
        fwhm=lcmodel_to_ijk(csi.fwhm) if csi.has_quality else None,
        quality_source="LCModel tables ($$MISC)" if csi.has_quality else "",
        resolved=resolve_metabolites(request.metabolites, csi.names, request.overrides, where=str(located.path)),
    )
    raw.missing_by_slice = _missing_by_slice(csi, raw.resolved)
    return raw


def _missing_by_slice(csi: CSIMaps, resolved: list[tuple[str, str]]) -> dict[str, dict[int, int]]:
    """Warn about each requested metabolite absent from some slices' output, and count those voxels."""
    counts: dict[str, dict[int, int]] = {}
    for canonical, name in resolved:
        for z, source in sorted(csi.missing.get(name, {}).items()):
            voxels = int(csi.present[..., z - 1].sum())
            counts.setdefault(canonical, {})[z] = voxels
            warnings.warn(
                f"{source}: slice {z} has no {canonical} ({name!r}) although other slices do; its {voxels} "
                "voxel(s) with output are invalid for that metabolite", stacklevel=2,
            )
    return counts


# --------------------------------------------------------------------------
# NIfTI map sets (MRSIPrep naming)
# --------------------------------------------------------------------------
def _detect_nifti_set(base: Path, acquisition: str | None, explicit: bool) -> Path | None:
    return base if any("desc-signal" in p.name for p in base.glob("*_mrsi.nii*")) else None


def _nifti_file_set(path: Path) -> Path | None:
    """One map of a set stands for its folder."""
    return path.parent if ".nii" in "".join(path.suffixes[-2:]).lower() else None


def _nifti_set(located: LocatedSource):
    return find_nifti_maps(located.path, located.subject, located.session, located.acquisition)


def _read_nifti_set(located: LocatedSource, geometry: MRSIGeometry, request: ReadRequest) -> RawMaps:
    maps = _nifti_set(located)
    resolved = resolve_metabolites(request.metabolites, maps.signal, request.overrides, where=str(located.path))
    raw = RawMaps(conc={}, sd={}, present=np.ones(geometry.shape, bool), snr=None, fwhm=None, resolved=resolved,
                  files={label: maps.signal[label] for _, label in resolved})
    read = map_reader(geometry, request.allow_nan)
    for _, label in resolved:
        raw.conc[label] = read(maps.signal[label], f"{label} concentration map")
        if label in maps.crlb:
            raw.sd[label] = read(maps.crlb[label], f"{label} %SD map")
        else:
            raw.sd[label] = np.full(geometry.shape, np.nan)
            warnings.warn(f"{located.path}: no desc-crlb map for met-{label}; its %SD is unavailable (NaN)")
    if maps.snr is not None and maps.fwhm is not None:
        raw.snr = read(maps.snr, "S/N map")
        raw.fwhm = read(maps.fwhm, "FWHM map")
        raw.quality_source = f"{maps.snr.name}, {maps.fwhm.name}"
    return raw


# --------------------------------------------------------------------------
# FSL-MRS fsl_mrsi output folders
# --------------------------------------------------------------------------
def _detect_fslmrs(base: Path, acquisition: str | None, explicit: bool) -> Path | None:
    return find_fslmrsi_folder(base, acquisition)


def fsl_frequency_missing(located: LocatedSource) -> MapLoadingError:
    """The error of an ``fsl_mrsi`` FWHM (Hz) that no frequency converts (raised by the loader and the inspection)."""
    return MapLoadingError(
        f"{located.path}: fsl_mrsi writes FWHM in Hz; give spectrometer_frequency in MHz (command line: "
        "--spectrometer-frequency) to convert it to ppm: neither fit/fit.nii.gz nor a raw NIfTI-MRS in BIDS "
        "mrs/ records SpectrometerFrequency"
    )


def _read_fslmrs(located: LocatedSource, geometry: MRSIGeometry, request: ReadRequest) -> RawMaps:
    maps = find_fslmrs_maps(located.path, request.fsl_scaling)
    resolved = resolve_metabolites(request.metabolites, maps.conc, request.overrides,
                                   where=f"{located.path}/concs/{maps.scaling}")
    raw = RawMaps(conc={}, sd={}, present=np.ones(geometry.shape, bool), snr=None, fwhm=None, resolved=resolved,
                  files={name: maps.conc[name] for _, name in resolved})
    read = map_reader(geometry, request.allow_nan)
    for _, name in resolved:
        raw.conc[name] = read(maps.conc[name], f"{name} concentration map")
        sd = maps.sd.get(name)
        raw.sd[name] = read(sd, f"{name} %SD map") if sd else np.full(geometry.shape, np.nan)
    quality_names = [n for n in maps.fwhm if n in maps.snr]
    if quality_names:
        _, name = resolve_metabolite(request.fsl_quality_metabolite, quality_names,
                                     where=f"{located.path}/qc (S/N and FWHM)")
        if request.frequency is None:
            raise fsl_frequency_missing(located)
        raw.snr = read(maps.snr[name], f"{name} S/N map")
        fwhm_hz = read(maps.fwhm[name], f"{name} FWHM map")
        raw.fwhm = hz_to_ppm(fwhm_hz, request.frequency)
        raw.quality_source = (f"fsl_mrsi qc/{name}_snr, qc/{name}_fwhm (Hz / {float(request.frequency)} MHz"
                              + (f", from {request.frequency_source})" if request.frequency_source else ")"))
    return raw


#: The formats, in the order ``auto`` tries them.
FORMATS: dict[str, SourceFormat] = {
    "fsl-mrs": SourceFormat(
        detect=_detect_fslmrs, read=_read_fslmrs,
        expected="an fsl_mrsi output folder, any name, here or one or two levels below (concs/<scaling>/, qc/)",
        first_map=lambda located: next(iter(find_fslmrs_maps(located.path).conc.values()), None),
        names=lambda located, scaling: list(find_fslmrs_maps(located.path, scaling).conc),
    ),
    "table": SourceFormat(
        detect=_detect_tables, read=_read_lcmodel, geometry_beside=True,
        expected="[<stem>_]sl<z>_<row>-<col>.table files (here or in lcmodel[_acq-N]/)",
        names=lambda located, _: _lcmodel_names(located, "table"),
    ),
    "csv": SourceFormat(
        detect=_detect_spreadsheets, read=_read_lcmodel, geometry_beside=True,
        detect_file=lambda path: path if path.suffix.lower() == ".csv" else None,
        expected="CSI spreadsheets, any name (LCModel's filcsv; here or in lcmodel[_acq-N]/)",
        names=lambda located, _: _lcmodel_names(located, "csv"),
    ),
    "nifti": SourceFormat(
        detect=_detect_nifti_set, read=_read_nifti_set, detect_file=_nifti_file_set,
        first_map=lambda located: next(iter(_nifti_set(located).signal.values())),
        expected="*_met-<Met>_desc-signal_mrsi.nii.gz maps",
        names=lambda located, _: list(_nifti_set(located).signal),
    ),
}
