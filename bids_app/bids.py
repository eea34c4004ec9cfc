"""BIDS queries: labels, the anatomical inputs and the LCModel outputs of each subject.

Discovery stays outside the Nipype graph (as in niworkflows' ``collect_data``):
:func:`collect_subjects` returns one :class:`SubjectInputs` per
subject/session, and every refusal (bad label, unknown label, missing input)
is an exception raised before any work starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mrsisr.io.labels import LABEL, LabelError, clean_label
from mrsisr.io.niftimrs import MRSI_FILTER_KEY

__all__ = [
    "InputError",
    "OPTIONAL_QUERIES",
    "LABEL",
    "LabelError",
    "SubjectInputs",
    "QUERIES",
    "acquired_matrix",
    "check_apart",
    "check_output_dir",
    "check_private_work_dir",
    "check_writable_dir",
    "clean_label",
    "collect_subjects",
    "find_acquisitions",
    "load_bids_filters",
    "make_layout",
    "matrix_problem",
]

#: The anatomical inputs, as pybids queries (overridable with ``--bids-filter-file``).
QUERIES: dict[str, dict] = {
    "t1w": {"datatype": "anat", "suffix": "T1w", "extension": [".nii", ".nii.gz"]},
    "flair": {"datatype": "anat", "suffix": "FLAIR", "extension": [".nii", ".nii.gz"]},
}
#: Queries that may find nothing: without a FLAIR the network gets
#: :data:`mrsisr.defaults.FLAIR_SUBSTITUTE`.
OPTIONAL_QUERIES = frozenset({"flair"})
#: Entities that a ``--bids-filter-file`` query may not set: the app sets them from the selection
#: (``--participant-label``/``--session-label``).
_SELECTION_ENTITIES = frozenset({"subject", "session"})


class InputError(ValueError):
    """An input that is missing or unusable (exit code 66)."""


@dataclass(frozen=True)
class SubjectInputs:
    """What one subject/session run reads."""

    subject: str
    session: str | None
    t1w: str
    flair: str
    lcmodel_dir: str
    acquisition: str | None
    acquisitions: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())
    acquired_matrix: int | None = None
    metabolites: tuple[str, ...] = ()
    missing_metabolites: dict = field(default_factory=dict, hash=False)
    geometry_source: str = ""
    quality_maps: bool = False

    @property
    def key(self) -> str:
        """``sub-01`` or ``sub-01_ses-pre`` (used in names, logs and the summary)."""
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")


def check_output_dir(bids_dir: Path, output_dir: Path, what: str = "output directory") -> None:
    """Refuse an output (or working) directory equal to the BIDS directory, containing it, or
    inside it except in a folder under ``derivatives/``."""
    bids_dir, output_dir = bids_dir.resolve(), output_dir.resolve()
    if output_dir == bids_dir:
        raise InputError(f"the {what} {output_dir} is the BIDS directory; the input is never written to")
    if output_dir in bids_dir.parents:
        raise InputError(f"the {what} {output_dir} contains the BIDS directory {bids_dir}; "
                         f"use {bids_dir / 'derivatives' / 'mrsisr'} or a folder beside it")
    if bids_dir in output_dir.parents:
        relative = output_dir.relative_to(bids_dir)
        if relative.parts[0] != "derivatives" or len(relative.parts) < 2:
            raise InputError(
                f"the {what} {output_dir} is inside the BIDS directory {bids_dir}; "
                f"use {bids_dir / 'derivatives' / 'mrsisr'} or a folder outside it"
            )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_apart(path: Path, inputs: dict[str, Path], what: str = "output directory") -> None:
    """Refuse a directory that we write to (``path``) when it is, contains or is inside one of the
    input directories ``inputs`` (option name → folder): the inputs are never written to.

    >>> check_apart(Path("/d/derivatives/mrsisr"), {"--lcmodel-dir": Path("/d/derivatives/lcmodel")})
    >>> try:
    ...     check_apart(Path("/d/derivatives/lcmodel/out"), {"--lcmodel-dir": Path("/d/derivatives/lcmodel")})
    ... except InputError as error:
    ...     print(error)
    the output directory /d/derivatives/lcmodel/out is inside --lcmodel-dir /d/derivatives/lcmodel; the inputs are never written to
    """
    path = path.resolve()
    for option, folder in inputs.items():
        folder = folder.resolve()
        relation = ("is" if path == folder else "is inside" if _inside(path, folder)
                    else "contains" if _inside(folder, path) else None)
        if relation:
            raise InputError(f"the {what} {path} {relation} {option} {folder}; the inputs are never written to")


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(path: Path, what: str = "output directory") -> None:
    """Refuse a path that is a file, or a directory (or the existing folder it would be made in)
    where no file can be created; tried by creating and removing a temporary file, which also
    catches read-only mounts and root's ``os.access`` answers."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"the {what} {path} is a file, not a directory")
    existing = _existing_ancestor(path)
    if not existing.is_dir():
        raise InputError(f"the {what} {path} cannot be created: {existing} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".mrsisr-probe-"):
            pass
    except OSError as error:
        raise InputError(f"the {what} {path} is not writable: cannot create a file in {existing} "
                         f"({error.strerror or error})") from error


def check_private_work_dir(work_dir: Path, output_dir: Path) -> None:
    """Refuse a working directory inside ``OUTPUT_DIR`` or writable by every user.

    Nipype unpickles the ``result_*.pklz`` files of the working directory when it resumes, so
    whoever can write there can run code as the user: it must be private (as fMRIPrep's).
    """
    work_dir, output_dir = Path(work_dir).resolve(), Path(output_dir).resolve()
    if _inside(work_dir, output_dir):
        raise InputError(f"the working directory {work_dir} is inside the output directory {output_dir}; "
                         "give -w a private folder outside it")
    if work_dir.exists() and os.stat(work_dir).st_mode & stat.S_IWOTH:
        raise InputError(f"the working directory {work_dir} is writable by every user; Nipype unpickles "
                         "its files on resume, so it must be private (chmod o-w, or give -w another folder)")


def load_bids_filters(path: Path | None) -> dict:
    """Read a ``--bids-filter-file`` (JSON: ``{"t1w": {"acquisition": "mprage"}, "flair": {...}, "mrsi": {...}}``):
    an object per query whose keys are pybids entities. ``mrsi`` narrows the query of the raw MRSI in
    BIDS ``mrs/`` that gives LCModel outputs their grid (:func:`mrsisr.io.niftimrs.find_bids_mrsi`)."""
    if path is None:
        return {}
    try:
        filters = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"--bids-filter-file {path}: cannot read it as JSON ({error})") from error
    known = {*QUERIES, MRSI_FILTER_KEY}
    unknown = sorted(set(filters) - known) if isinstance(filters, dict) else ["<not an object>"]
    if unknown:
        raise InputError(f"--bids-filter-file {path}: unknown keys {unknown}; expected some of {sorted(known)}")
    from bids.layout.models import Config

    allowed = set(Config.load("bids").entities) - _SELECTION_ENTITIES
    for name, query in filters.items():
        if not isinstance(query, dict):
            raise InputError(f"--bids-filter-file {path}: {name!r} must be an object of entities such as "
                             f'{{"acquisition": "mprage"}}, got {type(query).__name__} {query!r}')
        entities = sorted(set(query) - allowed)
        if entities:
            raise InputError(f"--bids-filter-file {path}: {name!r} names {entities}, which are not pybids "
                             f"entities it may filter on; expected some of {sorted(allowed)}")
    return filters


