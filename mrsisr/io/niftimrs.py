"""The raw MRSI in BIDS ``mrs/`` (NIfTI-MRS): its grid, its spectrometer frequency, and finding it.

BIDS 1.10 stores raw spectroscopy as NIfTI-MRS under
``sub-X[/ses-Y]/mrs/sub-X[_ses-Y][_acq-L]..._mrsi.nii[.gz]``.  NIfTI-MRS puts the MRSI
grid in spatial dimensions 1-3 (with a normal affine), the spectral points in
dimension 4, and a JSON header extension (code 44) holding ``SpectrometerFrequency``
(MHz, a list) and ``ResonantNucleus``.  The ``nifti-mrs`` package reads and validates
it; this module turns it into an :class:`~mrsisr.io.geometry.MRSIGeometry` plus the
frequency, and matches it to a fitting output by subject, session and acquisition.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.io.errors import GeometryError, MapLoadingError
from mrsisr.io.fslmrs import check_frequency, read_spectrometer_frequency
from mrsisr.io.geometry import MRSIGeometry, geometry_from_nifti
from mrsisr.io.nifti import parse_bids_name

__all__ = ["MRSI_FILTER_KEY", "MRSI_QUERY", "RawMRSI", "find_bids_mrsi", "is_nifti_mrs", "read_nifti_mrs",
           "read_raw_grid"]

#: The pybids query of the raw MRSI (merged with the ``--bids-filter-file`` key :data:`MRSI_FILTER_KEY`).
MRSI_QUERY: dict = {"datatype": "mrs", "suffix": "mrsi", "extension": [".nii", ".nii.gz"]}
#: The ``--bids-filter-file`` key that narrows the raw MRSI query.
MRSI_FILTER_KEY = "mrsi"
#: pybids entity names -> the keys in BIDS file names (for folders read without a layout).
_ENTITY_KEYS = {
    "subject": "sub", "session": "ses", "task": "task", "acquisition": "acq", "nucleus": "nuc",
    "volume": "voi", "reconstruction": "rec", "direction": "dir", "run": "run", "echo": "echo", "inv": "inv",
}
_NIFTI_MRS_ECODE = 44


@dataclass(frozen=True)
class RawMRSI:
    """A validated NIfTI-MRS file: its grid, 1H frequency (MHz), nucleus and spectral points."""

    path: Path
    geometry: MRSIGeometry
    spectrometer_frequency: float
    nucleus: str
    spectral_points: int


def is_nifti_mrs(path: str | Path) -> bool:
    """Whether a NIfTI file declares itself NIfTI-MRS (``mrs_v<M>_<m>`` intent or a code-44 extension)."""
    try:
        header = nib.load(str(path)).header
    except Exception:  # not a NIfTI at all
        return False
    intent = str(header.get_intent()[2])
    return intent.startswith("mrs_v") or _NIFTI_MRS_ECODE in header.extensions.get_codes()


def read_nifti_mrs(path: str | Path) -> RawMRSI:
    """Read and validate a NIfTI-MRS file's header with the ``nifti-mrs`` package (the data are not loaded).

    The header extension (required keys and dimension tags), the complex data type, the
    dwell time and the ``mrs_v<M>_<m>`` intent are validated.

    Raises
    ------
    MapLoadingError
        The file is missing, not NIfTI, not NIfTI-MRS, fails validation, or has no
        usable ``SpectrometerFrequency``; the message names the file.
    """
    from nifti_mrs import validator
    from nifti_mrs.nifti_mrs import NIFTI_MRS, NotNIFTI_MRS

    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"raw MRSI {path} does not exist (or is not a file)")
    if ".nii" not in path.name:
        raise MapLoadingError(f"raw MRSI {path} is not a NIfTI file; expected NIfTI-MRS (.nii or .nii.gz)")
    try:
        image = NIFTI_MRS(str(path))  # fslpy reads the data lazily: raw MRSI can be GBs
        validator.validate_nifti_header(image.header)
    except NotNIFTI_MRS as exc:
        raise MapLoadingError(
            f"{path} is not NIfTI-MRS ({exc}); the raw MRSI in BIDS mrs/ must be NIfTI-MRS "
            "(convert scanner data with spec2nii), or write geometry.json with mrsisr-geometry"
        ) from exc
    except validator.Error as exc:
        raise MapLoadingError(f"{path} is not valid NIfTI-MRS: {exc}") from exc
    except Exception as exc:  # fslpy/nibabel raise several types for unreadable files
        raise MapLoadingError(f"{path} cannot be read as NIfTI-MRS: {exc}") from exc
    if image.ndim < 4:
        raise GeometryError(f"{path}: NIfTI-MRS with {image.ndim} dimensions; expected x, y, z and spectral points")
    try:
        frequency = image.spectrometer_frequency
        nucleus = image.nucleus
    except KeyError as exc:
        raise MapLoadingError(
            f"{path}: its NIfTI-MRS header extension lacks {exc}; expected SpectrometerFrequency (MHz)"
        ) from exc
    if not frequency:
        raise MapLoadingError(f"{path}: its NIfTI-MRS SpectrometerFrequency is empty; expected the frequency in MHz")
    frequency = check_frequency(float(frequency[0]), str(path))
    affine = np.asarray(image.getAffine("voxel", "world"), dtype=float)
    return RawMRSI(
        path=path, geometry=MRSIGeometry(tuple(image.shape[:3]), affine, origin=str(path)),
        spectrometer_frequency=frequency, nucleus=str(nucleus[0]) if nucleus else "",
        spectral_points=int(image.shape[3]),
    )


def read_raw_grid(path: str | Path) -> tuple[MRSIGeometry, float | None]:
    """The grid and 1H frequency (MHz) of a raw MRSI: NIfTI-MRS is validated (:func:`read_nifti_mrs`);
    other NIfTI gives its first three dimensions and the frequency of a code-44 extension or JSON sidecar."""
    try:
        intent = str(nib.load(str(path)).header.get_intent()[2])
    except Exception:  # unreadable: let read_nifti_mrs name the problem
        intent = "mrs_v"
    if intent.startswith("mrs_v"):
        raw = read_nifti_mrs(path)
        return raw.geometry, raw.spectrometer_frequency
    geometry = geometry_from_nifti(path)
    try:
        return geometry, read_spectrometer_frequency(path)
    except MapLoadingError:
        return geometry, None


def _label(value: str | None, prefix: str) -> str | None:
    if value in (None, ""):
        return None
    return value[len(prefix) + 1:] if value.startswith(f"{prefix}-") else value


def _accepts(actual: str | None, wanted) -> bool:
    """pybids-like matching of one entity: a value, a list of values, or None (entity absent)."""
    if wanted is None:
        return actual is None
    if isinstance(wanted, (list, tuple)):
        return any(_accepts(actual, w) for w in wanted)
    if actual is None:
        return False
    if str(actual).isdigit() and str(wanted).isdigit():  # run-01 is run 1, as pybids reads it
        return int(actual) == int(wanted)
    return str(actual) == str(wanted)


def _query_folder(root: Path, query: dict) -> list[Path]:
    """Files of ``root`` matching a pybids-style query, read from the names (no layout)."""
    subject = query.get("subject")
    session = query.get("session")
    folder = root / f"sub-{subject}"
    sessions = [folder / f"ses-{session}"] if isinstance(session, str) else sorted(folder.glob("ses-*")) + [folder]
    hits = []
    for base in sessions:
        for path in sorted((base / "mrs").glob("*.nii*")):
            parsed = parse_bids_name(path.name)
            if parsed is None:
                continue
            entities, suffix = parsed
            extension = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
            if suffix != query["suffix"] or extension not in query["extension"]:
                continue
            ok = all(_accepts(entities.get(_ENTITY_KEYS.get(name, name)), wanted)
                     for name, wanted in query.items() if name not in ("suffix", "extension", "datatype"))
            if ok:
                hits.append(path)
    return hits


def _choice_hint(files: list[Path]) -> str:
    """A ``--bids-filter-file`` example that picks the first of competing files."""
    parsed = [parse_bids_name(p.name) for p in files]
    entities = [p[0] if p else {} for p in parsed]
    reverse = {key: name for name, key in _ENTITY_KEYS.items()}
    for key in ("acq", "run", "rec", "ses", "voi", "nuc", "task", "echo", "inv", "dir"):
        values = {e.get(key) for e in entities}
        if len(values) > 1 and entities[0].get(key) is not None:
            return json.dumps({MRSI_FILTER_KEY: {reverse[key]: entities[0][key]}})
    return json.dumps({MRSI_FILTER_KEY: {"acquisition": "<label>"}})


def find_bids_mrsi(
    root: str | Path | None = None,
    *,
    subject: str,
    session: str | None = None,
    acquisition: str | None = None,
    filters: dict | None = None,
    layout=None,
) -> Path | None:
    """The raw MRSI (BIDS ``mrs/``, suffix ``mrsi``) of one subject/session/acquisition.

    ``filters`` is the ``mrsi`` entry of ``--bids-filter-file`` (pybids entity names,
    e.g. ``{"acquisition": "epsi"}``); it overrides the matched entities.  With a
    pybids ``layout`` the query goes through it, otherwise the ``root`` folder is read.
    ``session``/``acquisition`` left as None accept any value.  Returns None when no
    file matches; raises :class:`MapLoadingError` listing the files when several do.
    """
    if (root is None) == (layout is None):
        raise ValueError("give exactly one of root (a BIDS folder) or layout (a pybids BIDSLayout)")
    query = dict(MRSI_QUERY, subject=_label(subject, "sub"))
    for name, value in (("session", _label(session, "ses")), ("acquisition", _label(acquisition, "acq"))):
        if value is not None:
            query[name] = value
    query.update(filters or {})
    if layout is not None:
        try:
            files = sorted(Path(f) for f in layout.get(return_type="filename", **query))
        except (ValueError, TypeError) as exc:  # pybids refuses unknown entities
            raise MapLoadingError(f"--bids-filter-file key '{MRSI_FILTER_KEY}' {filters}: {exc}") from exc
        where = Path(layout.root)
    else:
        unknown = sorted(set(query) - set(_ENTITY_KEYS) - {"suffix", "extension", "datatype"})
        if unknown:
            raise MapLoadingError(
                f"--bids-filter-file key '{MRSI_FILTER_KEY}' {filters}: unknown entities {unknown}; "
                f"expected some of {sorted(_ENTITY_KEYS)}"
            )
        where = Path(root)
        if not where.is_dir():
            raise MapLoadingError(f"BIDS folder {where} does not exist")
        files = _query_folder(where, query)
    if len(files) > 1:
        listed = ", ".join(str(p.relative_to(where)) if p.is_relative_to(where) else str(p) for p in files)
        raise MapLoadingError(
            f"{len(files)} raw MRSI files in BIDS mrs/ match sub-{query['subject']}"
            + (f" ses-{query['session']}" if isinstance(query.get("session"), str) else "")
            + (f" acq-{query['acquisition']}" if isinstance(query.get("acquisition"), str) else "")
            + f": {listed}; choose one with --bids-filter-file, key '{MRSI_FILTER_KEY}', e.g. {_choice_hint(files)}"
        )
    return files[0] if files else None
