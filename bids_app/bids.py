"""BIDS queries: labels, the anatomical inputs and the LCModel outputs of each subject.

Discovery stays outside the Nipype graph (as in niworkflows' ``collect_data``):
:func:`collect_subjects` returns one :class:`SubjectInputs` per
subject/session, and every refusal (bad label, unknown label, missing input)
is an exception raised before any work starts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mrsisr.io.labels import LABEL, LabelError, clean_label
from mrsisr.io.niftimrs import MRSI_FILTER_KEY

__all__ = [
    "InputError",
    "LABEL",
    "LabelError",
    "SubjectInputs",
    "QUERIES",
    "check_output_dir",
    "clean_label",
    "collect_subjects",
    "find_acquisitions",
    "load_bids_filters",
    "make_layout",
]

#: The anatomical inputs, as pybids queries (overridable with ``--bids-filter-file``).
QUERIES: dict[str, dict] = {
    "t1w": {"datatype": "anat", "suffix": "T1w", "extension": [".nii", ".nii.gz"]},
    "flair": {"datatype": "anat", "suffix": "FLAIR", "extension": [".nii", ".nii.gz"]},
}


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

    @property
    def key(self) -> str:
        """``sub-01`` or ``sub-01_ses-pre`` (used in names, logs and the summary)."""
        return f"sub-{self.subject}" + (f"_ses-{self.session}" if self.session else "")


def check_output_dir(bids_dir: Path, output_dir: Path, what: str = "output directory") -> None:
    """Refuse an output (or working) directory equal to the BIDS directory or inside it,
    except in a folder under ``derivatives/``."""
    bids_dir, output_dir = bids_dir.resolve(), output_dir.resolve()
    if output_dir == bids_dir:
        raise InputError(f"the {what} {output_dir} is the BIDS directory; the input is never written to")
    if bids_dir in output_dir.parents:
        relative = output_dir.relative_to(bids_dir)
        if relative.parts[0] != "derivatives" or len(relative.parts) < 2:
            raise InputError(
                f"the {what} {output_dir} is inside the BIDS directory {bids_dir}; "
                f"use {bids_dir / 'derivatives' / 'mrsisr'} or a folder outside it"
            )


def load_bids_filters(path: Path | None) -> dict:
    """Read a ``--bids-filter-file`` (JSON: ``{"t1w": {...}, "flair": {...}, "mrsi": {...}}``).

    ``mrsi`` narrows the query of the raw MRSI in BIDS ``mrs/`` that gives LCModel outputs their grid
    (:func:`mrsisr.io.niftimrs.find_bids_mrsi`)."""
    if path is None:
        return {}
    try:
        filters = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"--bids-filter-file {path}: cannot read it as JSON ({error})") from error
    known = {*QUERIES, MRSI_FILTER_KEY}
    unknown = sorted(set(filters) - known) if isinstance(filters, dict) else ["<not an object>"]
    if unknown:
        raise InputError(f"--bids-filter-file {path}: unknown keys {unknown}; expected some of {sorted(known)}")
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


def choose_acquisition(available: list[str], requested: str | None, simulate_matrix: int | None) -> str | None:
    """The acquisition to process: the requested one; else the lowest-resolution one (the smallest
    matrix); with ``--simulate-matrix``, the highest-resolution one."""
    if requested is not None:
        if available and requested not in available:
            raise InputError(f"acquisition acq-{requested} not found; available: {', '.join(available)}")
        return requested
    if not available:
        return None
    return available[-1] if simulate_matrix else available[0]


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


def collect_subjects(
    layout,
    *,
    lcmodel_dir: Path,
    participant_label: tuple[str, ...] = (),
    session_label: tuple[str, ...] = (),
    filters: dict | None = None,
    acquisition: str | None = None,
    simulate_matrix: int | None = None,
) -> list[SubjectInputs]:
    """One :class:`SubjectInputs` per selected subject/session.

    Raises :class:`LabelError` for labels absent from the dataset (listing the available ones).
    Missing inputs do not raise: they are listed in ``problems`` so that ``--validate-only``
    can report every subject, and the command line refuses them before running.
    """
    filters = filters or {}
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
            subjects.append(_collect_one(layout, subject, session, lcmodel_dir, filters, acquisition, simulate_matrix))
    return subjects


def _collect_one(layout, subject, session, lcmodel_dir, filters, acquisition, simulate_matrix) -> SubjectInputs:
    problems = []
    found = {}
    for name in QUERIES:
        files = _query(layout, name, subject, session, filters)
        if len(files) != 1:
            what = "no" if not files else f"{len(files)}"
            problems.append(f"{what} {QUERIES[name]['suffix']} image(s) found"
                            + ("" if not files else ": narrow with --bids-filter-file"))
        found[name] = files[0] if files else ""
    folder = lcmodel_dir / f"sub-{subject}" / (f"ses-{session}" if session else "")
    available = find_acquisitions(lcmodel_dir, subject, session)
    chosen = None
    if not folder.is_dir():
        problems.append(f"no LCModel outputs: {folder} does not exist")
    else:
        try:
            chosen = choose_acquisition(available, acquisition, simulate_matrix)
        except InputError as error:
            problems.append(str(error))
    return SubjectInputs(subject=subject, session=session, t1w=found["t1w"], flair=found["flair"],
                         lcmodel_dir=str(lcmodel_dir), acquisition=chosen, acquisitions=tuple(available),
                         problems=tuple(problems))
