"""What is checked before any map is read: the output located, its grid, LCModel's own grid, the frequency.

:func:`prepare_source` is the common first half of :func:`mrsisr.io.loader.load_metabolite_maps`
and :func:`mrsisr.io.inspect.inspect_fitting_output`, so that a ``--validate-only`` run raises
exactly the errors a real run would, from headers and names only:

* the fitting output (:func:`mrsisr.io.discovery.locate_source`);
* the MRSI grid and where it came from (:func:`mrsisr.io.discovery.find_grid`: BIDS ``mrs/``,
  ``geometry.json``, the maps);
* for LCModel, the grid it recorded (``ndrows``/``ndcols``/``ndslic`` of the control file or a
  table's ``$$INPU`` block) against that grid, and the voxels present against LCModel's grid;
* for ``fsl_mrsi``, the 1H frequency that converts its FWHM from Hz to ppm.

:class:`QualityCriteria` records which voxel criteria the output allows (S/N, FWHM, %SD, skull):
the loader writes it into ``metabolites.json`` for the sidecars and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mrsisr.io.discovery import GridSource, find_grid, locate_source, raw_mrsi_of
from mrsisr.io.errors import MapLoadingError
from mrsisr.io.formats import FORMATS, LocatedSource
from mrsisr.io.fslmrs import check_frequency, fit_frequency
from mrsisr.io.geometry import check_in_plane_matrix
from mrsisr.io.lcmodel import find_csi_outputs, read_spreadsheet
from mrsisr.io.lcmodel_grid import LCModelGrid, check_grid, check_voxels, find_lcmodel_grid, spreadsheet_slice
from mrsisr.io.lcmodel_grid import find_control_files, read_lcmodel_grid
from mrsisr.io.nifti import find_nifti_maps
from mrsisr.io.niftimrs import read_raw_grid

__all__ = ["PreparedSource", "QualityBeside", "QualityCriteria", "check_lcmodel_run", "fsl_frequency",
           "prepare_source", "quality_beside"]

@dataclass(frozen=True)
class QualityBeside:
    """S/N and FWHM found beside a fitting output that carries none (see :func:`quality_beside`):
    the LCModel ``tables`` folder of a spreadsheet run, or the ``snr``/``fwhm`` maps of a NIfTI set;
    ``crlb``: whether such a set holds %SD maps."""

    tables: Path | None = None
    snr: Path | None = None
    fwhm: Path | None = None
    crlb: bool = False


def quality_beside(located: LocatedSource) -> QualityBeside:
    """Where the loader finds S/N and FWHM for an output that lacks them: the per-voxel tables beside an
    LCModel spreadsheet, else ``desc-snr``/``desc-fwhm`` NIfTI maps in its folder or the one above.
    The loader reads them; :func:`mrsisr.io.inspect.inspect_fitting_output` only names them."""
    folder = located.path if located.path.is_dir() else located.path.parent
    if located.format == "csv" and any(entry["tables"] for entry in find_csi_outputs(folder).values()):
        return QualityBeside(tables=folder, crlb=True)
    crlb = False
    for candidate in (folder, folder.parent):
        try:
            maps = find_nifti_maps(candidate, located.subject, located.session, located.acquisition,
                                   require_signal=False)
        except MapLoadingError:
            continue
        crlb = crlb or bool(maps.crlb)
        if maps.snr is not None and maps.fwhm is not None:
            return QualityBeside(snr=maps.snr, fwhm=maps.fwhm, crlb=crlb)
    return QualityBeside(crlb=crlb)


#: Relative disagreement above which a given frequency and a file's frequency are refused.
_FREQUENCY_TOLERANCE = 0.005


@dataclass(frozen=True)
class QualityCriteria:
    """Which voxel quality criteria a fitting output allows; ``source``: where S/N and FWHM come from."""

    snr: bool
    fwhm: bool
    crlb: bool
    skull: bool = True
    source: str = ""

    @property
    def names(self) -> list[str]:
        """The applicable criteria, as the report and ``--validate-only`` print them."""
        return [name for name, ok in (("S/N", self.snr), ("FWHM", self.fwhm), ("%SD", self.crlb),
                                      ("skull", self.skull)) if ok]

    def as_json(self) -> dict:
        """The sidecar record (``QualityCriteria`` in ``metabolites.json``)."""
        return {"SNR": self.snr, "FWHM": self.fwhm, "CRLB": self.crlb, "Skull": self.skull,
                "QualitySource": self.source}


@dataclass(frozen=True)
class PreparedSource:
    """A located output with its grid checked: what both the loader and the inspection start from."""

    located: LocatedSource
    grid: GridSource
    lcmodel_grid: LCModelGrid | None = None
    frequency: float | None = None
    frequency_source: str = ""


def _voxels(located: LocatedSource, n_slices: int):
    """``(slice, row, col)`` of every voxel with output, from table names and spreadsheet rows."""
    if located.path.is_file():
        controls = [read_lcmodel_grid(c) for c in find_control_files(located.path.parent)]
        z = spreadsheet_slice(located.path, controls) or (1 if n_slices == 1 else None)
        sheet = read_spreadsheet(located.path)
        return [(z or 1, r, c) for r, c in zip(sheet.rows.tolist(), sheet.cols.tolist())] if z else []
    voxels = []
    for z, entry in find_csi_outputs(located.path).items():
        voxels += [(z, r, c) for r, c in entry["tables"]]
        if entry["csv"] is not None and not entry["tables"]:
            sheet = read_spreadsheet(entry["csv"])
            voxels += [(z, r, c) for r, c in zip(sheet.rows.tolist(), sheet.cols.tolist())]
    return voxels


def check_lcmodel_run(located: LocatedSource, grid: GridSource) -> LCModelGrid | None:
    """LCModel's recorded grid must be the MRSI grid, and every voxel must lie on it (else :class:`GeometryError`)."""
    folder = located.path if located.path.is_dir() else located.path.parent
    recorded = find_lcmodel_grid(folder)
    if recorded is None:
        return None
    check_grid(recorded, grid.geometry)
    check_voxels(recorded, _voxels(located, recorded.slices), located.path)
    return recorded


