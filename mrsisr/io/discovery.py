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
from dataclasses import dataclass
from pathlib import Path

from mrsisr.io.errors import GeometryError, MapLoadingError
from mrsisr.io.fslmrs import is_fslmrs_folder
from mrsisr.io.geometry import MRSIGeometry, geometry_from_json, geometry_from_nifti
from mrsisr.io.labels import optional_label
from mrsisr.io.lcmodel import find_csi_outputs
from mrsisr.io.nifti import parse_bids_name

__all__ = ["FORMATS", "LocatedSource", "find_raw_mrsi", "locate_source", "resolve_geometry"]

#: Source formats, in the order ``auto`` tries them.
FORMATS = ("fsl-mrs", "table", "csv", "nifti")


@dataclass(frozen=True)
class LocatedSource:
    """Where the maps are: ``format``, the ``path`` to read, and the entities used to find it."""

    format: str
    path: Path
    subject: str | None = None
    session: str | None = None
    acquisition: str | None = None


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


def _lcmodel_folder(base: Path, acquisition: str | None) -> Path | None:
    """The folder holding LCModel CSI output: ``base`` itself or one ``lcmodel[_acq-N]`` below it."""
    if find_csi_outputs(base):
        return base
    folders = sorted(p for p in base.glob("lcmodel*") if p.is_dir())
    if acquisition is not None:
        folders = [p for p in folders if p.name.endswith(f"acq-{acquisition}")]
    if len(folders) > 1:
        raise MapLoadingError(
            f"{base} holds several LCModel runs ({', '.join(p.name for p in folders)}); choose one with acquisition"
        )
    return folders[0] if folders and find_csi_outputs(folders[0]) else None


def _has_nifti_maps(base: Path) -> bool:
    return any("desc-signal" in p.name for p in base.glob("*_mrsi.nii*"))


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
    if source_format in ("auto", "fsl-mrs") and is_fslmrs_folder(base):
        return LocatedSource("fsl-mrs", base, subject, session, acquisition)
    lcmodel = _lcmodel_folder(base, acquisition) if source_format in ("auto", "table", "csv") else None
    if lcmodel is not None:
        index = find_csi_outputs(lcmodel)
        has_tables = any(entry["tables"] for entry in index.values())
        fmt = "table" if has_tables and source_format != "csv" else "csv"
        if fmt == "csv" and not any(entry["csv"] for entry in index.values()):
            raise MapLoadingError(f"{lcmodel} holds LCModel tables but no sl<z>.csv spreadsheet")
        if source_format == "table" and not has_tables:
            raise MapLoadingError(f"{lcmodel} holds no per-voxel .table files (only spreadsheets)")
        return LocatedSource(fmt, lcmodel, subject, session, acquisition)
    if source_format in ("auto", "nifti") and _has_nifti_maps(base):
        return LocatedSource("nifti", base, subject, session, acquisition)
    expected = {
        "auto": "fsl_mrsi output, LCModel tables/spreadsheets or NIfTI maps",
        "fsl-mrs": "an fsl_mrsi folder (concs/<scaling>/<Met>.nii.gz)",
        "table": "[<stem>_]sl<z>_<row>-<col>.table files (here or in lcmodel[_acq-N]/)",
        "csv": "sl<z>.csv spreadsheets (here or in lcmodel[_acq-N]/)",
        "nifti": "*_met-<Met>_desc-signal_mrsi.nii.gz maps",
    }[source_format]
    raise MapLoadingError(f"{base}: found no metabolite maps; expected {expected}{_level_hint(base)}")


def _level_hint(base: Path) -> str:
    """Point at a missing subject or session choice when ``base`` holds sub-*/ses-* folders."""
    for prefix, option in (("sub", "subject"), ("ses", "session")):
        labels = sorted(p.name for p in base.glob(f"{prefix}-*") if p.is_dir())
        if labels:
            return f" (it holds {', '.join(labels[:5])}{'...' if len(labels) > 5 else ''}: choose one with {option})"
    return ""


def _locate_file(source: Path, source_format: str, subject, session, acquisition) -> LocatedSource:
    suffix = "".join(source.suffixes[-2:]).lower()
    if source.suffix.lower() == ".csv" and source_format in ("auto", "csv"):
        return LocatedSource("csv", source, subject, session, acquisition)
    if ".nii" in suffix and source_format in ("auto", "nifti"):
        parsed = parse_bids_name(source.name)
        entities = parsed[0] if parsed else {}
        return LocatedSource(
            "nifti", source.parent, subject or entities.get("sub"), session or entities.get("ses"),
            acquisition or entities.get("acq"),
        )
    raise MapLoadingError(
        f"source {source} is a file that the {source_format!r} format cannot read; expected a CSI .csv, "
        "one NIfTI map of a set, or a folder (tables, NIfTI maps, fsl_mrsi output)"
    )


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
        if located.format in ("table", "csv") and candidate.is_file():
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
