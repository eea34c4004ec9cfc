"""What a subject will get, told before any work: :func:`inspect_fitting_output`.

The app calls it for every subject before anything runs (and ``--validate-only`` prints one
row per subject from it).  It reads names and headers only: the located output and its files,
the MRSI grid and its source, LCModel's own grid, the metabolite names (aliases resolved), the
quality criteria the output allows and the 1H frequency.  It raises the errors the loader
would raise (:func:`mrsisr.io.preflight.prepare_source`), and a
:class:`~mrsisr.io.errors.MetaboliteNotFoundError` when none of the requested metabolites is
there or when one the user *named* is missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mrsisr import METABOLITES
from mrsisr.io.errors import MetaboliteNotFoundError
from mrsisr.io.formats import FORMATS, LocatedSource, fsl_frequency_missing
from mrsisr.io.fslmrs import find_fslmrs_maps
from mrsisr.io.geometry import MRSIGeometry
from mrsisr.io.lcmodel import find_csi_outputs
from mrsisr.io.lcmodel_grid import LCModelGrid
from mrsisr.io.names import names_match, resolve_metabolite
from mrsisr.io.nifti import find_nifti_maps
from mrsisr.io.preflight import PreparedSource, QualityCriteria, prepare_source, quality_beside
from mrsisr.metabolites import TABLE

__all__ = ["FittingOutputSummary", "inspect_fitting_output"]


@dataclass(frozen=True)
class FittingOutputSummary:
    """What one subject's fitting output offers (see :func:`inspect_fitting_output`).

    ``found``: ``(canonical, name as written)`` of the requested metabolites present;
    ``missing``: requested canonical names absent; ``combined``: ``(quantity, name as
    written, note)`` of combined quantities present that the network cannot super-resolve
    (``Glx`` = Glu+Gln); ``files``: the files that hold the maps (or the folder's key files).
    """

    format: str
    path: Path
    files: tuple[Path, ...]
    shape: tuple[int, int, int]
    zooms: tuple[float, float, float]
    geometry_source: str
    geometry_file: Path | None
    lcmodel_grid: LCModelGrid | None
    found: tuple[tuple[str, str], ...]
    missing: tuple[str, ...]
    combined: tuple[tuple[str, str, str], ...]
    available: tuple[str, ...]
    quality: QualityCriteria
    frequency: float | None
    frequency_source: str = ""
    fsl_scaling: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    geometry: MRSIGeometry | None = None

    @property
    def metabolites(self) -> list[str]:
        """The canonical names to super-resolve (what to hand to the loader)."""
        return [canonical for canonical, _ in self.found]

    def row(self) -> dict[str, str]:
        """One line of the ``--validate-only`` table, as text columns."""
        nx, ny, nz = self.shape
        return {
            "format": self.format + (f" ({self.fsl_scaling})" if self.fsl_scaling else ""),
            "grid": f"{nx}x{ny}x{nz}",
            "geometry": self.geometry_source,
            "metabolites": ", ".join(self.metabolites),
            "missing": ", ".join(self.missing) or "none",
            "not super-resolvable": ", ".join(f"{q} ({w})" for q, w, _ in self.combined) or "none",
            "quality": ", ".join(self.quality.names),
            "frequency": f"{self.frequency:.3f} MHz" if self.frequency else "unknown",
        }


def _combined_present(available: list[str]) -> list[tuple[str, str, str]]:
    """Known combined quantities (rows without an embedding index, e.g. Glx) the output holds."""
    present = []
    for row in TABLE.values():
        if row.index is not None or not row.combines:
            continue
        written = next((n for n in available for c in row.candidates if names_match(n, c)), None)
        if written is not None:
            parts = " and ".join(row.combines)
            present.append((row.name, written, f"{row.name} ({written!r}) is {'+'.join(row.combines)} fitted as one "
                            f"quantity: the packaged model cannot super-resolve it (it knows {parts} separately)"))
    return present


def _map_files(located: LocatedSource, scaling: str) -> tuple[list[Path], str | None]:
    """The files that hold the maps, and the fsl_mrsi scaling read."""
    if located.path.is_file():
        return [located.path], None
    if located.format == "fsl-mrs":
        maps = find_fslmrs_maps(located.path, scaling)
        return list(maps.conc.values()), maps.scaling
    if located.format == "nifti":
        maps = find_nifti_maps(located.path, located.subject, located.session, located.acquisition)
        return list(maps.signal.values()), None
    files = []
    for entry in find_csi_outputs(located.path).values():
        files += list(entry["tables"].values()) if located.format == "table" and entry["tables"] else [entry["csv"]]
    return [f for f in files if f is not None], None


def _quality(prepared: PreparedSource, fsl_quality_metabolite: str, scaling: str, external: bool) -> QualityCriteria:
    """Which criteria the output allows, from names: the loader's rules without reading a map."""
    located = prepared.located
    if external:
        return QualityCriteria(True, True, True, source="the S/N and FWHM maps given")
    if located.format == "table":
        return QualityCriteria(True, True, True, source="LCModel tables ($$MISC)")
    if located.format == "fsl-mrs":
        maps = find_fslmrs_maps(located.path, scaling)
        singles = [n for n in maps.fwhm if n in maps.snr]
        if not singles:
            return QualityCriteria(False, False, bool(maps.sd))
        _, name = resolve_metabolite(fsl_quality_metabolite, singles, where=f"{located.path}/qc (S/N and FWHM)")
        return QualityCriteria(True, True, bool(maps.sd), source=f"fsl_mrsi qc/{name}_snr, qc/{name}_fwhm (Hz)")
    beside = quality_beside(located)
    if beside.tables is not None:
        return QualityCriteria(True, True, True, source=f"LCModel tables in {beside.tables}")
    crlb = located.format == "csv" or beside.crlb
    if beside.snr is not None:
        return QualityCriteria(True, True, crlb, source=f"{beside.snr.name}, {beside.fwhm.name}")
    return QualityCriteria(False, False, crlb)


def inspect_fitting_output(
    source: str | Path,
    *,
    metabolites: Iterable[str] = METABOLITES,
    required: Iterable[str] = (),
    source_format: str = "auto",
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
    reference: str | Path | None = None,
    geometry_file: str | Path | None = None,
    name_overrides: dict[str, str] | None = None,
    fsl_scaling: str = "auto",
    fsl_quality_metabolite: str = "NAA",
    spectrometer_frequency: float | None = None,
    snr_map: str | Path | None = None,
    fwhm_map: str | Path | None = None,
    bids_dir: str | Path | None = None,
    mrsi_filters: dict | None = None,
    layout=None,
) -> FittingOutputSummary:
    """Tell what one subject's fitting output will give, from names and headers (no map is read).

    ``metabolites``: the ones wanted (by default the network's); those absent are listed in
    ``missing``.  ``required``: the ones the user named (``--metabolites``): any of them absent
    raises :class:`MetaboliteNotFoundError`, as does finding none at all.  The other arguments
    are the loader's (:func:`mrsisr.io.loader.load_metabolite_maps`) and raise its errors:
    unlocatable output, no or ambiguous geometry, a grid LCModel disagrees with, a non-square
    grid, an ``fsl_mrsi`` FWHM without a frequency.
    """
    prepared = prepare_source(
        source, source_format=source_format, subject=subject, session=session, acquisition=acquisition,
        reference=reference, geometry_file=geometry_file, spectrometer_frequency=spectrometer_frequency,
        bids_dir=bids_dir, mrsi_filters=mrsi_filters, layout=layout,
    )
    located = prepared.located
    available = FORMATS[located.format].names(located, fsl_scaling)
    where = str(located.path)
    wanted = list(dict.fromkeys([*metabolites, *required]))
    found, missing = [], []
    for name in wanted:
        try:
            found.append(resolve_metabolite(name, available, name_overrides, where))
        except MetaboliteNotFoundError:
            missing.append(name)
    absent_required = [name for name in required if name in missing]
    if absent_required or not found:
        problems = absent_required or wanted
        details = []
        for name in problems:
            try:
                resolve_metabolite(name, available, name_overrides, where)
            except MetaboliteNotFoundError as exc:
                details.append(str(exc))
        lead = ("the metabolites named with --metabolites must all be present" if absent_required
                else "none of the requested metabolites is present")
        raise MetaboliteNotFoundError(f"{where}: {lead}:\n" + "\n".join(details))
    files, scaling = _map_files(located, fsl_scaling)
    quality = _quality(prepared, fsl_quality_metabolite, fsl_scaling, snr_map is not None and fwhm_map is not None)
    if located.format == "fsl-mrs" and quality.fwhm and prepared.frequency is None:
        raise fsl_frequency_missing(located)
    notes = []
    if not (quality.snr and quality.fwhm):
        notes.append(f"{located.format} output carries no S/N or FWHM: only "
                     f"{', '.join(quality.names)} can be applied")
    grid = prepared.grid
    return FittingOutputSummary(
        format=located.format, path=located.path, files=tuple(files), shape=grid.geometry.shape,
        zooms=grid.geometry.zooms, geometry_source=grid.kind, geometry_file=grid.path,
        lcmodel_grid=prepared.lcmodel_grid, found=tuple(found), missing=tuple(missing),
        combined=tuple(_combined_present(available)), available=tuple(available), quality=quality,
        frequency=prepared.frequency, frequency_source=prepared.frequency_source, fsl_scaling=scaling,
        notes=tuple(notes), geometry=grid.geometry,
    )
