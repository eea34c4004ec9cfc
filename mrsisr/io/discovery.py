"""Find the fitting output of one subject/session/acquisition and the MRSI grid it lives on.

Layout understood under a derivatives folder (``BIDS_DIR/derivatives/lcmodel`` by
default; ``derivatives/mrsi-orig`` for MRSIPrep)::

    sub-XX[/ses-YY]/sub-XX[_ses-YY][_acq-N]_space-orig_met-<Met>_desc-signal_mrsi.nii.gz  (+ crlb, snr, fwhm)
    sub-XX[/ses-YY]/lcmodel_acq-N/[<stem>_]sl<z>_<row>-<col>.table, sl<z>.csv, geometry.json
    sub-XX[/ses-YY]/ (fsl_mrsi output: concs/, uncertainties/, qc/)

``source`` may be the derivatives folder (then ``subject`` is needed), a subject or
session folder, an ``lcmodel_acq-N`` folder, an ``fsl_mrsi`` folder, a CSI ``.csv``
or one map of a NIfTI set (its folder and entities are used).
"""

from __future__ import annotations

import re
from pathlib import Path

from mrsisr.io.errors import GeometryError, MapLoadingError
from mrsisr.io.formats import FORMATS, LocatedSource
from mrsisr.io.geometry import MRSIGeometry, geometry_from_json, geometry_from_nifti
from mrsisr.io.labels import optional_label
from mrsisr.io.nifti import parse_bids_name

__all__ = ["FORMATS", "LocatedSource", "find_raw_mrsi", "locate_source", "resolve_geometry", "source_files"]


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
    for prefix, option in (("sub", "subject"), ("ses", "session")):
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
    raw = find_raw_mrsi(folder, located.subject, located.session, located.acquisition)
    if raw is not None:
        files.add(raw)
    return sorted(files)


def find_raw_mrsi(path: Path, subject: str | None, session: str | None, acquisition: str | None) -> Path | None:
    """The raw MRSI (BIDS ``mrs/``) of the dataset a derivatives ``path`` belongs to, if unique."""
    if subject is None:
        return None
    root = next((p.parent for p in [path, *path.parents] if p.name == "derivatives"), None)
    if root is None:
        return None
    folder = root / f"sub-{subject}" / (f"ses-{session}" if session else "") / "mrs"
    hits = [p for p in sorted(folder.glob("*_mrsi.nii*"))
            if acquisition is None or re.search(rf"_acq-{re.escape(acquisition)}_", p.name)]
    return hits[0] if len(hits) == 1 else None


def resolve_geometry(
    located: LocatedSource,
    reference: str | Path | None = None,
    geometry_file: str | Path | None = None,
    shape=None,
    affine=None,
    first_map: Path | None = None,
) -> MRSIGeometry:
    """The MRSI grid, from the first of: ``reference``, ``geometry_file``, ``shape`` + ``affine``,
    ``geometry.json`` beside the LCModel output, the maps themselves (NIfTI/FSL-MRS
    sources: ``first_map``), the raw MRSI in BIDS ``mrs/``.
    """
    if reference is not None:
        return geometry_from_nifti(reference)
    if geometry_file is not None:
        return geometry_from_json(geometry_file)
    if shape is not None or affine is not None:
        if shape is None or affine is None:
            raise GeometryError("an explicit geometry needs both shape (nx, ny, nz) and affine (4x4)")
        return MRSIGeometry(tuple(shape), affine, origin="the explicit shape and affine")
    folder = located.path if located.path.is_dir() else located.path.parent
    for candidate in (folder / "geometry.json", folder.parent / "geometry.json"):
        if FORMATS[located.format].geometry_beside and candidate.is_file():
            return geometry_from_json(candidate)
    if first_map is not None:
        return geometry_from_nifti(first_map)
    raw = find_raw_mrsi(folder, located.subject, located.session, located.acquisition)
    if raw is not None:
        return geometry_from_nifti(raw)
    raise GeometryError(
        f"no MRSI geometry for {located.path}: give a reference NIfTI, a geometry file, shape and affine, "
        "or put geometry.json ({'shape': [nx, ny, nz], 'affine': 4x4}) beside the LCModel output"
    )
