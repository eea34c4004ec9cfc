"""Find the fitting output of one subject/session/acquisition and the MRSI grid it lives on.

Layout understood under a derivatives folder (``BIDS_DIR/derivatives/lcmodel`` by
default; ``derivatives/mrsi-orig`` for MRSIPrep)::

    sub-XX[/ses-YY]/sub-XX[_ses-YY][_acq-N]_space-orig_met-<Met>_desc-signal_mrsi.nii.gz  (+ crlb, snr, fwhm)
    sub-XX[/ses-YY]/lcmodel_acq-N/[<stem>_]sl<z>_<row>-<col>.table, sl<z>.csv, geometry.json
    sub-XX[/ses-YY]/[<any name>/] (fsl_mrsi output: concs/, uncertainties/, qc/, fit/)

``source`` may be the derivatives folder (then ``subject`` is needed), a subject or
session folder, an ``lcmodel_acq-N`` folder, an ``fsl_mrsi`` folder, a CSI ``.csv``
or one map of a NIfTI set (its folder and entities are used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrsisr.io.errors import GeometryError, MapLoadingError
from mrsisr.io.formats import FORMATS, LocatedSource
from mrsisr.io.geometry import MRSIGeometry, geometry_from_json, geometry_from_nifti
from mrsisr.io.labels import optional_label
from mrsisr.io.nifti import parse_bids_name
from mrsisr.io.niftimrs import MRSI_FILTER_KEY, find_bids_mrsi, read_raw_grid

__all__ = [
    "FORMATS", "GridSource", "LocatedSource", "bids_root_of", "find_grid", "locate_source", "raw_mrsi_of",
    "resolve_geometry", "source_files",
]


def _descend(source: Path, subject: str | None, session: str | None) -> Path:
    """From a derivatives, subject or session folder down to the folder holding the outputs."""
    base = source
    for prefix, label in (("sub", subject), ("ses", session)):
        if label is None:
            continue
        folder = f"{prefix}-{label}"
        if (base / folder).is_dir():
            base = base / folder
        elif base.name != folder and not any(p.name == folder for p in base.parents):
            raise MapLoadingError(f"{base} has no folder {folder}; expected {base / folder}")
    return base


def locate_source(
    source: str | Path,
    source_format: str = "auto",
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
) -> LocatedSource:
    """Decide what to read for one subject/session/acquisition and in which format.

    ``auto`` prefers, in order: an ``fsl_mrsi`` folder, per-voxel tables (they carry
    S/N and FWHM), CSI spreadsheets, NIfTI map sets.
    """
    source = Path(source)
    subject, session = optional_label(subject, "sub"), optional_label(session, "ses")
    acquisition = optional_label(acquisition, "acq")
    if not source.exists():
        raise MapLoadingError(f"source {source} does not exist")
    if source.is_file():
        return _locate_file(source, source_format, subject, session, acquisition)
    base = _descend(source, subject, session)
    if source_format != "auto" and source_format not in FORMATS:
        raise MapLoadingError(f"unknown source format {source_format!r}; expected auto or one of {', '.join(FORMATS)}")
    chosen = FORMATS if source_format == "auto" else {source_format: FORMATS[source_format]}
    for name, fmt in chosen.items():
        path = fmt.detect(base, acquisition, source_format != "auto")
        if path is not None:
            return LocatedSource(name, path, subject, session, acquisition)
    expected = (
        "fsl_mrsi output, LCModel tables/spreadsheets or NIfTI maps" if source_format == "auto"
        else FORMATS[source_format].expected
    )
    raise MapLoadingError(f"{base}: found no metabolite maps; expected {expected}{_level_hint(base)}")


def _level_hint(base: Path) -> str:
    """Point at a missing subject or session choice when ``base`` holds sub-*/ses-* folders."""
    for prefix, option in (("sub", "subject (command line: --participant-label)"),
                           ("ses", "session (command line: --session-label)")):
        labels = sorted(p.name for p in base.glob(f"{prefix}-*") if p.is_dir())
        if labels:
            return f" (it holds {', '.join(labels[:5])}{'...' if len(labels) > 5 else ''}: choose one with {option})"
    return ""


def _locate_file(source: Path, source_format: str, subject, session, acquisition) -> LocatedSource:
    for name, fmt in FORMATS.items():
        path = fmt.detect_file(source) if source_format in ("auto", name) and fmt.detect_file else None
        if path is not None:
            parsed = parse_bids_name(source.name)  # one map of a set: its entities choose the set
            entities = parsed[0] if parsed else {}
            return LocatedSource(
                name, path, subject or entities.get("sub"), session or entities.get("ses"),
                acquisition or entities.get("acq"),
            )
    raise MapLoadingError(
        f"source {source} is a file that the {source_format!r} format cannot read; expected a CSI .csv, "
        "one NIfTI map of a set, or a folder (tables, NIfTI maps, fsl_mrsi output)"
    )


def source_files(
    source: str | Path,
    source_format: str = "auto",
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
    bids_dir: str | Path | None = None,
    mrsi_filters: dict | None = None,
) -> list[Path]:
    """Every file the loader may read for this source: what a cache must watch to notice a re-fit.

    All files under the located output (the file itself for a lone spreadsheet, and its
    folder), the files directly in the folder above (``geometry.json``, quality maps beside
    LCModel runs) and the raw MRSI in BIDS ``mrs/``.  Explicit file inputs (reference,
    geometry file, quality maps) are not included: they are files in their own right.
    """
    located = locate_source(source, source_format, subject, session, acquisition)
    folder = located.path if located.path.is_dir() else located.path.parent
    files = {p for p in folder.rglob("*") if p.is_file()}
    files |= {p for p in folder.parent.iterdir() if p.is_file()}
    try:
        raw = raw_mrsi_of(located, bids_dir=bids_dir, filters=mrsi_filters)
    except MapLoadingError:  # ambiguous: the run itself reports it
        raw = None
    if raw is not None:
        files.add(raw)
    return sorted(files)


def bids_root_of(path: str | Path) -> Path | None:
    """The BIDS dataset a derivatives ``path`` belongs to: the folder holding its ``derivatives/``."""
    path = Path(path)
    return next((p.parent for p in [path, *path.parents] if p.name == "derivatives"), None)


def raw_mrsi_of(
    located: LocatedSource, *, bids_dir: str | Path | None = None, filters: dict | None = None, layout=None
) -> Path | None:
    """The raw MRSI in BIDS ``mrs/`` matching a fitting output by subject, session and acquisition.

    ``bids_dir`` (else the dataset above ``derivatives/``) or a pybids ``layout`` is searched
    with :func:`mrsisr.io.niftimrs.find_bids_mrsi`; ``filters`` is the ``--bids-filter-file``
    key ``mrsi``.  None when no file matches (or no subject is known); several matching files
    raise :class:`MapLoadingError` naming them and how to choose.
    """
    if located.subject is None:
        return None
    root = None
    if layout is None:
        folder = located.path if located.path.is_dir() else located.path.parent
        root = Path(bids_dir) if bids_dir is not None else bids_root_of(folder)
        if root is None or not root.is_dir():
            return None
    return find_bids_mrsi(root, subject=located.subject, session=located.session,
                          acquisition=located.acquisition, filters=filters, layout=layout)


@dataclass(frozen=True)
class GridSource:
    """The MRSI grid and where it came from.

    ``kind``: ``reference``, ``geometry file``, ``explicit``, ``BIDS mrs/``, ``geometry.json``
    or ``maps``; ``path``: the file read (None for explicit values); ``frequency``: the 1H
    frequency (MHz) that file records, when it is a raw MRSI carrying one.
    """

    geometry: MRSIGeometry
    kind: str
    path: Path | None = None
    frequency: float | None = None

    def describe(self) -> str:
        nx, ny, nz = self.geometry.shape
        return f"{nx}x{ny}x{nz} from {self.kind}" + (f" ({self.path})" if self.path else "")


def _no_geometry(located: LocatedSource) -> GeometryError:
    subject = f"sub-{located.subject}" if located.subject else "sub-<label>"
    return GeometryError(
        f"no MRSI geometry for {located.path}: give a reference for its grid. LCModel writes none; mrsisr takes it "
        f"from the raw MRSI in BIDS mrs/ ({subject}/[ses-<label>/]mrs/{subject}[_ses-<label>][_acq-<label>]"
        f"_mrsi.nii.gz, NIfTI-MRS; matched by subject, session and acq, narrowed with --bids-filter-file key "
        f"'{MRSI_FILTER_KEY}'), else from geometry.json beside the LCModel output: write it from the raw MRSI or "
        "any NIfTI on the MRSI grid with `mrsisr-geometry IN.nii.gz geometry.json` (see docs/bids_app.md, "
        "\"Inputs from your scanner\")"
    )


def find_grid(
    located: LocatedSource,
    reference: str | Path | None = None,
    geometry_file: str | Path | None = None,
    shape=None,
    affine=None,
    first_map: Path | None = None,
    *,
    bids_dir: str | Path | None = None,
    mrsi_filters: dict | None = None,
    layout=None,
) -> GridSource:
    """The MRSI grid, from the first of: ``reference``, ``geometry_file``, ``shape`` + ``affine``;
    then for LCModel output the raw MRSI in BIDS ``mrs/`` (:func:`raw_mrsi_of`), else
    ``geometry.json`` beside it (both present: they must agree); for NIfTI/FSL-MRS maps, the
    maps themselves (``first_map``).
    """
    if reference is not None:
        geometry, frequency = read_raw_grid(reference)
        return GridSource(geometry, "reference", Path(reference), frequency)
    if geometry_file is not None:
        return GridSource(geometry_from_json(geometry_file), "geometry file", Path(geometry_file))
    if shape is not None or affine is not None:
        if shape is None or affine is None:
            raise GeometryError("an explicit geometry needs both shape (nx, ny, nz) and affine (4x4)")
        return GridSource(MRSIGeometry(tuple(shape), affine, origin="the explicit shape and affine"), "explicit")
    if not FORMATS[located.format].geometry_beside:
        if first_map is None:
            raise _no_geometry(located)
        return GridSource(geometry_from_nifti(first_map), "maps", Path(first_map))
    folder = located.path if located.path.is_dir() else located.path.parent
    beside = next((p for p in (folder / "geometry.json", folder.parent / "geometry.json") if p.is_file()), None)
    raw = raw_mrsi_of(located, bids_dir=bids_dir, filters=mrsi_filters, layout=layout)
    if raw is not None:
        geometry, frequency = read_raw_grid(raw)
        if beside is not None:
            _check_agree(geometry, geometry_from_json(beside))
        return GridSource(geometry, "BIDS mrs/", raw, frequency)
    if beside is not None:
        return GridSource(geometry_from_json(beside), "geometry.json", beside)
    raise _no_geometry(located)


def _check_agree(raw: MRSIGeometry, beside: MRSIGeometry) -> None:
    """The raw MRSI and a geometry.json beside the fit must describe one grid."""
    if raw.shape != beside.shape or not np.allclose(raw.affine, beside.affine, atol=1e-3):
        raise GeometryError(
            f"the raw MRSI {raw.origin} (grid {list(raw.shape)}, affine {np.round(raw.affine, 3).tolist()}) and "
            f"{beside.origin} (grid {list(beside.shape)}, affine {np.round(beside.affine, 3).tolist()}) disagree; "
            "remove the stale geometry.json or rewrite it with mrsisr-geometry"
        )


def resolve_geometry(located: LocatedSource, reference=None, geometry_file=None, shape=None, affine=None,
                     first_map: Path | None = None, **where) -> MRSIGeometry:
    """The grid of :func:`find_grid` (without its origin record)."""
    return find_grid(located, reference, geometry_file, shape, affine, first_map, **where).geometry