def fsl_frequency(
    located: LocatedSource, grid: GridSource, given: float | None = None, **where
) -> tuple[float | None, str]:
    """The 1H frequency (MHz) for an ``fsl_mrsi`` output, and the file it came from.

    Files first: the reference image given, ``fit/fit.nii.gz`` (NIfTI-MRS), the raw MRSI in
    BIDS ``mrs/``; ``given`` (``--spectrometer-frequency``) only where none records one, and
    refused when it disagrees with them.  ``(None, "")`` when nothing tells.
    """
    recorded, source = None, ""
    if grid.kind == "reference" and grid.frequency:
        recorded, source = grid.frequency, str(grid.path)
    if recorded is None:
        recorded = fit_frequency(located.path)
        source = str(located.path / "fit" / "fit.nii.gz") if recorded else ""
    if recorded is None:
        raw = raw_mrsi_of(located, **where)
        recorded = read_raw_grid(raw)[1] if raw is not None else None
        source = str(raw) if recorded else ""
    if given is not None:
        given = check_frequency(given, "--spectrometer-frequency")
        if recorded is not None and abs(given - recorded) > _FREQUENCY_TOLERANCE * recorded:
            raise MapLoadingError(
                f"--spectrometer-frequency {given} MHz disagrees with {source}, which records {recorded} MHz; "
                "drop the option (the file's value is used)"
            )
        if recorded is None:
            return given, "--spectrometer-frequency"
    return recorded, source


def prepare_source(
    source: str | Path,
    *,
    source_format: str = "auto",
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
    reference: str | Path | None = None,
    geometry_file: str | Path | None = None,
    grid_shape=None,
    grid_affine=None,
    spectrometer_frequency: float | None = None,
    bids_dir: str | Path | None = None,
    mrsi_filters: dict | None = None,
    layout=None,
) -> PreparedSource:
    """Locate the output, find and check its grid, and (``fsl_mrsi``) its frequency; no map is read.

    Raises the :class:`~mrsisr.io.errors.MapLoadingError` subclasses the loader would.
    """
    located = locate_source(source, source_format, subject, session, acquisition)
    fmt = FORMATS[located.format]
    where = {"bids_dir": bids_dir, "filters": mrsi_filters, "layout": layout}
    grid = find_grid(located, reference, geometry_file, grid_shape, grid_affine,
                     fmt.first_map(located) if fmt.first_map else None,
                     bids_dir=bids_dir, mrsi_filters=mrsi_filters, layout=layout)
    recorded = check_lcmodel_run(located, grid) if fmt.geometry_beside else None
    check_in_plane_matrix(grid.geometry)
    frequency, frequency_source = None, ""
    if located.format == "fsl-mrs":
        frequency, frequency_source = fsl_frequency(located, grid, spectrometer_frequency, **where)
    elif spectrometer_frequency is not None:
        frequency, frequency_source = check_frequency(spectrometer_frequency, "--spectrometer-frequency"), \
            "--spectrometer-frequency"
    elif grid.frequency:
        frequency, frequency_source = grid.frequency, str(grid.path)
    return PreparedSource(located, grid, recorded, frequency, frequency_source)
