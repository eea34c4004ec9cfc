"""Generate one synthetic subject: anatomy, T1w, FLAIR, MRSI acquisitions and ground truth.

Every random choice comes from streams spawned from ``SeedSequence(seed, spawn_key=(index,))``,
one stream per concern (anatomy, tumour, motion, each image, metabolites, quality, findings,
protocol) and one per acquisition matrix, so a subject — or one acquisition of it — regenerates
alone and identically, whatever else is requested (formats never change values). Every feature is
drawn whether or not it is used, so leaving one out (``without``) changes nothing else: without an
MRI-only feature the maps are identical, without a metabolic one the T1w and FLAIR are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mrsisr.synth import bids
from mrsisr.synth import findings as findings_module
from mrsisr.synth.findings import Ball, Findings, brain_candidates, findings_labels
from mrsisr.synth.geometry import Grid, axial_grid, mrsi_grid
from mrsisr.synth.head import HEAD_CENTRE_MNI, SLAB_CENTRE_MNI, SubjectWarp, load_head_model
from mrsisr.synth.landscape import MetabolicLandscape
from mrsisr.synth.metabolites import SPECIES
from mrsisr.synth.mri import Acquisition, contrast, render
from mrsisr.synth.mrsi import acquire, sample_high_resolution
from mrsisr.synth.outputs import write_acquisition, write_phantom_truth
from mrsisr.synth.protocol import Protocol
from mrsisr.synth.quality import QualityModel
from mrsisr.synth.tumour import Tumour, tumour_labels, white_matter_candidates

# New streams are appended: spawned children are positional, so older streams keep their values.
STREAMS = ("demographics", "anatomy", "tumour", "motion", "t1w", "flair", "metabolites", "quality",
           "findings", "protocol")
#: Features that ``generate_subject(without=...)`` can leave out (for tests and ablations).
FEATURES = ("metabolic_fields", "regions", "subject_factors", "infiltration", "nonenhancing",
            *findings_module.FEATURES)
DEFAULT_ACQUIRED_MATRICES = (16, 20, 24, 28, 32)
TUMOUR_PROBABILITY = 0.8


@dataclass(frozen=True)
class Resolution:
    """Image sizes of a full or a ``tiny`` (test-sized) subject."""

    template_mm: int
    t1w_zooms: tuple[float, float, float]
    t1w_shape: tuple[int, int, int]
    flair_zooms: tuple[float, float, float]
    flair_shape: tuple[int, int, int]
    flair_through_plane_samples: int
    default_slices: int


FULL = Resolution(1, (1.0, 1.0, 1.0), (184, 232, 208), (1.0, 1.0, 3.0), (192, 232, 64), 3, 39)
TINY = Resolution(2, (2.0, 2.0, 2.0), (92, 116, 104), (2.0, 2.0, 4.0), (96, 116, 48), 1, 8)


def subject_rng(seed: int, index: int, stream: str) -> np.random.Generator:
    """The random stream ``stream`` of subject ``index`` (1-based) of a cohort seeded ``seed``."""
    children = np.random.SeedSequence(entropy=seed, spawn_key=(index,)).spawn(len(STREAMS))
    return np.random.default_rng(children[STREAMS.index(stream)])


def acquisition_rng(seed: int, index: int, matrix: int) -> np.random.Generator:
    """The noise stream of one acquisition matrix (independent of which others are made)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index, 1000 + matrix)))


def draw_motion(rng: np.random.Generator) -> np.ndarray:
    """FLAIR→T1w rigid motion: 2–5° about a random axis, 1–5 mm in a random direction."""
    axis = rng.standard_normal(3)
    rotation = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.deg2rad(rng.uniform(2.0, 5.0)))
    direction = rng.standard_normal(3)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation.as_matrix()
    matrix[:3, 3] = direction / np.linalg.norm(direction) * rng.uniform(1.0, 5.0)
    return matrix


def motion_record(matrix: np.ndarray) -> dict:
    """JSON description of a rigid FLAIR→T1w matrix."""
    rotation = Rotation.from_matrix(matrix[:3, :3])
    return {
        "matrix": [[float(v) for v in row] for row in matrix],
        "convention": "p_T1w = M @ p_FLAIR (scanner RAS mm, homogeneous); M[:3,:3] = Rz @ Ry @ Rx",
        "rotation_deg_xyz": [float(v) for v in rotation.as_euler("xyz", degrees=True)],
        "rotation_angle_deg": float(np.rad2deg(np.linalg.norm(rotation.as_rotvec()))),
        "translation_mm": [float(v) for v in matrix[:3, 3]],
    }


