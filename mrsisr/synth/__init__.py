"""Synthetic 7T glioma MRSI cohorts with their own ground truth (``mrsisr-synth``).

:func:`generate_dataset` writes a BIDS raw dataset (T1w, FLAIR), simulated LCModel outputs
of a 64×64×Z MRSI and of coarser acquisitions under ``derivatives/lcmodel``, and the ground
truth under ``sourcedata/phantom``; :func:`generate_subject` writes one subject. The model
(anatomy, tumour, concentrations, quality and noise) is described in ``MODEL.md`` beside
this file and in each module's docstring.
"""

from mrsisr.synth.dataset import generate_dataset
from mrsisr.synth.subject import generate_subject

__all__ = ["generate_dataset", "generate_subject"]
