"""Exceptions raised by the metabolite-map readers.

All of them derive from :class:`MapLoadingError`, itself a :class:`ValueError`, so a
caller can catch every "this input is not usable" case at once while tests (and
users reading a traceback) still see which kind of problem it was.  Messages always
name the offending file, say what is wrong, and what was expected.
"""

from __future__ import annotations

__all__ = [
    "GeometryError",
    "LCModelFitFailedError",
    "LCModelFormatError",
    "MapLoadingError",
    "MetaboliteNotFoundError",
]


class MapLoadingError(ValueError):
    """An input of the metabolite-map loader is missing, unreadable or inconsistent."""


class LCModelFormatError(MapLoadingError):
    """A file is not (complete) LCModel output: truncated, empty, or from another tool."""


class LCModelFitFailedError(LCModelFormatError):
    """LCModel ran but wrote no concentrations (a FATAL diagnostic: the fit failed)."""


class GeometryError(MapLoadingError):
    """The MRSI grid is missing, malformed, non-square, or disagrees with a map."""


class MetaboliteNotFoundError(MapLoadingError):
    """A requested metabolite is not in the fitting output (the message lists what is)."""