def generate_subject(
    out_dir: str | Path,
    index: int,
    *,
    seed: int = 0,
    slices: int | None = None,
    acquired_matrix: tuple[int, ...] = DEFAULT_ACQUIRED_MATRICES,
    formats: tuple[str, ...] = ("nifti", "csv"),
    tiny: bool = False,
    tumour: bool | None = None,
    share_without_flair: float = 0.0,
    share_3t: float = 0.0,
    without: tuple[str, ...] = (),
) -> dict:
    """Write subject ``index`` (1-based) into the dataset at ``out_dir``; return its participant row.

    ``tumour`` forces the presence (``True``) or absence (``False``) of a glioma; by default it
    is drawn (80 % of subjects). The tumour is placed inside the MRSI slab, so its position
    depends on ``slices`` (and ``tiny``) as well as on the seed. ``share_without_flair`` and
    ``share_3t`` are the probabilities of a subject without FLAIR and of a 3T-like acquisition
    (:mod:`mrsisr.synth.protocol`); ``without`` leaves out any of :data:`FEATURES`. Top-level
    dataset files are written by :func:`mrsisr.synth.generate_dataset`.
    """
    unknown = set(without) - set(FEATURES)
    if unknown:
        raise ValueError(f"without: unknown features {sorted(unknown)}; choose from {', '.join(FEATURES)}")
    root = Path(out_dir)
    label = bids.subject_label(index)
    resolution = TINY if tiny else FULL
    n_slices = slices or resolution.default_slices
    demographics = subject_rng(seed, index, "demographics")
    participant = {
        "label": label,
        "age": int(demographics.integers(28, 76)),
        "sex": "F" if demographics.random() < 0.45 else "M",
    }
    has_tumour = demographics.random() < TUMOUR_PROBABILITY if tumour is None else bool(tumour)
    participant["tumour"] = "yes" if has_tumour else "no"

    protocol = Protocol.draw(subject_rng(seed, index, "protocol"), share_without_flair, share_3t)

    head = load_head_model(resolution.template_mm)
    warp = SubjectWarp.draw(subject_rng(seed, index, "anatomy"))
    slab_centre = warp.to_scanner(SLAB_CENTRE_MNI)[:, 0]
    grid_mm = {"voxel_mm": protocol.mrsi_voxel_mm, "slice_mm": protocol.mrsi_slice_mm}
    grid64 = mrsi_grid(slab_centre, n_slices, **grid_mm)
    half = max(n_slices * protocol.mrsi_slice_mm / 2.0 - 8.0, 3.0)
    z_range = (max(SLAB_CENTRE_MNI[2] - half, -25.0), min(SLAB_CENTRE_MNI[2] + half, 45.0))
    lesion, avoid = None, None
    if has_tumour:
        candidates = white_matter_candidates(head.brain["wm"], head.brain_inverse_affine, z_range)
        lesion = Tumour.draw(subject_rng(seed, index, "tumour"), candidates)
        avoid = Ball(lesion.centre_mni, 1.3 * lesion.metabolic_extent_mm)
        lesion = lesion.without(without)
    findings = Findings.draw(subject_rng(seed, index, "findings"),
                             brain_candidates(head.brain, head.brain_inverse_affine, z_range),
                             brain_candidates(head.brain, head.brain_inverse_affine, z_range, "wm"), avoid)
    findings = findings.without(tuple(f for f in without if f in findings_module.FEATURES))

    centre = warp.to_scanner(HEAD_CENTRE_MNI)[:, 0]
    t1w_grid = axial_grid(centre, resolution.t1w_shape, resolution.t1w_zooms)
    flair_grid = axial_grid(centre, resolution.flair_shape, resolution.flair_zooms)
    motion = draw_motion(subject_rng(seed, index, "motion"))
    _write_anatomy(root, label, head, warp, lesion, findings, t1w_grid, flair_grid if protocol.has_flair else None,
                   motion, resolution, seed, index)

    landscape = MetabolicLandscape.draw(subject_rng(seed, index, "metabolites"), SPECIES, participant["age"])
    landscape = landscape.without(without)
    quality = QualityModel.draw(subject_rng(seed, index, "quality"))
    truth = sample_high_resolution(grid64, head, warp.to_mni, lesion, landscape, quality, findings)
    write_phantom_truth(root, label, truth)
    for matrix in (64, *acquired_matrix):
        grid = grid64 if matrix == 64 else mrsi_grid(slab_centre, n_slices, matrix, **grid_mm)
        result = acquire(truth, grid, quality, acquisition_rng(seed, index, matrix), protocol.snr_factor)
        write_acquisition(root, label, result, formats=formats)

    record = {
        "seed": seed, "subject_index": index, "tiny": tiny, "participant": participant,
        "warp": {"linear": warp.linear.tolist(), "translation_mm": warp.translation.tolist(),
                 "displacement_mm": warp.displacement_mm},
        "tumour": None if lesion is None else {
            **lesion.record(),
            "centre_t1w_scanner_mm": [float(v) for v in warp.to_scanner(lesion.centre_mni)[:, 0]],
        },
        "quality": {k: getattr(quality, k) for k in ("snr_reference", "fwhm_base_ppm", "sinus_ppm",
                                                     "temporal_ppm", "skull_ppm")},
        "mrsi_slab_centre_mm": [float(v) for v in slab_centre],
        "mrsi_slices": n_slices,
        "protocol": protocol.record(),
        "metabolic_landscape": landscape.record(),
        "findings": findings.record(),
        "features_left_out": sorted(without),
    }
    bids.write_json(bids.phantom_dir(root, label) / f"sub-{label}_phantom.json", record)
    return participant


