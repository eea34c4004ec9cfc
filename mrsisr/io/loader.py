"""Load requested metabolite maps from any supported fitting output onto the MRSI grid.

:func:`load_metabolite_maps` is the pure function behind the Nipype node
:class:`mrsisr.interfaces.maps.LoadMetaboliteMaps`; :func:`save_loaded_maps` writes
its result.  Everything is returned on the MRSI grid in NIfTI voxel order
``[i, j, k]`` (LCModel row r, column c, slice s at ``(c-1, r-1, s-1)``).

Validity: a voxel of a metabolite is *invalid* when the tool wrote nothing there,
when its fit failed (LCModel FATAL), or when its concentration is exactly 0
(LCModel's "not found", written ``0.000`` with 999 %SD; the background of NIfTI and
FSL-MRS map sets).  Negative concentrations (unconstrained fits, interpolated maps)
are clipped to 0, so invalid too, with a warning that counts them; a metabolite
missing from one slice's output is warned about as well.  Both counts go into
``metabolites.json`` (``NegativeVoxels``, ``MissingFromSlices``).  Invalid
concentrations are NaN, never 0 that looks real.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mrsisr import METABOLITES
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.formats import FORMATS, LocatedSource, RawMaps, ReadRequest, map_reader
from mrsisr.io.geometry import CONVENTION, MRSIGeometry, lcmodel_to_ijk
from mrsisr.io.lcmodel import read_csi_volume
from mrsisr.io.nifti import save_map
from mrsisr.io.preflight import QualityCriteria, prepare_source, quality_beside

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
    negative_voxels: dict[str, int] = field(default_factory=dict)
    missing_by_slice: dict[str, dict[int, int]] = field(default_factory=dict)
    quality_criteria: QualityCriteria | None = None
    geometry_source: str = ""
    spectrometer_frequency: float | None = None

    @property
    def acquired_matrix(self) -> int:
        """In-plane matrix n of the (square) acquisition."""
        return self.geometry.shape[0]


def _external_quality(raw: RawMaps, located: LocatedSource, geometry, snr_map, fwhm_map, allow_nan) -> None:
    """Fill S/N and FWHM from explicit maps or a NIfTI set beside the source, when the source lacks them."""
    if (snr_map is None) != (fwhm_map is None):
        raise MapLoadingError("snr_map and fwhm_map go together: give both or neither")
    read = map_reader(geometry, allow_nan)
    if snr_map is not None:
        raw.snr = read(snr_map, "S/N map")
        raw.fwhm = read(fwhm_map, "FWHM map")
        raw.quality_source = f"{snr_map}, {fwhm_map}"
        return
    if raw.snr is not None:
        return
    beside = quality_beside(located)
    if beside.tables is not None:
        tables = read_csi_volume(beside.tables, geometry.lcmodel_shape)
        raw.snr, raw.fwhm = lcmodel_to_ijk(tables.snr), lcmodel_to_ijk(tables.fwhm)
        raw.quality_source = f"LCModel tables in {beside.tables}"
    elif beside.snr is not None:
        raw.snr, raw.fwhm = read(beside.snr, "S/N map"), read(beside.fwhm, "FWHM map")
        raw.quality_source = f"{beside.snr}, {beside.fwhm}"


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
    bids_dir: str | Path | None = None,
    mrsi_filters: dict | None = None,
    layout=None,
) -> LoadedMaps:
    """Read ``metabolites`` (canonical names or aliases) from a fitting output onto the MRSI grid.

    ``source``, ``source_format``, ``subject``/``session``/``acquisition``: what to read
    (see :func:`mrsisr.io.discovery.locate_source`).  ``reference``, ``geometry_file``,
    ``grid_shape`` + ``grid_affine``: the MRSI grid (see
    :func:`mrsisr.io.discovery.find_grid`; LCModel's own grid is checked against it, see
    :func:`mrsisr.io.preflight.prepare_source`).  ``bids_dir`` (default: the dataset above
    ``derivatives/``) or a pybids ``layout``, with ``mrsi_filters`` (``--bids-filter-file`` key
    ``mrsi``): where the raw MRSI of BIDS ``mrs/`` is looked up.  ``name_overrides``: explicit source
    name per requested metabolite.  ``require_quality``: fail when no S/N and FWHM
    are found (else NaN maps and a warning).  ``allow_nan``: NaN in input NIfTI maps
    means a missing voxel instead of an error.  ``snr_map``/``fwhm_map``: explicit
    quality maps (FWHM in ppm).  FSL-MRS only: ``spectrometer_frequency`` (MHz; only where
    neither ``fit/fit.nii.gz`` nor the raw MRSI records it), ``fsl_scaling`` (``auto``: the first
    of :data:`mrsisr.io.fslmrs.FSL_SCALINGS` present), ``fsl_quality_metabolite`` (whose qc S/N
    and FWHM stand for the voxel).

    Raises a :class:`~mrsisr.io.errors.MapLoadingError` subclass naming the file for
    every unusable input (see :mod:`mrsisr.io.errors`).
    """
    requested = list(metabolites)
    if not requested:
        raise MapLoadingError("no metabolites requested; give canonical names such as " + ", ".join(METABOLITES))
    prepared = prepare_source(
        source, source_format=source_format, subject=subject, session=session, acquisition=acquisition,
        reference=reference, geometry_file=geometry_file, grid_shape=grid_shape, grid_affine=grid_affine,
        spectrometer_frequency=spectrometer_frequency, bids_dir=bids_dir, mrsi_filters=mrsi_filters, layout=layout,
    )
    located, geometry = prepared.located, prepared.grid.geometry
    request = ReadRequest(tuple(requested), name_overrides, allow_nan, fsl_scaling, fsl_quality_metabolite,
                          prepared.frequency if located.format == "fsl-mrs" else None, prepared.frequency_source)
    raw = FORMATS[located.format].read(located, geometry, request)
    _external_quality(raw, located, geometry, snr_map, fwhm_map, allow_nan)
    maps = _assemble(raw, geometry, located, require_quality)
    maps.geometry_source = prepared.grid.describe()
    maps.spectrometer_frequency = prepared.frequency
    return maps


def _assemble(raw: RawMaps, geometry, located, require_quality) -> LoadedMaps:
    resolved = raw.resolved
    canonical = [c for c, _ in resolved]
    repeated = sorted({c for c in canonical if canonical.count(c) > 1})
    if repeated:
        raise MapLoadingError(f"metabolites {repeated} are requested more than once (aliases of one name)")
    names = [name for _, name in resolved]
    conc = np.stack([raw.conc[n] for n in names], axis=-1)
    sd = np.stack([raw.sd[n] for n in names], axis=-1)
    negative = _clip_negative(conc, resolved, raw, located)
    valid = raw.present[..., None] & np.isfinite(conc) & (conc > 0)
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
        warnings.warn(message + "; S/N and FWHM maps are written as NaN and only the %SD (--crlb-max) and "
                      "skull criteria can be applied")
    crlb = bool(np.isfinite(np.where(raw.present[..., None], sd, np.nan)).any())
    criteria = QualityCriteria(snr=quality, fwhm=quality, crlb=crlb, source=raw.quality_source if quality else "")
    nan = np.full(geometry.shape, np.nan)
    return LoadedMaps(
        geometry=geometry, metabolites=[c for c, _ in resolved], source_names=names,
        conc=np.where(valid, conc, np.nan), sd=np.where(raw.present[..., None], sd, np.nan), valid=valid,
        snr=raw.snr if quality else nan, fwhm=raw.fwhm if quality else nan.copy(), quality_available=quality,
        source_format=located.format, source=located.path, quality_source=raw.quality_source,
        negative_voxels=negative, missing_by_slice=dict(raw.missing_by_slice or {}), quality_criteria=criteria,
    )


def _clip_negative(conc: np.ndarray, resolved, raw: RawMaps, located: LocatedSource) -> dict[str, int]:
    """Negative concentrations are clipped to 0 (invalid, like LCModel's "not detected"), with a warning.

    The network super-resolves magnitudes: a negative fit would enter as a positive one.
    Returns the count per canonical name (only those with any).
    """
    counts = {}
    for m, (canonical, name) in enumerate(resolved):
        negative = np.nan_to_num(conc[..., m], nan=0.0) < 0
        if not negative.any():
            continue
        counts[canonical] = count = int(negative.sum())
        slices = ", ".join(str(k + 1) for k in np.flatnonzero(negative.any(axis=(0, 1))))
        where = (raw.files or {}).get(name, located.path)
        warnings.warn(
            f"{where}: {canonical} ({name!r}) has {count} voxel(s) with a negative concentration (slices {slices}); "
            "they are clipped to 0 and masked out as invalid", stacklevel=3,
        )
        conc[..., m][negative] = 0.0
    return counts


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
        "GeometrySource": maps.geometry.origin, "Geometry": maps.geometry_source, "Convention": CONVENTION,
        "QualityCriteria": maps.quality_criteria.as_json() if maps.quality_criteria else None,
        "SpectrometerFrequency": maps.spectrometer_frequency,
        "ValidRule": "present, fit not failed, finite and positive concentration (negative ones clipped to 0)",
        "NegativeVoxels": maps.negative_voxels,
        "MissingFromSlices": {met: {str(z): n for z, n in by_slice.items()} for met, by_slice in
                              maps.missing_by_slice.items()},
    }
    paths["metadata_file"].write_text(json.dumps(metadata, indent=2))
    return paths