def make_layout(bids_dir: Path):
    """A pybids layout of the raw dataset (derivatives not indexed, nothing written)."""
    from bids import BIDSLayout

    return BIDSLayout(str(bids_dir), validate=False, derivatives=False)


def find_acquisitions(lcmodel_dir: Path, subject: str, session: str | None) -> list[str]:
    """The ``acq-<label>`` values of a subject's fitting outputs (NIfTI maps and ``lcmodel_acq-*`` folders).

    Sorted numerically where the labels are numbers; an empty list means outputs without ``acq``.
    """
    folder = lcmodel_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")
    found = set()
    if folder.is_dir():
        for path in folder.iterdir():
            match = re.search(r"(?:^|_)acq-([A-Za-z0-9]+)(?:_|$)", path.name.split(".")[0])
            if match and (path.is_dir() or "_mrsi" in path.name):
                found.add(match.group(1))
    return sorted(found, key=lambda a: (not a.isdigit(), int(a) if a.isdigit() else 0, a))


def choose_acquisition(available: list[str], requested: str | None, simulate_matrix: int | None,
                       matrices: dict[str, int] | None = None) -> str | None:
    """The acquisition to process: the requested one; else the lowest-resolution one (the smallest
    in-plane matrix in ``matrices``, read from the files; labels break ties); with
    ``--simulate-matrix``, the highest-resolution one.

    >>> choose_acquisition(["epsi", "press"], None, None, {"epsi": 32, "press": 10})
    'press'
    >>> choose_acquisition(["epsi", "press"], None, 64, {"epsi": 32, "press": 10})
    'epsi'
    """
    if requested is not None:
        if available and requested not in available:
            raise InputError(f"acquisition acq-{requested} not found; available: {', '.join(available)}")
        return requested
    if not available:
        return None
    matrices = matrices or {}
    readable = [a for a in available if a in matrices] or available
    ordered = sorted(readable, key=lambda a: (matrices.get(a, 0), available.index(a)))
    return ordered[-1] if simulate_matrix else ordered[0]


