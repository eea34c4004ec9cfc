"""Load requested metabolite maps from any supported fitting output onto the MRSI grid.

:func:`load_metabolite_maps` is the pure function behind the Nipype node
:class:`mrsisr.interfaces.maps.LoadMetaboliteMaps`; :func:`save_loaded_maps` writes
its result.  Everything is returned on the MRSI grid in NIfTI voxel order
``[i, j, k]`` (LCModel row r, column c, slice s at ``(c-1, r-1, s-1)``).

Validity: a voxel of a metabolite is *invalid* when the tool wrote nothing there,
when its fit failed (LCModel FATAL), or when its concentration is exactly 0
(LCModel's "not found", written ``0.000`` with 999 %SD; the background of NIfTI and
FSL-MRS map sets).  Invalid concentrations are NaN, never 0 that looks real.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mrsisr import METABOLITES
from mrsisr.io.discovery import LocatedSource, locate_source, resolve_geometry
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.fslmrs import check_frequency, find_fslmrs_maps, hz_to_ppm, read_spectrometer_frequency
from mrsisr.io.geometry import CONVENTION, MRSIGeometry, check_in_plane_matrix, lcmodel_to_ijk
from mrsisr.io.lcmodel import CSIMaps, find_csi_outputs, read_control_file, read_csi, read_csi_volume
from mrsisr.io.names import resolve_metabolite, resolve_metabolites
from mrsisr.io.nifti import find_nifti_maps, load_map, save_map

__all__ = ["LoadedMaps", "load_metabolite_maps", "save_loaded_maps"]


@dataclass
class LoadedMaps:
    """Maps on the MRSI grid: 4-D ``(nx, ny, nz, metabolite)`` and 3-D quality maps."""

    geometry: MRSIGeometry
    metabolites: list[str]
    source_names: list[str]
    conc: np.ndarray
    sd: np.ndarray
    valid: np.ndarray
    snr: np.ndarray
    fwhm: np.ndarray
    quality_available: bool
    source_format: str
    source: Path
    quality_source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def acquired_matrix(self) -> int:
        """In-plane matrix n of the (square) acquisition."""
        return self.geometry.shape[0]


@dataclass
class _Raw:
    """What a format reader returns: per-source-name 3-D maps on the grid, before validity."""

    conc: dict[str, np.ndarray]
    sd: dict[str, np.ndarray]
    present: np.ndarray
    snr: np.ndarray | None
    fwhm: np.ndarray | None
    quality_source: str = ""


def _csv_slice(path: Path, n_slices: int) -> int:
    """Which slice a lone spreadsheet holds: ``sl<z>`` in its name, ``islice`` of control.file, or 1 of 1."""
    index = find_csi_outputs(path.parent)
    for z, entry in index.items():
        if entry["csv"] == path:
            return z
    control = path.parent / "control.file"
    if control.is_file() and "islice" in read_control_file(control):
        return int(read_control_file(control)["islice"])
    if n_slices == 1:
        return 1
    raise MapLoadingError(
        f"{path}: cannot tell which of the {n_slices} slices this spreadsheet holds; "
        "name it sl<z>.csv or keep LCModel's control.file (islice) beside it"
    )


def _read_lcmodel(located: LocatedSource, geometry: MRSIGeometry) -> tuple[CSIMaps, _Raw]:
    rows, cols, n_slices = geometry.lcmodel_shape
    if located.path.is_file():
        z = _csv_slice(located.path, n_slices)
        plane = read_csi(located.path, (rows, cols))
        csi = _stack_slice(plane, z, n_slices)
    else:
        csi = read_csi_volume(located.path, (rows, cols, n_slices), prefer=located.format)
    valid_voxel = csi.present & ~csi.failed
    raw = _Raw(
        conc={n: lcmodel_to_ijk(np.where(valid_voxel, a, np.nan)) for n, a in csi.conc.items()},
        sd={n: lcmodel_to_ijk(a) for n, a in csi.sd.items()},
        present=lcmodel_to_ijk(valid_voxel),
        snr=lcmodel_to_ijk(csi.snr) if csi.has_quality else None,
        fwhm=lcmodel_to_ijk(csi.fwhm) if csi.has_quality else None,
        quality_source="LCModel tables ($$MISC)" if csi.has_quality else "",
    )
    return csi, raw


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


def _read_nifti_set(located: LocatedSource, geometry: MRSIGeometry, requested, overrides, allow_nan) -> _Raw:
    maps = find_nifti_maps(located.path, located.subject, located.session, located.acquisition)
    resolved = resolve_metabolites(requested, maps.signal, overrides, where=str(located.path))
    raw = _Raw(conc={}, sd={}, present=np.ones(geometry.shape, bool), snr=None, fwhm=None)
    for _, label in resolved:
        conc, _ = load_map(maps.signal[label], geometry, f"{label} concentration map", allow_nan)
        raw.conc[label] = conc
        if label in maps.crlb:
            raw.sd[label] = load_map(maps.crlb[label], geometry, f"{label} %SD map", allow_nan)[0]
        else:
            raw.sd[label] = np.full(geometry.shape, np.nan)
            warnings.warn(f"{located.path}: no desc-crlb map for met-{label}; its %SD is unavailable (NaN)")
    if maps.snr is not None and maps.fwhm is not None:
        raw.snr = load_map(maps.snr, geometry, "S/N map", allow_nan)[0]
        raw.fwhm = load_map(maps.fwhm, geometry, "FWHM map", allow_nan)[0]
        raw.quality_source = f"{maps.snr.name}, {maps.fwhm.name}"
    return raw


def _read_fslmrs(located, geometry, requested, overrides, allow_nan, *, scaling, quality_metabolite, frequency,
                 reference) -> _Raw:
    maps = find_fslmrs_maps(located.path, scaling)
    resolved = resolve_metabolites(requested, maps.conc, overrides, where=f"{located.path}/concs/{maps.scaling}")
    raw = _Raw(conc={}, sd={}, present=np.ones(geometry.shape, bool), snr=None, fwhm=None)
    for _, name in resolved:
        raw.conc[name] = load_map(maps.conc[name], geometry, f"{name} concentration map", allow_nan)[0]
        sd = maps.sd.get(name)
        raw.sd[name] = load_map(sd, geometry, f"{name} %SD map", allow_nan)[0] if sd else np.full(geometry.shape, np.nan)
    quality_names = [n for n in maps.fwhm if n in maps.snr]
    if quality_names:
        _, name = resolve_metabolite(quality_metabolite, quality_names, where=f"{located.path}/qc (S/N and FWHM)")
        if frequency is None and reference is not None:
            frequency = read_spectrometer_frequency(reference)
        if frequency is None:
            raise MapLoadingError(
                f"{located.path}: fsl_mrsi writes FWHM in Hz; give spectrometer_frequency (MHz) or a NIfTI-MRS "
                "reference carrying SpectrometerFrequency, to convert it to ppm"
            )
        raw.snr = load_map(maps.snr[name], geometry, f"{name} S/N map", allow_nan)[0]
        fwhm_hz = load_map(maps.fwhm[name], geometry, f"{name} FWHM map", allow_nan)[0]
        raw.fwhm = hz_to_ppm(fwhm_hz, check_frequency(frequency, "spectrometer_frequency"))
        raw.quality_source = f"fsl_mrsi qc/{name}_snr, qc/{name}_fwhm (Hz / {float(frequency)} MHz)"
    return raw


def _external_quality(raw: _Raw, located: LocatedSource, geometry, snr_map, fwhm_map, allow_nan) -> None:
    """Fill S/N and FWHM from explicit maps or a NIfTI set beside the source, when the source lacks them."""
    if (snr_map is None) != (fwhm_map is None):
        raise MapLoadingError("snr_map and fwhm_map go together: give both or neither")
    if snr_map is not None:
        raw.snr = load_map(snr_map, geometry, "S/N map", allow_nan)[0]
        raw.fwhm = load_map(fwhm_map, geometry, "FWHM map", allow_nan)[0]
        raw.quality_source = f"{snr_map}, {fwhm_map}"
        return
    if raw.snr is not None:
        return
    folder = located.path if located.path.is_dir() else located.path.parent
    if located.format == "csv" and any(e["tables"] for e in find_csi_outputs(folder).values()):
        tables = read_csi_volume(folder, geometry.lcmodel_shape)
        raw.snr, raw.fwhm = lcmodel_to_ijk(tables.snr), lcmodel_to_ijk(tables.fwhm)
        raw.quality_source = f"LCModel tables in {folder}"
        return
    for candidate in (folder, folder.parent):
        try:
            maps = find_nifti_maps(candidate, located.subject, located.session, located.acquisition,
                                   require_signal=False)
        except MapLoadingError:
            continue
        if maps.snr is not None and maps.fwhm is not None:
            raw.snr = load_map(maps.snr, geometry, "S/N map", allow_nan)[0]
            raw.fwhm = load_map(maps.fwhm, geometry, "FWHM map", allow_nan)[0]
            raw.quality_source = f"{maps.snr}, {maps.fwhm}"
            return


def _first_map(located: LocatedSource) -> Path | None:
    """A map whose grid defines the geometry of NIfTI and FSL-MRS sources."""
    if located.format == "nifti":
        maps = find_nifti_maps(located.path, located.subject, located.session, located.acquisition)
        return next(iter(maps.signal.values()))
    if located.format == "fsl-mrs":
        return next(iter(find_fslmrs_maps(located.path).conc.values()), None)
    return None


def load_metabolite_maps(
    source: str | Path,
    *,
    source_format: str = "auto",
    metabolites=METABOLITES,
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
    reference: str | Path | None = None,
    geometry_file: str | Path | None = None,
    grid_shape=None,
    grid_affine=None,
    name_overrides: dict[str, str] | None = None,
    require_quality: bool = True,
    allow_nan: bool = False,
    snr_map: str | Path | None = None,
    fwhm_map: str | Path | None = None,
    spectrometer_frequency: float | None = None,
    fsl_scaling: str = "auto",
    fsl_quality_metabolite: str = "NAA",
) -> LoadedMaps:
    """Read ``metabolites`` (canonical names or aliases) from a fitting output onto the MRSI grid.

    ``source``, ``source_format``, ``subject``/``session``/``acquisition``: what to read
    (see :func:`mrsisr.io.discovery.locate_source`).  ``reference``, ``geometry_file``,
    ``grid_shape`` + ``grid_affine``: the MRSI grid (see
    :func:`mrsisr.io.discovery.resolve_geometry`).  ``name_overrides``: explicit source
    name per requested metabolite.  ``require_quality``: fail when no S/N and FWHM
    are found (else NaN maps and a warning).  ``allow_nan``: NaN in input NIfTI maps
    means a missing voxel instead of an error.  ``snr_map``/``fwhm_map``: explicit
    quality maps (FWHM in ppm).  FSL-MRS only: ``spectrometer_frequency`` (MHz; else
    read from a NIfTI-MRS ``reference``), ``fsl_scaling``, ``fsl_quality_metabolite``
    (whose qc S/N and FWHM stand for the voxel).

    Raises a :class:`~mrsisr.io.errors.MapLoadingError` subclass naming the file for
    every unusable input (see :mod:`mrsisr.io.errors`).
    """
    located = locate_source(source, source_format, subject, session, acquisition)
    geometry = resolve_geometry(located, reference, geometry_file, grid_shape, grid_affine, _first_map(located))
    check_in_plane_matrix(geometry)
    requested = list(metabolites)
    if not requested:
        raise MapLoadingError("no metabolites requested; give canonical names such as " + ", ".join(METABOLITES))
    if located.format in ("table", "csv"):
        csi, raw = _read_lcmodel(located, geometry)
        resolved = resolve_metabolites(requested, csi.names, name_overrides, where=str(located.path))
    elif located.format == "nifti":
        raw = _read_nifti_set(located, geometry, requested, name_overrides, allow_nan)
        resolved = resolve_metabolites(requested, raw.conc, name_overrides, where=str(located.path))
    else:
        raw = _read_fslmrs(located, geometry, requested, name_overrides, allow_nan, scaling=fsl_scaling,
                           quality_metabolite=fsl_quality_metabolite, frequency=spectrometer_frequency,
                           reference=reference)
        resolved = resolve_metabolites(requested, raw.conc, name_overrides, where=str(located.path))
    _external_quality(raw, located, geometry, snr_map, fwhm_map, allow_nan)
    return _assemble(raw, resolved, geometry, located, require_quality)


def _assemble(raw: _Raw, resolved, geometry, located, require_quality) -> LoadedMaps:
    canonical = [c for c, _ in resolved]
    repeated = sorted({c for c in canonical if canonical.count(c) > 1})
    if repeated:
        raise MapLoadingError(f"metabolites {repeated} are requested more than once (aliases of one name)")
    names = [name for _, name in resolved]
    conc = np.stack([raw.conc[n] for n in names], axis=-1)
    sd = np.stack([raw.sd[n] for n in names], axis=-1)
    valid = raw.present[..., None] & np.isfinite(conc) & (conc != 0)
    for (canonical, name), count in zip(resolved, valid.reshape(-1, len(names)).sum(axis=0)):
        if count == 0:
            raise MapLoadingError(
                f"{located.path}: {canonical} ({name!r}) has no valid voxel: every voxel is missing, failed or 0"
            )
    quality = raw.snr is not None and raw.fwhm is not None
    if not quality:
        message = (
            f"{located.path}: S/N and FWHM are unavailable ({located.format} output carries none): add the "
            "per-voxel .table files, desc-snr/desc-fwhm NIfTI maps, or snr_map and fwhm_map"
        )
        if require_quality:
            raise MapLoadingError(message + " (or set require_quality=False)")
        warnings.warn(message + "; S/N and FWHM maps are written as NaN")
    nan = np.full(geometry.shape, np.nan)
    return LoadedMaps(
        geometry=geometry, metabolites=[c for c, _ in resolved], source_names=names,
        conc=np.where(valid, conc, np.nan), sd=np.where(raw.present[..., None], sd, np.nan), valid=valid,
        snr=raw.snr if quality else nan, fwhm=raw.fwhm if quality else nan.copy(), quality_available=quality,
        source_format=located.format, source=located.path, quality_source=raw.quality_source,
    )


#: File names :func:`save_loaded_maps` writes (and the interface reports).
OUTPUT_NAMES = {
    "conc_file": "metabolites_conc.nii.gz",
    "sd_file": "metabolites_sd.nii.gz",
    "valid_file": "metabolites_valid.nii.gz",
    "snr_file": "snr.nii.gz",
    "fwhm_file": "fwhm.nii.gz",
    "metadata_file": "metabolites.json",
}


def save_loaded_maps(maps: LoadedMaps, out_dir: str | Path) -> dict[str, Path]:
    """Write the maps as NIfTI on the MRSI grid and a JSON sidecar; return the paths by output name.

    ``metabolites_conc``/``_sd``/``_valid`` are 4-D ``(nx, ny, nz, metabolite)`` in the
    order of ``maps.metabolites`` (float32 with NaN where invalid; %SD NaN where no voxel;
    uint8 validity); ``snr`` and ``fwhm`` (ppm) are 3-D float32.
    """
    out_dir = Path(out_dir)
    paths = {key: out_dir / name for key, name in OUTPUT_NAMES.items()}
    save_map(maps.conc, maps.geometry, paths["conc_file"])
    save_map(maps.sd, maps.geometry, paths["sd_file"])
    save_map(maps.valid, maps.geometry, paths["valid_file"], dtype=np.uint8)
    save_map(maps.snr, maps.geometry, paths["snr_file"])
    save_map(maps.fwhm, maps.geometry, paths["fwhm_file"])
    metadata = {
        "Metabolites": maps.metabolites, "SourceNames": maps.source_names, "SourceFormat": maps.source_format,
        "Source": str(maps.source), "AcquiredMatrix": maps.acquired_matrix, "QualityAvailable": maps.quality_available,
        "QualitySource": maps.quality_source, "FWHMUnits": "ppm", "SDUnits": "percent",
        "GeometrySource": maps.geometry.origin, "Convention": CONVENTION,
        "ValidRule": "present, fit not failed, finite and non-zero concentration",
    }
    paths["metadata_file"].write_text(json.dumps(metadata, indent=2))
    return paths
