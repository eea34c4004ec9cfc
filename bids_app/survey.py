"""What each subject will get, read before any work: the fitting output's grid, metabolites and quality maps.

:func:`survey_fitting_output` reads a subject's fitting output the way the run will (through
:func:`mrsisr.io.loader.load_metabolite_maps`), once per metabolite of the packaged network, so that
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


def _reason(message: str) -> str:
    """The short why of a :class:`MetaboliteNotFoundError` (a combined quantity, else 'not fitted')."""
    marker = "present only as a combined "
    if marker not in message:
        return "not in the fitting output"
    combined = message.split(marker, 1)[1].split(",")[0]
    return f"only as a combined {combined}, not super-resolvable by the packaged model"


def missing_note(missing: dict[str, str]) -> str:
    """``Gly (not in the fitting output); Glu, Gln (only as a combined Glu+Gln ...)`` for logs and tables."""
    by_reason: dict[str, list[str]] = {}
    for name, why in missing.items():
        by_reason.setdefault(why, []).append(name)
    return "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())


def survey_fitting_output(lcmodel_dir: str | Path, subject: str, session: str | None, acquisition: str | None,
                          target_matrix: int | None = None, metabolites: tuple[str, ...] = ()) -> FittingSurvey:
    """Read a subject's fitting output: each of ``metabolites`` (default: the network's) present or missing.

    ``metabolites`` named by the user must all be present (a :class:`ValueError` lists the missing
    ones); by default only none present is an error. With ``target_matrix`` the grid is checked
    against the output grid (:func:`mrsisr.io.geometry.in_plane_embedding`).
    """
    from mrsisr.io.errors import MetaboliteNotFoundError
    from mrsisr.io.geometry import in_plane_embedding
    from mrsisr.io.loader import load_metabolite_maps
    from mrsisr.io.names import canonical_name

    requested = tuple(metabolites) or METABOLITES
    found, missing, loaded = [], {}, None
    with warnings.catch_warnings():  # the processing step warns again, where it counts
        warnings.simplefilter("ignore")
        for name in requested:
            try:
                loaded = load_metabolite_maps(lcmodel_dir, subject=subject, session=session, acquisition=acquisition,
                                              metabolites=[name], require_quality=False)
            except MetaboliteNotFoundError as error:  # named by the user: the whole message, else the short why
                missing[canonical_name(name)] = str(error).strip() if metabolites else _reason(str(error))
                continue
            found.append(loaded.metabolites[0])
    if metabolites and missing:
        raise ValueError("--metabolites names what the fitting output does not have: "
                         + " ".join(missing.values()))
    if loaded is None:
        raise ValueError(f"none of the network's metabolites ({', '.join(requested)}) is in the fitting output "
                         f"under {lcmodel_dir} for sub-{subject}: {missing_note(missing)}")
    geometry = loaded.geometry
    embedding = in_plane_embedding(geometry, target_matrix or max(geometry.shape[:2]))
    return FittingSurvey(found=tuple(found), missing=missing, matrix=embedding.n, shape=tuple(geometry.shape),
                         geometry=geometry.origin or "?", quality=bool(loaded.quality_available),
                         source_format=loaded.source_format)
