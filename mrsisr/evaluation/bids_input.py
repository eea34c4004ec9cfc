"""Prepared slices of a BIDS dataset for ``mrsisr-evaluate``: run (or reuse) the participant level."""

from __future__ import annotations

from pathlib import Path

__all__ = ["prepare_from_bids"]


def prepare_from_bids(bids_dir: Path, out_dir: Path, device: str = "auto", nprocs: int = 2) -> Path:
    """The ``training/slices`` folder of ``mrsisr BIDS_DIR OUT_DIR participant --export-slices``.

    Participants whose slices are already there are reused; the others are processed (high-resolution
    maps, python or FSL backends as available). Raises ``RuntimeError`` if nothing could be prepared.
    """
    from mrsisr.bids_app.cli import main as app
    from mrsisr.bids_app.group import training_slices_dir

    out_dir = Path(out_dir)
    slices_dir = training_slices_dir(out_dir / "derivatives")
    available = sorted(p.name[4:] for p in Path(bids_dir).glob("sub-*") if p.is_dir())
    done = {p.name.split("_")[0][4:] for p in slices_dir.glob("sub-*_slices.npz")}
    todo = [label for label in available if label not in done]
    if todo:
        # The simulated n only names the participant level's SR outputs; the exported slices are the
        # N×N maps themselves, which the evaluation truncates to every requested n.
        code = app([str(bids_dir), str(out_dir / "derivatives"), "participant", "--simulate-matrix", "16",
                    "--export-slices", "--skip-bids-validation", "--no-reports", "--device", device,
                    "-w", str(out_dir / "work"), "--nprocs", str(nprocs), "--participant-label", *todo])
        if code not in (0, 1):
            raise RuntimeError(f"the participant level on {bids_dir} failed with exit code {code}")
    if not any(slices_dir.glob("*_slices.npz")):
        raise RuntimeError(f"no participant of {bids_dir} could be prepared (see {out_dir / 'work'})")
    return slices_dir
