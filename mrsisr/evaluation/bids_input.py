"""Prepared slices of a BIDS dataset for ``mrsisr-evaluate``, through the one preparation route."""

from __future__ import annotations

from pathlib import Path

from mrsisr.preparation import PrepareOptions, prepare_bids_subjects
from mrsisr.slices import training_slices_dir

__all__ = ["prepare_from_bids"]


def prepare_from_bids(bids_dir: Path, out_dir: Path, nprocs: int = 2,
                      options: PrepareOptions = PrepareOptions()) -> Path:
    """The prepared slices of every participant of ``bids_dir``, under ``out_dir/derivatives/training/slices``.

    That is where ``mrsisr … participant --export-slices`` writes them, so slices already there (from
    either) are reused; the others are prepared by :func:`mrsisr.preparation.prepare_bids_subject` from
    the high-resolution maps (the exported slices are the N×N maps themselves, which the evaluation
    truncates to every requested n). Raises ``RuntimeError`` if nothing could be prepared.
    """
    slices_dir = training_slices_dir(Path(out_dir) / "derivatives")
    available = sorted(p.name[4:] for p in Path(bids_dir).glob("sub-*") if p.is_dir())
    done = {p.name.split("_")[0][4:] for p in slices_dir.glob("sub-*_slices.npz")}
    todo = [label for label in available if label not in done]
    failures = [f"sub-{subject}: {outcome}" for subject, outcome, _ in
                prepare_bids_subjects(bids_dir, todo, slices_dir, options, nprocs=nprocs)
                if outcome.startswith("FAILED")]
    if not any(slices_dir.glob("*_slices.npz")):
        raise RuntimeError(f"no participant of {bids_dir} could be prepared: {'; '.join(failures) or 'none found'}")
    return slices_dir