def _matrices(lcmodel_dir: Path, subject: str, session: str | None, available: list[str]) -> dict[str, int]:
    """The in-plane matrix of each acquisition whose grid can be read (the others are left out)."""
    matrices = {}
    for label in available if len(available) > 1 else ():
        try:
            matrices[label] = acquired_matrix(lcmodel_dir, subject, session, label)
        except ValueError:
            continue
    return matrices


def _query(layout, name: str, subject: str, session: str | None, filters: dict) -> list[str]:
    query = dict(QUERIES[name], **filters.get(name, {}))
    query["subject"] = subject
    if session is not None:
        query["session"] = session
    return sorted(layout.get(return_type="file", **query))


def _sessions(layout, subject: str, requested: tuple[str, ...]) -> list[str | None]:
    available = sorted(layout.get_sessions(subject=subject))
    if not available:
        return [None]
    if not requested:
        return list(available)
    return [s for s in requested if s in available]


def acquired_matrix(lcmodel_dir: Path, subject: str, session: str | None, acquisition: str | None) -> int:
    """The in-plane matrix n of a subject's fitting output, read from its grid only (a header or
    ``geometry.json``, not the maps); a :class:`ValueError` from :mod:`mrsisr.io` says what is unusable."""
    import warnings

    from mrsisr.io.discovery import locate_source, resolve_geometry
    from mrsisr.io.formats import FORMATS
    from mrsisr.io.geometry import check_in_plane_matrix

    with warnings.catch_warnings():  # the processing step warns again, where it counts
        warnings.simplefilter("ignore")
        located = locate_source(lcmodel_dir, subject=subject, session=session, acquisition=acquisition)
        first_map = FORMATS[located.format].first_map
        first = first_map(located) if first_map else None
        return check_in_plane_matrix(resolve_geometry(located, first_map=first))


def matrix_problem(acquired: int | None, target_matrix: int, simulate_matrix: int | None) -> str | None:
    """Why ``--target-matrix``/``--simulate-matrix`` cannot serve an acquisition of matrix n, or None."""
    if acquired is None:
        return None
    if simulate_matrix is not None and acquired != target_matrix:
        return (f"--simulate-matrix needs fitting outputs on the {target_matrix}×{target_matrix} target grid, "
                f"these are {acquired}×{acquired} (choose --acquisition or --target-matrix {acquired})")
    if simulate_matrix is None and acquired > target_matrix:
        return f"--target-matrix {target_matrix} is below the acquired matrix {acquired}"
    return None


