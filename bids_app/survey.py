"""What each subject will get, read before any work: the fitting output's grid, metabolites and quality maps.

:func:`survey_fitting_output` reads a subject's fitting output the way the run will, from names and
headers (:func:`mrsisr.io.inspect.inspect_fitting_output`, which raises the loader's errors), so that
``--validate-only`` and the start of every run know which metabolites are there, which are missing
and why (a combined Glu+Gln is not Glu nor Gln), the grid and where it came from, and whether S/N and
FWHM maps exist. Every unusable input is a :class:`ValueError` naming the file, raised before the
skull-strip.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from mrsisr import METABOLITES

__all__ = ["FittingSurvey", "survey_fitting_output", "missing_note"]


@dataclass(frozen=True)
class FittingSurvey:
    """One subject's fitting output as the run will read it.

    ``found``: the network's metabolites present (canonical names, the network's order);
    ``missing``: canonical name → why it is not there; ``matrix``: the network's in-plane n;
    ``shape``: the grid (nx, ny, nz); ``geometry``: where the grid came from; ``quality``: whether
    S/N and FWHM maps exist; ``source_format``: the reader that matched.
    """

    found: tuple[str, ...]
    missing: dict[str, str] = field(default_factory=dict)
    matrix: int = 0
    shape: tuple[int, int, int] = (0, 0, 0)
    geometry: str = ""
    quality: bool = False
    source_format: str = ""


def missing_note(missing: dict[str, str]) -> str:
    """``Gly (not in the fitting output); Glu, Gln (only as a combined Glu+Gln ...)`` for logs and tables."""
    by_reason: dict[str, list[str]] = {}
    for name, why in missing.items():
        by_reason.setdefault(why, []).append(name)
    return "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())


def survey_fitting_output(lcmodel_dir: str | Path, subject: str, session: str | None, acquisition: str | None,
                          target_matrix: int | None = None, metabolites: tuple[str, ...] = (), *,
                          bids_dir: str | Path | None = None, mrsi_filters: dict | None = None,
                          fsl_scaling: str = "auto", spectrometer_frequency: float | None = None) -> FittingSurvey:
    """Read a subject's fitting output from names and headers (:func:`mrsisr.io.inspect.inspect_fitting_output`):
    each of ``metabolites`` (default: the network's) present or missing.

    ``metabolites`` named by the user must all be present; by default only none present is an error
    (both a :class:`ValueError` naming the file). With ``target_matrix`` the grid is checked against the
    output grid (:func:`mrsisr.io.geometry.in_plane_embedding`). ``bids_dir``, ``mrsi_filters``,
    ``fsl_scaling`` and ``spectrometer_frequency`` are the run's (``--bids-filter-file`` key ``mrsi``,
    ``--fsl-mrs-scaling``, ``--spectrometer-frequency``), so the check reads what the run will.
    """
    from mrsisr.io.geometry import in_plane_embedding
    from mrsisr.io.inspect import inspect_fitting_output
    from mrsisr.metabolites import TABLE

    from mrsisr.io.errors import MetaboliteNotFoundError

    with warnings.catch_warnings():  # the processing step warns again, where it counts
        warnings.simplefilter("ignore")
        try:
            summary = inspect_fitting_output(
                lcmodel_dir, metabolites=tuple(metabolites) or METABOLITES, required=tuple(metabolites),
                subject=subject, session=session, acquisition=acquisition, fsl_scaling=fsl_scaling,
                spectrometer_frequency=spectrometer_frequency, bids_dir=bids_dir, mrsi_filters=mrsi_filters)
        except MetaboliteNotFoundError as error:  # one line for the inputs table
            details = " ".join(str(error).split("\n", 1)[-1].split())
            if metabolites:
                raise ValueError(f"--metabolites names what the fitting output does not have: {details}") from error
            raise ValueError(f"none of the network's metabolites ({', '.join(METABOLITES)}) is in the fitting "
                             f"output under {lcmodel_dir} for sub-{subject}: {details}") from error
    combined = {part: quantity for quantity, _, _ in summary.combined for part in TABLE[quantity].combines}
    missing = {name: (f"only as a combined {'+'.join(TABLE[combined[name]].combines)} ({combined[name]}), "
                      "not super-resolvable by the packaged model") if name in combined else "not in the fitting output"
               for name in summary.missing}
    geometry = summary.geometry
    embedding = in_plane_embedding(geometry, target_matrix or max(geometry.shape[:2]))
    return FittingSurvey(found=tuple(summary.metabolites), missing=missing, matrix=embedding.n,
                         shape=tuple(geometry.shape), geometry=summary.geometry_source,
                         quality=bool(summary.quality.snr and summary.quality.fwhm), source_format=summary.format)