def _write_anatomy(root: Path, label: str, head, warp: SubjectWarp, lesion: Tumour | None, findings: Findings,
                   t1w_grid: Grid, flair_grid: Grid | None, motion: np.ndarray, resolution: Resolution,
                   seed: int, index: int) -> None:
    """Render and write the T1w, the FLAIR (unless ``flair_grid`` is None) and the T1w-space truth."""
    names = {"t1w": ("gm", "wm", "csf", "envelope", "t1w_extra", "brain_mask"),
             "flair": ("gm", "wm", "csf", "envelope", "flair_extra")}
    truth = {name: np.zeros(t1w_grid.shape, np.float32) for name in ("gm", "wm", "csf", "brain_mask")}
    labels = np.zeros(t1w_grid.shape, np.uint8)
    finding_labels = np.zeros(t1w_grid.shape, np.uint8)

    def signal(points: np.ndarray, kind: str, keep: tuple[int, int] | None = None) -> np.ndarray:
        mni = warp.to_mni(points)
        found = findings.fractions(mni)
        tissues = findings.apply_to_tissues(head.sample(mni, names[kind]), found)
        fractions = lesion.fractions(mni, tissues["wm"], tissues["envelope"]) if lesion else None
        if keep is not None:  # T1w pass: also keep the ground truth of these slices
            k0, k1 = keep
            shape = (t1w_grid.shape[0], t1w_grid.shape[1], k1 - k0)
            healthy = 1.0 - (fractions["necrosis"] + fractions["enhancing"]) if fractions else 1.0
            for name in ("gm", "wm", "csf"):
                truth[name][:, :, k0:k1] = (tissues[name] * healthy).reshape(shape)
            core = 0.0 if fractions is None else fractions["necrosis"] + fractions["enhancing"]
            truth["brain_mask"][:, :, k0:k1] = np.maximum(tissues["brain_mask"], core).reshape(shape)
            if fractions:
                labels[:, :, k0:k1] = tumour_labels(fractions).reshape(shape)
            finding_labels[:, :, k0:k1] = findings_labels(found).reshape(shape)
        return contrast(tissues, fractions, kind, findings.hyperintensity(found))

    rng_t1w = subject_rng(seed, index, "t1w")
    t1w_acquisition = Acquisition.draw(rng_t1w)
    t1w = np.zeros(t1w_grid.shape, np.int16)
    for k0, k1 in t1w_grid.slabs(1_500_000):
        sub = Grid((t1w_grid.shape[0], t1w_grid.shape[1], k1 - k0),
                   t1w_grid.affine @ _shift_k(k0))
        t1w[:, :, k0:k1] = render(sub, lambda p, k=(k0, k1): signal(p, "t1w", k), t1w_acquisition, rng_t1w)
    bids.save_nifti(bids.anat_path(root, label, "T1w"), t1w, t1w_grid.affine)
    bids.write_json(bids.anat_path(root, label, "T1w").with_name(f"sub-{label}_T1w.json"), bids.T1W_SIDECAR)
    phantom = bids.phantom_dir(root, label)
    phantom.mkdir(parents=True, exist_ok=True)
    if flair_grid is not None:
        to_t1w = motion[:3, :3].astype(np.float32)
        offset = motion[:3, 3:4].astype(np.float32)
        rng_flair = subject_rng(seed, index, "flair")
        flair = render(flair_grid, lambda p: signal(to_t1w @ p + offset, "flair"),
                       Acquisition.draw(rng_flair), rng_flair, resolution.flair_through_plane_samples)
        bids.save_nifti(bids.anat_path(root, label, "FLAIR"), flair, flair_grid.affine)
        bids.write_json(bids.anat_path(root, label, "FLAIR").with_name(f"sub-{label}_FLAIR.json"),
                        bids.FLAIR_SIDECAR)
        stem = phantom / f"sub-{label}_from-FLAIR_to-T1w_mode-scanner_xfm"
        np.savetxt(stem.with_suffix(".txt"), motion, fmt="%.10f")
        bids.write_json(stem.with_suffix(".json"), motion_record(motion))
    bids.save_nifti(phantom / f"sub-{label}_space-T1w_desc-brain_mask.nii.gz",
                    (truth["brain_mask"] >= 0.5).astype(np.uint8), t1w_grid.affine)
    for name in ("gm", "wm", "csf"):
        bids.save_probability(phantom / f"sub-{label}_space-T1w_label-{name.upper()}_probseg.nii.gz",
                              truth[name], t1w_grid.affine)
    bids.save_nifti(phantom / f"sub-{label}_space-T1w_desc-tumour_dseg.nii.gz", labels, t1w_grid.affine)
    bids.save_nifti(phantom / f"sub-{label}_space-T1w_desc-findings_dseg.nii.gz", finding_labels, t1w_grid.affine)


def _shift_k(k0: int) -> np.ndarray:
    shift = np.eye(4)
    shift[2, 3] = k0
    return shift
