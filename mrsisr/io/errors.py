"""Exceptions raised by the metabolite-map readers.

All of them derive from :class:`MapLoadingError`, itself a :class:`ValueError`, so a
caller can catch every "this input is not usable" case at once while tests (and
users reading a traceback) still see which kind of problem it was.  Messages always
name the offending file, say what is wrong, and what was expected.
"""

from __future__ import annotations

__all__ = [
    "GeometryError",
    "ImageError",
    "ImageNotFoundError",
    "LCModelFitFailedError",
    "LCModelFormatError",
    "MapLoadingError",
    "MetaboliteNotFoundError",
]


class MapLoadingError(ValueError):
    """An input (fitting output, map, image) is missing, unreadable or inconsistent."""


class ImageError(MapLoadingError):
    """A NIfTI image is unreadable, of the wrong dimensionality, empty, constant or not finite.

    Raised by the one checked loader, :func:`mrsisr.grid.load_nifti`, for maps and anatomical
    images alike (also importable as ``mrsisr.grid.ImageError``).
    """


class ImageNotFoundError(ImageError, FileNotFoundError):
    """A NIfTI image does not exist (also a :class:`FileNotFoundError`)."""


class LCModelFormatError(MapLoadingError):
    """A file is not (complete) LCModel output: truncated, empty, or from another tool."""


class LCModelFitFailedError(LCModelFormatError):
    """LCModel ran but wrote no concentrations (a FATAL diagnostic: the fit failed)."""


class GeometryError(ImageError):
    """The MRSI grid is missing or malformed, cannot reach the network's square grid, or an image is off its grid."""


class MetaboliteNotFoundError(MapLoadingError):
    """A requested metabolite is not in the fitting output (the message lists what is)."""
