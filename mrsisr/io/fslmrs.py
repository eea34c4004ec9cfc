"""Reader for the output folder of FSL-MRS ``fsl_mrsi``.

``fsl_mrsi`` writes one 3-D NIfTI per metabolite on the MRSI grid::

    concs/{raw,internal,molarity,molality}/<Met>.nii.gz   concentrations, per scaling
    uncertainties/<Met>_sd.nii.gz                        %SD (capped at 999)
    qc/<Met>_fwhm.nii.gz, qc/<Met>_snr.nii.gz            linewidth (Hz) and S/N, single metabolites only

FSL-MRS reports FWHM in **Hz**; mrsisr works in ppm like LCModel, so
:func:`hz_to_ppm` divides by the spectrometer frequency in MHz, given by the caller
or read from a NIfTI-MRS file (:func:`read_spectrometer_frequency`).  Unlike
LCModel, S/N and FWHM are per metabolite: the loader takes them from one
reference metabolite (NAA by default, see :func:`find_fslmrs_maps`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.io.errors import MapLoadingError

__all__ = [
    "FSL_SCALINGS",
    "check_frequency",
    "FSLMRSMapSet",
    "find_fslmrs_maps",
    "find_fslmrsi_folder",
    "fit_frequency",
    "hz_to_ppm",
    "is_fslmrs_folder",
    "read_spectrometer_frequency",
]

#: Scalings ``fsl_mrsi`` may write, in the order ``scaling="auto"`` prefers them: FSL-MRS's own
#: preference (``fsl_mrs_summarise`` shows molality, else internal, else raw).  ``molality`` and
#: ``molarity`` exist only when a water reference was given; ``internal`` is relative to Cr+PCr.
FSL_SCALINGS = ("molality", "molarity", "internal", "raw")
#: Sub-folders of an ``fsl_mrsi`` output that never hold another output (not searched).
_OWN_FOLDERS = {"concs", "uncertainties", "qc", "fit", "nuisance", "misc"}
_NIFTI_MRS_ECODE = 44


@dataclass
class FSLMRSMapSet:
    """Files of one ``fsl_mrsi`` output: dicts metabolite name (as written) -> path."""

    directory: Path
    scaling: str
    conc: dict[str, Path] = field(default_factory=dict)
    sd: dict[str, Path] = field(default_factory=dict)
    fwhm: dict[str, Path] = field(default_factory=dict)
    snr: dict[str, Path] = field(default_factory=dict)


def _stem(path: Path) -> str:
    return path.name.split(".nii")[0]


def is_fslmrs_folder(directory: str | Path) -> bool:
    """Whether ``directory`` is ``fsl_mrsi`` output: ``concs/<scaling>/`` and ``qc/`` (any folder name)."""
    concs = Path(directory) / "concs"
    return concs.is_dir() and (Path(directory) / "qc").is_dir() and any((concs / s).is_dir() for s in FSL_SCALINGS)


def find_fslmrsi_folder(base: str | Path, acquisition: str | None = None) -> Path | None:
    """The ``fsl_mrsi --output`` folder at or under ``base`` (two levels deep), found by its content.

    ``fsl_mrsi --output sub-01/mrsi_fit`` may be given any name; with ``acquisition`` only
    folders whose path below ``base`` carries ``acq-<label>`` count.  None when there is none;
    :class:`MapLoadingError` listing them when several compete.
    """
    base = Path(base)
    if is_fslmrs_folder(base):
        return base
    found = []
    for child in sorted(p for p in base.iterdir() if p.is_dir() and p.name not in _OWN_FOLDERS) if base.is_dir() else []:
        if is_fslmrs_folder(child):
            found.append(child)
            continue
        found += [g for g in sorted(child.iterdir()) if g.is_dir() and is_fslmrs_folder(g)]
    if acquisition is not None:
        found = [p for p in found if f"acq-{acquisition}" in p.relative_to(base).as_posix()]
    if len(found) > 1:
        raise MapLoadingError(
            f"{base} holds several fsl_mrsi outputs ({', '.join(p.relative_to(base).as_posix() for p in found)}); "
            "keep one per subject/session, or name each with acq-<label> and choose one with --acquisition"
        )
    return found[0] if found else None


def fit_frequency(directory: str | Path) -> float | None:
    """The 1H frequency (MHz) recorded in ``fit/fit.nii.gz`` (NIfTI-MRS) of an ``fsl_mrsi`` output, if any."""
    for name in ("fit.nii.gz", "fit.nii"):
        path = Path(directory) / "fit" / name
        if path.is_file():
            try:
                return read_spectrometer_frequency(path)
            except MapLoadingError:
                return None
    return None


def find_fslmrs_maps(directory: str | Path, scaling: str = "auto") -> FSLMRSMapSet:
    """Index an ``fsl_mrsi`` output folder for one concentration ``scaling``."""
    directory = Path(directory)
    if not is_fslmrs_folder(directory):
        raise MapLoadingError(
            f"{directory} is not an fsl_mrsi output folder; expected concs/<scaling>/<Met>.nii.gz "
            f"with scaling one of {', '.join(FSL_SCALINGS)}, and qc/"
        )
    present = [s for s in FSL_SCALINGS if any((directory / "concs" / s).glob("*.nii*"))]
    if scaling == "auto":
        if not present:
            raise MapLoadingError(f"{directory}/concs holds no concentration maps")
        scaling = present[0]
    elif scaling not in present:
        raise MapLoadingError(
            f"{directory}/concs/{scaling} holds no maps; scalings present: {', '.join(present) or 'none'}"
        )
    maps = FSLMRSMapSet(directory=directory, scaling=scaling)
    maps.conc = {_stem(p): p for p in sorted((directory / "concs" / scaling).glob("*.nii*"))}
    for path in sorted((directory / "uncertainties").glob("*_sd.nii*")):
        maps.sd[_stem(path)[: -len("_sd")]] = path
    for kind in ("fwhm", "snr"):
        for path in sorted((directory / "qc").glob(f"*_{kind}.nii*")):
            getattr(maps, kind)[_stem(path)[: -len(kind) - 1]] = path
    return maps


def hz_to_ppm(fwhm_hz: np.ndarray, frequency_mhz: float) -> np.ndarray:
    """Convert a linewidth from Hz to ppm: ``Hz / MHz`` (e.g. 297.2 MHz at 7 T)."""
    check_frequency(frequency_mhz, "spectrometer_frequency")
    return np.asarray(fwhm_hz, dtype=float) / float(frequency_mhz)


def check_frequency(frequency_mhz: float, where: str) -> float:
    """Refuse values that cannot be a proton frequency in MHz (Hz, Tesla or zero given by mistake)."""
    if not 10.0 <= float(frequency_mhz) <= 1500.0:
        raise MapLoadingError(
            f"{where}: spectrometer frequency {frequency_mhz} is not a 1H frequency in MHz "
            "(expected 10-1500, e.g. 123.2 at 3 T, 297.2 at 7 T)"
        )
    return float(frequency_mhz)


def read_spectrometer_frequency(path: str | Path) -> float:
    """The 1H frequency (MHz) of a NIfTI-MRS file, or of a BIDS JSON sidecar beside a NIfTI.

    Looks at the NIfTI-MRS header extension (``SpectrometerFrequency``), then at
    ``<name>.json`` (``SpectrometerFrequency`` or BIDS ``ResonantFrequency``).
    """
    path = Path(path)
    if not path.is_file():
        raise MapLoadingError(f"{path} does not exist; cannot read the spectrometer frequency from it")
    candidates = []
    if ".nii" in path.name:
        try:
            header = nib.load(str(path)).header
            candidates += [json.loads(ext.get_content()) for ext in header.extensions
                           if ext.get_code() == _NIFTI_MRS_ECODE]
        except Exception as exc:  # unreadable image or malformed extension
            raise MapLoadingError(f"{path}: cannot read its NIfTI-MRS header extension: {exc}") from exc
        sidecar = path.with_name(path.name.split(".nii")[0] + ".json")
    else:
        sidecar = path
    if sidecar.is_file():
        try:
            candidates.append(json.loads(sidecar.read_text()))
        except ValueError as exc:
            raise MapLoadingError(f"{sidecar} is not valid JSON: {exc}") from exc
    for meta in candidates:
        for key in ("SpectrometerFrequency", "ResonantFrequency"):
            if key in meta:
                value = meta[key]
                return check_frequency(value[0] if isinstance(value, list) else value, str(path))
    raise MapLoadingError(
        f"{path}: no SpectrometerFrequency in its NIfTI-MRS header or JSON sidecar; "
        "give spectrometer_frequency in MHz (command line: --spectrometer-frequency)"
    )
