"""mrsisr: multi-scale super-resolution of MRSI metabolite maps with adjustable sharpness."""

from mrsisr.metabolites import METABOLITES

__version__ = "0.1.0"

#: Even acquired matrix sizes the networks are trained on (the paper's 16…32).
TRAINED_MATRIX_SIZES: tuple[int, ...] = tuple(range(16, 33, 2))

__all__ = ["METABOLITES", "TRAINED_MATRIX_SIZES", "__version__"]
