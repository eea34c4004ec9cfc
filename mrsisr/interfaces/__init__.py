"""Nipype interfaces: every step of the mrsisr pipeline as a node you can drop into your own workflow.

=========================  ==========================================================
``SkullStrip``             T1w brain extraction (FSL BET, or the python BET port)
``CoRegister``             rigid FLAIR→T1w registration (FSL FLIRT, or SimpleITK MI)
``LoadMetaboliteMaps``     LCModel tables/CSV, NIfTI (MRSIPrep) or FSL-MRS maps on the MRSI grid
``QualityFilter``          S/N, FWHM, %SD, failed-fit and skull rejection masks with counts
``SelectSlices``           axial MRSI slices with enough valid brain voxels
``ResampleToMRSIGrid``     T1w/FLAIR onto the MRSI slab at 3× its resolution
``SuperResolve``           the MCM network on every selected slice, metabolite and λ
``ExportSlices``           prepared slices for ``mrsisr-train``
``DerivativesDataSink``    any output under its BIDS-derivative name, written atomically
``RatioMaps``              tCho/NAA, tCho/tCr, NAA/tCr from the super-resolved maps, with masks
``ResampleToT1w``          masked maps from the MRSI grid onto the T1w grid (no zeros leak in)
=========================  ==========================================================

Names are resolved lazily, so importing one node does not import the others' dependencies
(e.g. torch for ``SuperResolve``).
"""

from importlib import import_module

_WHERE = {
    "SkullStrip": "skullstrip",
    "CoRegister": "registration",
    "LoadMetaboliteMaps": "maps",
    "QualityFilter": "quality",
    "SelectSlices": "selection",
    "ResampleToMRSIGrid": "resample",
    "SuperResolve": "superres",
    "ExportSlices": "export",
    "DerivativesDataSink": "bids",
    "RatioMaps": "ratios",
    "ResampleToT1w": "spaces",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
