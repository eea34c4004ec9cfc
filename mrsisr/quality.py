"""Quality filtering of metabolite maps and selection of axial MRSI slices: the algorithms.

The Nipype nodes :class:`~mrsisr.interfaces.quality.QualityFilter` and
:class:`~mrsisr.interfaces.selection.SelectSlices` are thin wrappers over
:func:`filter_quality_files` and :func:`select_slices_file`; ``mrsisr-prepare`` calls the same
functions (DESIGN.md §1, §3):

* :func:`quality_mask` rejects voxels whose spectrum is not trustworthy
  (low S/N, wide line, high %SD, failed fit) or that lie at the skull
  (lipid contamination), with counts per reason.
* :func:`select_slices` keeps the axial slices (third voxel axis ``k``) with
  enough valid brain voxels.
File conventions: every map is a NIfTI image on the MRSI grid. Per-voxel
measures (S/N, FWHM) are 3-D; per-metabolite measures (%SD, fit validity,
concentrations) are 4-D with the metabolite on the last axis in the order of
the ``metabolites`` input, or 3-D when one map applies to every metabolite.
The brain mask is on any grid in the same scanner space (usually the 1 mm
T1w grid); nonzero means brain.

The counting rule: each voxel is tested against every criterion
independently, so a voxel failing several criteria is counted under each of
them, and once under ``rejected``; ``kept = total − rejected``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.defaults import FWHM_MAX_PPM, MIN_VALID_FRACTION, SNR_MIN
from mrsisr.grid import brain_mask_on_grid, check_same_grid, load_image

__all__ = ["COUNT_COLUMNS", "ERODE_MM", "REASONS", "QualityResult", "erosion_voxels", "filter_quality_files",
           "quality_mask", "select_slices", "select_slices_file", "write_tsv"]

#: Default skull rim removed by the quality filter (one voxel of the paper's 3.4 mm grid).
ERODE_MM = 3.4

#: Rejection reasons, in the column order of the counts table.
REASONS = ("outside_brain", "low_snr", "wide_fwhm", "high_crlb", "failed_fit")

COUNT_COLUMNS = {
    "metabolite": "Metabolite name (order of the 4th axis of the mask).",
    "total": "Number of voxels on the MRSI grid (nx*ny*nz).",
    "outside_brain": "Voxels outside the brain mask brought onto the MRSI grid "
    "(brain fraction below BrainFractionMin) or removed by the erosion (at the skull).",
    "low_snr": "Voxels with S/N < SNRMin, or S/N not finite.",
    "wide_fwhm": "Voxels with FWHM > FWHMMax (ppm), or FWHM not finite.",
    "high_crlb": "Voxels with %SD > CRLBMax, or %SD not finite; n/a when the criterion is off.",
    "failed_fit": "Voxels whose fit is marked invalid, or whose concentration is not finite.",
    "negative": "Of the failed_fit voxels: those whose concentration was negative in the fitting output "
    "(clipped to 0 = invalid by the loader); n/a without the loader's metadata.",
    "absent_from_output": "Of the failed_fit voxels: those of slices whose fitting output lacks this metabolite "
    "although other slices have it; n/a without the loader's metadata.",
    "rejected": "Voxels failing at least one criterion (a voxel failing several "
    "criteria is counted under each of them, and once here).",
    "kept": "Voxels kept (total - rejected).",
}


def _volume(data: np.ndarray | None, index: int) -> np.ndarray | None:
    """Metabolite ``index`` of a 4-D map, or the 3-D map itself (applies to all)."""
    if data is None or data.ndim == 3:
        return data
    return data[..., index]


def _fails_above(values: np.ndarray, bound: float) -> np.ndarray:
    """``values > bound``, with non-finite values failing."""
    with np.errstate(invalid="ignore"):
        return ~(np.isfinite(values) & (values <= bound))


@dataclass
class QualityResult:
    """Output of :func:`quality_mask`: ``mask`` (x, y, z, M) bool, ``counts`` one dict per metabolite."""

    mask: np.ndarray
    counts: list[dict]


def quality_mask(
    *,
    metabolites: list[str],
    snr: np.ndarray,
    fwhm: np.ndarray,
    brain: np.ndarray,
    crlb: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    conc: np.ndarray | None = None,
    snr_min: float = SNR_MIN,
    fwhm_max: float = FWHM_MAX_PPM,
    crlb_max: float | None = None,
    apply_snr_fwhm: bool = True,
) -> QualityResult:
    """Voxel-wise quality mask per metabolite, with counts per rejection reason.

    A voxel of metabolite ``m`` is kept when all of these hold (bounds
    inclusive, i.e. S/N = ``snr_min`` and FWHM = ``fwhm_max`` are kept, as in
    the paper's "rejected when S/N < 2.5 or FWHM > 0.15 ppm"):

    * ``brain``: inside the MRSI-grid brain mask (:func:`brain_mask_on_grid`);
    * ``snr ≥ snr_min`` and ``fwhm ≤ fwhm_max`` (ppm); NaN/±Inf S/N or FWHM
      (LCModel wrote nothing there) fail the criterion;
    * ``crlb ≤ crlb_max`` (%SD) when ``crlb_max`` is given; non-finite fails;
    * ``valid`` nonzero and ``conc`` finite, when given (failed fits).

    ``apply_snr_fwhm`` False (the fit carries no S/N or FWHM, e.g. an LCModel spreadsheet):
    those two criteria are not applied and counted ``n/a``.

    Every array is (x, y, z) or (x, y, z, M) with M = ``len(metabolites)``;
    3-D arrays apply to every metabolite. Shapes are assumed checked.

    >>> snr = np.array([[[1.0, 2.5, 9.0, np.nan]]]); fwhm = np.full(snr.shape, 0.1)
    >>> r = quality_mask(metabolites=["NAA"], snr=snr, fwhm=fwhm, brain=np.ones(snr.shape, bool))
    >>> r.mask[..., 0].ravel().tolist(), r.counts[0]["low_snr"], r.counts[0]["kept"]
    ([False, True, True, False], 2, 2)
    """
    if crlb_max is not None and crlb is None:
        raise ValueError("crlb_max is set but no %SD (CRLB) map was given")
    shape = snr.shape[:3]
    mask = np.zeros(shape + (len(metabolites),), dtype=bool)
    with np.errstate(invalid="ignore"):
        low_snr = ~(np.isfinite(snr) & (snr >= snr_min)) if apply_snr_fwhm else None
    wide_fwhm = _fails_above(fwhm, fwhm_max) if apply_snr_fwhm else None
    counts = []
    for index, name in enumerate(metabolites):
        reasons = {
            "outside_brain": ~brain,
            "low_snr": _volume(low_snr, index),
            "wide_fwhm": _volume(wide_fwhm, index),
            "high_crlb": None,
            "failed_fit": np.zeros(shape, dtype=bool),
        }
        if crlb_max is not None:
            reasons["high_crlb"] = _fails_above(_volume(crlb, index), crlb_max)
        if valid is not None:
            reasons["failed_fit"] |= _volume(valid, index) == 0
        if conc is not None:
            reasons["failed_fit"] |= ~np.isfinite(_volume(conc, index))
        rejected = np.zeros(shape, dtype=bool)
        row: dict = {"metabolite": name, "total": int(np.prod(shape))}
        for reason in REASONS:
            fails = reasons[reason]
            row[reason] = "n/a" if fails is None else int(np.count_nonzero(fails))
            if fails is not None:
                rejected |= fails
        row["rejected"] = int(np.count_nonzero(rejected))
        row["kept"] = row["total"] - row["rejected"]
        mask[..., index] = ~rejected
        counts.append(row)
    return QualityResult(mask=mask, counts=counts)


def _add_loader_counts(rows: list[dict], metadata_file: str | None) -> None:
    """The loader's counts (``NegativeVoxels``, ``MissingFromSlices`` of ``metabolites.json``) as
    columns ``negative`` and ``absent_from_output`` of the counts rows, in place (``n/a`` without it)."""
    metadata = json.loads(Path(metadata_file).read_text()) if metadata_file else None
    for row in rows:
        if metadata is None:
            row["negative"] = row["absent_from_output"] = "n/a"
            continue
        row["negative"] = int(metadata.get("NegativeVoxels", {}).get(row["metabolite"], 0))
        row["absent_from_output"] = int(sum(metadata.get("MissingFromSlices", {}).get(row["metabolite"], {}).values()))


def write_tsv(rows: list[dict], path: str | Path, sidecar: dict | None = None) -> Path:
    """Write dict rows as a BIDS-style TSV (tab-separated, header, ``n/a``) plus a JSON sidecar."""
    path = Path(path)
    columns = list(rows[0])
    lines = ["\t".join(columns)]
    lines += ["\t".join(str(row[c]) for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    if sidecar is not None:
        path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return path


def _load_per_metabolite(path, what: str, n_metabolites: int, grid=None, *, allow_nonfinite: bool):
    """Load a 3-D or 4-D map, check its grid against ``grid`` (shape, affine, name)
    when given, and its 4th axis against the number of metabolites M."""
    data, affine = load_image(path, what, ndims=(3, 4), allow_nonfinite=allow_nonfinite)
    if grid is not None:
        check_same_grid(data.shape, affine, f"{what} {path}", *grid)
    if data.ndim == 4 and data.shape[3] != n_metabolites:
        raise ValueError(
            f"{what} {path} has {data.shape[3]} volumes but {n_metabolites} metabolites "
            "were given; expected one volume per metabolite (last axis) or a 3-D map"
        )
    return data, affine


def erosion_voxels(affine: np.ndarray, erode_mm: float = ERODE_MM) -> int:
    """Whole in-plane voxels of a grid closest to ``erode_mm`` (3.4 mm: 1 at 3.4 and 6.8 mm, 0 at 13.6 mm).

    >>> erosion_voxels(np.diag([3.4, 3.4, 3.4, 1])), erosion_voxels(np.diag([13.6, 13.6, 3.4, 1]))
    (1, 0)
    """
    in_plane = float(np.min(np.linalg.norm(np.asarray(affine)[:3, :2], axis=0)))
    return int(np.floor(erode_mm / in_plane + 0.5))


def filter_quality_files(
    *,
    metabolites: list[str],
    snr_file: str,
    fwhm_file: str,
    brain_mask: str,
    out_dir: str | Path,
    sd_file: str | None = None,
    valid_file: str | None = None,
    in_file: str | None = None,
    snr_min: float = SNR_MIN,
    fwhm_max: float = FWHM_MAX_PPM,
    crlb_max: float | None = None,
    brain_fraction_min: float = 0.5,
    erode_voxels: int | None = None,
    erode_mm: float = ERODE_MM,
    erode_in_plane: bool = False,
    apply_snr_fwhm: bool = True,
    metadata_file: str | None = None,
) -> dict[str, str]:
    """File-level quality filter (what :class:`~mrsisr.interfaces.quality.QualityFilter` runs); returns the output paths.

    The S/N map defines the MRSI grid; every other map must share it. The skull rim removed is
    ``erode_voxels`` voxels when given, else ``erode_mm`` in whole in-plane voxels of this grid
    (rounded to nearest: 1 voxel at 3.4 mm and 6.8 mm, none at 13.6 mm), so that a coarse
    acquisition does not lose a 13.6 mm rim of brain. ``metadata_file``: the loader's
    ``metabolites.json``, whose counts of negative and absent voxels become columns of the table.
    """
    if not metabolites:
        raise ValueError("metabolites: at least one metabolite name is needed")
    n_met = len(metabolites)
    snr, affine = _load_per_metabolite(snr_file, "S/N map", n_met, allow_nonfinite=True)
    grid = (snr.shape, affine, f"S/N map {snr_file}")

    def load(path, what, allow_nonfinite=True):
        return _load_per_metabolite(path, what, n_met, grid, allow_nonfinite=allow_nonfinite)[0]

    fwhm = load(fwhm_file, "FWHM map")
    for data, what, path in ((snr, "S/N map", snr_file), (fwhm, "FWHM map", fwhm_file)):
        if apply_snr_fwhm and not np.isfinite(data).any():
            raise ValueError(
                f"{what} {path} has no finite value: the fit output carried no {what[:-4]} "
                "(LoadMetaboliteMaps: quality_available is False), so the criterion cannot be applied"
            )
    crlb = valid = conc = None
    if sd_file:
        crlb = load(sd_file, "%SD (CRLB) map")
    if valid_file:
        valid = load(valid_file, "fit-validity mask", allow_nonfinite=False)
    if in_file:
        conc = load(in_file, "concentration map")
    mask, mask_affine = load_image(brain_mask, "brain mask")
    if not np.any(mask):
        raise ValueError(f"brain mask {brain_mask} is empty (no nonzero voxel)")
    shape = snr.shape[:3]
    if erode_voxels is None:
        erode_voxels = erosion_voxels(affine, erode_mm)
    fraction, brain = brain_mask_on_grid(
        mask, mask_affine, shape, affine, min_fraction=brain_fraction_min,
        erode_voxels=erode_voxels, erode_in_plane=erode_in_plane,
    )
    if not brain.any():
        raise ValueError(
            f"brain mask {brain_mask} covers no voxel of the MRSI grid of {snr_file} "
            f"(largest brain fraction {float(fraction.max()):.2f}, threshold {brain_fraction_min}, "
            f"erosion {erode_voxels}); check that both are in the same scanner space"
        )
    result = quality_mask(
        metabolites=metabolites, snr=snr, fwhm=fwhm, brain=brain, crlb=crlb, valid=valid,
        conc=conc, snr_min=snr_min, fwhm_max=fwhm_max, crlb_max=crlb_max, apply_snr_fwhm=apply_snr_fwhm,
    )
    out_dir = Path(out_dir)
    outputs = {
        "mask_file": out_dir / "quality_mask.nii.gz",
        "brain_mask_mrsi": out_dir / "brain_mask_mrsi.nii.gz",
        "brain_fraction_file": out_dir / "brain_fraction_mrsi.nii.gz",
        "counts_file": out_dir / "quality_counts.tsv",
    }
    for key, data in (("mask_file", result.mask), ("brain_mask_mrsi", brain)):
        img = nib.Nifti1Image(data.astype(np.uint8), affine)
        img.header.set_data_dtype(np.uint8)
        nib.save(img, outputs[key])
    nib.save(nib.Nifti1Image(fraction.astype(np.float32), affine), outputs["brain_fraction_file"])
    sidecar = {key: {"Description": text} for key, text in COUNT_COLUMNS.items()}
    sidecar["Parameters"] = {
        "SNRMin": snr_min, "FWHMMax": fwhm_max, "FWHMUnits": "ppm", "CRLBMax": crlb_max,
        "BrainFractionMin": brain_fraction_min, "ErodeVoxels": erode_voxels,
        "ErodeInPlane": erode_in_plane, "Metabolites": list(metabolites),
        "CriteriaApplied": ["S/N", "FWHM"] * apply_snr_fwhm + ["%SD"] * (crlb_max is not None) + ["skull"],
        "Sources": [str(f) for f in (snr_file, fwhm_file, sd_file, valid_file, in_file, brain_mask) if f],
    }
    _add_loader_counts(result.counts, metadata_file)
    write_tsv(result.counts, outputs["counts_file"], sidecar)
    return {key: str(path) for key, path in outputs.items()}


def select_slices(
    valid: np.ndarray,
    *,
    min_valid_fraction: float | None = MIN_VALID_FRACTION,
    min_slice_fraction: float | None = None,
    max_slices: int | None = None,
    source: str = "quality mask",
) -> tuple[list[int], list[dict]]:
    """Choose the axial slices (third voxel axis ``k``, 0-based) with enough valid brain voxels.

    Two rules, each applied when given: ``min_slice_fraction`` keeps slice k when its valid voxels
    reach that fraction of the fullest slice's (relative to the brain's extent on the grid, so it
    holds at any field of view: the app's default, :data:`mrsisr.defaults.MIN_SLICE_FRACTION`);
    ``min_valid_fraction`` keeps it when ``valid_fraction[k] = (valid voxels in slice k) / (nx·ny)``
    reaches that fraction of the whole matrix (``--min-valid-fraction``). With ``max_slices``,
    only the ``max_slices`` qualifying slices with the most valid voxels are kept (ties: lower
    ``k``). Returns ``(slices, rows)``: the kept indices in increasing order, and one row per slice
    (``slice``, ``n_valid``, ``valid_fraction``, ``selected``) for the table.

    Why 0.30 of the in-plane matrix: on the MNI152 brain mask brought onto a
    whole-brain 64×64×39 grid of 3.4 mm (217.6 mm field of view, centred on
    the brain, 1 voxel eroded), the largest slice holds 40 % of the matrix and
    0.30 keeps 18 slices (the slab shifted by ±10 mm: 18); with 15 % of the
    voxels rejected at random by the quality criteria, 13–14 — the paper's
    11–18. The fraction is of the whole matrix, so on a larger field of view
    (a 240 mm 3T grid) it drops brain slices: there the relative rule holds.

    >>> valid = np.zeros((10, 10, 4), bool); valid[:, :3, 1] = True; valid[:, :5, 2] = True
    >>> select_slices(valid)[0]
    [1, 2]
    >>> select_slices(valid, max_slices=1)[0]
    [2]
    >>> select_slices(valid, min_valid_fraction=None, min_slice_fraction=0.7)[0]
    [2]

    Raises ``ValueError`` naming ``source``, the best slice and the threshold
    when no slice qualifies.
    """
    if valid.ndim != 3:
        raise ValueError(f"{source}: expected a 3-D mask, got shape {valid.shape}")
    for name, value in (("min_valid_fraction", min_valid_fraction), ("min_slice_fraction", min_slice_fraction)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if max_slices is not None and max_slices < 1:
        raise ValueError(f"max_slices must be ≥ 1, got {max_slices}")
    n_valid = np.count_nonzero(valid, axis=(0, 1))
    fraction = n_valid / float(valid.shape[0] * valid.shape[1])
    keep = n_valid > 0
    if min_valid_fraction is not None:
        keep &= fraction >= min_valid_fraction
    if min_slice_fraction is not None:
        keep &= n_valid >= min_slice_fraction * n_valid.max()
    qualifying = np.flatnonzero(keep)
    if qualifying.size == 0:
        best = int(np.argmax(n_valid))
        rule = (f"a valid-voxel fraction ≥ {min_valid_fraction:g} of the {valid.shape[0]}×{valid.shape[1]} matrix"
                if min_valid_fraction is not None else "any valid voxel")
        raise ValueError(
            f"{source}: no axial slice has {rule}; the best is slice k={best} "
            f"with {fraction[best]:.3f} ({n_valid[best]} valid voxels). Check the quality "
            "mask (S/N, FWHM, brain mask, co-registration) or lower min_valid_fraction."
        )
    if max_slices is not None and qualifying.size > max_slices:
        ranked = sorted(qualifying, key=lambda k: (-n_valid[k], k))
        qualifying = np.array(sorted(ranked[:max_slices]))
    slices = [int(k) for k in qualifying]
    rows = [
        {"slice": k, "n_valid": int(n_valid[k]), "valid_fraction": round(float(fraction[k]), 6),
         "selected": str(k in slices).lower()}
        for k in range(valid.shape[2])
    ]
    return slices, rows


def select_slices_file(
    mask_file: str, out_file: str | Path, *, combine: str = "any",
    min_valid_fraction: float | None = MIN_VALID_FRACTION, min_slice_fraction: float | None = None,
    max_slices: int | None = None,
) -> tuple[list[int], Path]:
    """File-level slice selection (what :class:`~mrsisr.interfaces.selection.SelectSlices` runs): table + sidecar with the rule."""
    mask, _ = load_image(mask_file, "quality mask", ndims=(3, 4))
    valid = mask != 0
    if valid.ndim == 4:
        valid = valid.any(axis=3) if combine == "any" else valid.all(axis=3)
    slices, rows = select_slices(valid, min_valid_fraction=min_valid_fraction, min_slice_fraction=min_slice_fraction,
                                 max_slices=max_slices, source=f"quality mask {mask_file}")
    rules = (["(valid voxels in slice k) / (nx*ny) >= MinValidFraction"] if min_valid_fraction is not None else []) \
        + (["(valid voxels in slice k) >= MinSliceFraction * (valid voxels in the fullest slice)"]
           if min_slice_fraction is not None else [])
    sidecar = {
        "Rule": "keep axial slice k when " + (" and ".join(rules) or "it has a valid voxel")
        + ("; then the MaxSlices slices with most valid voxels" if max_slices else ""),
        "MinValidFraction": min_valid_fraction, "MinSliceFraction": min_slice_fraction,
        "MaxSlices": max_slices, "Combine": combine,
        "SelectedSlices": slices, "Source": str(mask_file),
        "slice": {"Description": "axial slice index k (0-based, third voxel axis)"},
        "n_valid": {"Description": "number of valid voxels in the slice"},
        "valid_fraction": {"Description": "n_valid / (nx*ny)"},
        "selected": {"Description": "whether the slice is kept", "Levels": {"true": "kept", "false": "dropped"}},
    }
    return slices, write_tsv(rows, out_file, sidecar)
