"""NIfTI metabolite-map sets (MRSIPrep naming) and checked NIfTI reading and writing.

A map set is a folder of BIDS-like derivatives, one file per quantity::

    sub-X[_ses-Y][_acq-N]_space-orig_met-<Met>_desc-signal_mrsi.nii.gz   concentration
    sub-X[_ses-Y][_acq-N]_space-orig_met-<Met>_desc-crlb_mrsi.nii.gz     %SD (CRLB)
    sub-X[_ses-Y][_acq-N]_space-orig_desc-snr_mrsi.nii.gz                S/N
    sub-X[_ses-Y][_acq-N]_space-orig_desc-fwhm_mrsi.nii.gz               FWHM (ppm)

``<Met>`` is an alphanumeric label (``GPCPCh``, ``CrPCr``, ``NAANAAG``, ``Ins``...),
resolved by :mod:`mrsisr.io.names`.  Map images are read by the one checked loader,
:func:`mrsisr.grid.load_nifti` (existence, readability, dimensionality, the grid,
non-finite values; the file named in every error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.io.errors import MapLoadingError
from mrsisr.io.geometry import MRSIGeometry

__all__ = ["NiftiMapSet", "find_nifti_maps", "parse_bids_name", "save_map"]

_ENTITY = re.compile(r"^(?P<key>[A-Za-z]+)-(?P<value>[A-Za-z0-9]+)$")
_QUALITY_DESCS = ("snr", "fwhm")
_METABOLITE_DESCS = ("signal", "crlb")


@dataclass
class NiftiMapSet:
    """The files of one map set: ``signal``/``crlb`` keyed by the ``met-`` label, quality maps."""

    directory: Path
    signal: dict[str, Path] = field(default_factory=dict)
    crlb: dict[str, Path] = field(default_factory=dict)
    snr: Path | None = None
    fwhm: Path | None = None


def parse_bids_name(name: str) -> tuple[dict[str, str], str] | None:
    """``sub-01_met-NAA_desc-signal_mrsi.nii.gz`` -> ``({"sub": "01", ...}, "mrsi")``; None if not BIDS-like."""
    match = re.match(r"^(?P<stem>.+?)\.nii(?:\.gz)?$", name)
    if match is None:
        return None
    *pairs, suffix = match["stem"].split("_")
    entities = {}
    for pair in pairs:
        entity = _ENTITY.match(pair)
        if entity is None:
            return None
        entities[entity["key"]] = entity["value"]
    return entities, suffix


#: The app's option for each loader argument named in error messages.
_CLI_OPTIONS = {"subject": "--participant-label", "session": "--session-label", "acquisition": "--acquisition"}


def _pick_one(values: set, what: str, directory: Path, option: str) -> None:
    if len(values) > 1:
        raise MapLoadingError(
            f"{directory} holds maps of several {what} ({', '.join(sorted(map(str, values)))}); choose one with {option}"
            + (f" (command line: {_CLI_OPTIONS[option]})" if option in _CLI_OPTIONS else "")
        )


def find_nifti_maps(
    directory: str | Path,
    subject: str | None = None,
    session: str | None = None,
    acquisition: str | None = None,
    space: str | None = "orig",
    require_signal: bool = True,
) -> NiftiMapSet:
    """Collect the map set of one subject/session/acquisition from ``directory``.

    Entities left as None must be unambiguous among the files present.  Files of
    another ``space`` (e.g. MNI) are ignored.  With ``require_signal=False`` a folder
    holding only S/N and FWHM maps is accepted (quality maps beside tables).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MapLoadingError(f"NIfTI map folder {directory} does not exist")
    wanted = {"sub": subject, "ses": session, "acq": acquisition, "space": space}
    files = []
    for path in sorted(directory.glob("*.nii*")):
        parsed = parse_bids_name(path.name)
        if parsed is None or parsed[1] != "mrsi":
            continue
        entities = parsed[0]
        # A file without a space entity is taken as native (MRSI) space.
        if all(value is None or entities.get(key, value if key == "space" else None) == value
               for key, value in wanted.items()):
            files.append((entities, path))
    for key, option in (("sub", "subject"), ("ses", "session"), ("acq", "acquisition")):
        _pick_one({e.get(key) for e, _ in files}, f"'{key}' labels", directory, option)
    maps = NiftiMapSet(directory=directory)
    for entities, path in files:
        desc, met = entities.get("desc"), entities.get("met")
        if desc in _METABOLITE_DESCS and met:
            slot = getattr(maps, desc)
            if met in slot:
                raise MapLoadingError(f"{directory}: two {desc} maps for met-{met}: {slot[met].name}, {path.name}")
            slot[met] = path
        elif desc in _QUALITY_DESCS and not met:
            setattr(maps, desc, path)
    if require_signal and not maps.signal:
        raise MapLoadingError(
            f"{directory} holds no metabolite maps matching {wanted}; expected files named "
            "sub-<X>[_ses-<Y>][_acq-<N>]_space-orig_met-<Met>_desc-signal_mrsi.nii.gz"
        )
    return maps


def save_map(data: np.ndarray, geometry: MRSIGeometry, path: str | Path, dtype=np.float32) -> Path:
    """Write ``data`` (3-D or 4-D, first axes on the MRSI grid) as NIfTI in scanner space."""
    path = Path(path)
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), geometry.affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(geometry.affine, code=1)
    img.set_sform(geometry.affine, code=1)
    nib.save(img, str(path))
    return path