def collect_subjects(
    layout,
    *,
    lcmodel_dir: Path,
    participant_label: tuple[str, ...] = (),
    session_label: tuple[str, ...] = (),
    filters: dict | None = None,
    acquisition: str | None = None,
    simulate_matrix: int | None = None,
    target_matrix: int | None = None,
    metabolites: tuple[str, ...] = (),
    fsl_scaling: str = "auto",
    spectrometer_frequency: float | None = None,
) -> list[SubjectInputs]:
    """One :class:`SubjectInputs` per selected subject/session.

    Each fitting output is read as the run will (``filters["mrsi"]``, ``fsl_scaling``,
    ``spectrometer_frequency``: ``--bids-filter-file``, ``--fsl-mrs-scaling``, ``--spectrometer-frequency``).

    Raises :class:`LabelError` for labels absent from the dataset (listing the available ones).
    Missing or unusable inputs do not raise: they are listed in ``problems`` (with
    ``target_matrix``, also an output matrix that the acquisition does not allow; with
    ``metabolites``, those the user named that the fitting output lacks) so that
    ``--validate-only`` can report every subject, and the command line refuses them before running.
    """
    filters = filters or {}
    fitting = {"fsl_scaling": fsl_scaling, "spectrometer_frequency": spectrometer_frequency}
    available = sorted(layout.get_subjects())
    unknown = [label for label in participant_label if label not in available]
    if unknown:
        raise LabelError(
            f"participant label(s) {', '.join(unknown)} not found in {layout.root}; "
            f"available: {', '.join(available) or 'none'}"
        )
    if session_label:
        all_sessions = sorted(layout.get_sessions())
        missing = [s for s in session_label if s not in all_sessions]
        if missing:
            raise LabelError(f"session label(s) {', '.join(missing)} not found; "
                             f"available: {', '.join(all_sessions) or 'none'}")
    subjects = []
    for subject in participant_label or available:
        for session in _sessions(layout, subject, session_label):
            item = _collect_one(layout, subject, session, lcmodel_dir, filters, acquisition, simulate_matrix,
                                target_matrix, metabolites, fitting)
            problem = matrix_problem(item.acquired_matrix, target_matrix, simulate_matrix) if target_matrix else None
            subjects.append(dataclasses.replace(item, problems=item.problems + (problem,)) if problem else item)
    return subjects


def _collect_one(layout, subject, session, lcmodel_dir, filters, acquisition, simulate_matrix, target_matrix=None,
                 metabolites=(), fitting=None) -> SubjectInputs:
    fitting = fitting or {}
    problems = []
    found = {}
    for name in QUERIES:
        files = _query(layout, name, subject, session, filters)
        if not files and name in OPTIONAL_QUERIES:
            found[name] = ""  # a T1w-only study: the network gets defaults.FLAIR_SUBSTITUTE
            continue
        if len(files) != 1:
            what = "no" if not files else f"{len(files)}"
            problems.append(f"{what} {QUERIES[name]['suffix']} image(s) found"
                            + ("" if not files else ": narrow with --bids-filter-file"))
        found[name] = files[0] if files else ""
    folder = lcmodel_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")
    available = find_acquisitions(lcmodel_dir, subject, session)
    chosen, matrix, survey = None, None, None
    if not folder.is_dir():
        problems.append(f"no LCModel outputs: {folder} does not exist")
    else:
        try:
            matrices = _matrices(lcmodel_dir, subject, session, available) if acquisition is None else {}
            chosen = choose_acquisition(available, acquisition, simulate_matrix, matrices)
            from mrsisr.bids_app.survey import survey_fitting_output

            survey = survey_fitting_output(lcmodel_dir, subject, session, chosen,
                                           None if simulate_matrix else target_matrix, metabolites,
                                           bids_dir=layout.root, mrsi_filters=filters.get("mrsi"), **fitting)
            matrix = survey.matrix
        except ValueError as error:  # InputError and mrsisr.io's errors
            problems.append(str(error))
    return SubjectInputs(subject=subject, session=session, t1w=found["t1w"], flair=found["flair"],
                         lcmodel_dir=str(lcmodel_dir), acquisition=chosen, acquisitions=tuple(available),
                         problems=tuple(problems), acquired_matrix=matrix,
                         metabolites=survey.found if survey else (),
                         missing_metabolites=dict(survey.missing) if survey else {},
                         geometry_source=survey.geometry if survey else "", quality_maps=bool(survey and survey.quality))
