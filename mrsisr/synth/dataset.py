"""Generate a whole synthetic cohort: the BIDS raw dataset, LCModel derivatives and phantom."""

from __future__ import annotations

from pathlib import Path

from mrsisr.synth import bids
from mrsisr.synth.outputs import FORMATS
from mrsisr.synth.subject import DEFAULT_ACQUIRED_MATRICES, generate_subject


def generate_dataset(
    out_dir: str | Path,
    *,
    subjects: int = 3,
    seed: int = 0,
    slices: int | None = None,
    acquired_matrix: tuple[int, ...] = DEFAULT_ACQUIRED_MATRICES,
    formats: tuple[str, ...] = ("nifti", "csv"),
    tiny: bool = False,
    command: str | None = None,
    share_without_flair: float = 0.0,
    share_3t: float = 0.0,
) -> Path:
    """Write ``subjects`` subjects (labels ``01``…) and the dataset files into ``out_dir``.

    Parameters
    ----------
    out_dir
        Dataset root (created if needed).
    subjects
        Number of subjects; subject ``i`` depends only on ``(seed, i)``.
    seed
        Cohort seed.
    slices
        MRSI slices Z (default 39, or 8 with ``tiny``).
    acquired_matrix
        Low-resolution matrices n (even, 2…64) written besides the 64×64 acquisition.
    formats
        Any of ``nifti``, ``csv``, ``table`` (per-voxel tables: many files).
    tiny
        Small, fast subjects for tests: 2 mm T1w, 2×2×4 mm FLAIR, 8 slices.
    command
        The command line recorded in the README (default: the equivalent CLI call).
    share_without_flair
        Probability that a subject has no FLAIR (default 0: every subject has one).
    share_3t
        Probability of a 3T-like acquisition: coarser MRSI voxels, lower S/N (default 0).
    """
    _validate(subjects, slices, acquired_matrix, formats, (share_without_flair, share_3t))
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    if command is None:
        command = (f"mrsisr-synth {root.name} --subjects {subjects} --seed {seed}"
                   + (f" --slices {slices}" if slices else "")
                   + f" --acquired-matrix {' '.join(map(str, acquired_matrix))}"
                   + f" --formats {','.join(formats)}" + (" --tiny" if tiny else "")
                   + (f" --share-without-flair {share_without_flair:g}" if share_without_flair else "")
                   + (f" --share-3t {share_3t:g}" if share_3t else ""))
    participants = [
        generate_subject(root, index, seed=seed, slices=slices, acquired_matrix=tuple(acquired_matrix),
                         formats=tuple(formats), tiny=tiny, share_without_flair=share_without_flair,
                         share_3t=share_3t)
        for index in range(1, subjects + 1)
    ]
    bids.write_dataset_files(root, participants=participants, command=command)
    return root


def _validate(subjects: int, slices: int | None, acquired_matrix, formats, shares=(0.0, 0.0)) -> None:
    if subjects < 1:
        raise ValueError(f"subjects must be at least 1, got {subjects}")
    if slices is not None and not 1 <= slices <= 64:
        raise ValueError(f"slices must be within 1..64, got {slices}")
    for matrix in acquired_matrix:
        if matrix % 2 or not 2 <= matrix < 64:
            raise ValueError(f"acquired_matrix values must be even and within 2..62, got {matrix}")
    for share in shares:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share_without_flair and share_3t must be within 0..1, got {share}")
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"formats: unknown {sorted(unknown)}; choose from {', '.join(FORMATS)}")
