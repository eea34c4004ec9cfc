"""A whole head (brain, CSF, skull, scalp, eyes, sinuses) built around nilearn's MNI152 2009
templates, and the per-subject deformation that places it in scanner space.

Why a head: skull stripping and co-registration are part of the pipeline under test, so the
T1w and FLAIR must show what a scanner shows — a brain inside CSF, bone with marrow, muscle,
subcutaneous fat and skin, with air in the sinuses. nilearn ships skull-stripped MNI152 2009
T1/GM/WM images inside its package (no download), so the layers outside the brain are grown
from the brain's smoothed outline with distance transforms.

The model lives in MNI mm. A subject is the model seen through a :class:`SubjectWarp`: every
scanner point ``y`` is pulled back to the MNI point ``x(y)`` (random affine with ±8 % scaling,
shear and a head pose, plus a smooth non-linear displacement), where the model is interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from mrsisr.synth.fields import SmoothRandomField, sample_volume, smoothstep

#: Thickness (mm, outwards from the brain's outline) where each extra-cerebral layer ends.
LAYER_ENDS_MM = {
    "csf": 1.5,
    "bone_inner": 3.5,
    "marrow": 6.0,
    "bone_outer": 7.5,
    "muscle": 10.0,
    "fat": 14.0,
    "skin": 16.0,
}

#: Relative T1w (MPRAGE-like, gadolinium-enhanced) and FLAIR signal of each tissue class.
T1W_SIGNAL = {
    "gm": 0.55, "wm": 0.85, "csf": 0.12, "bone": 0.04, "marrow": 0.70, "muscle": 0.38,
    "fat": 1.00, "skin": 0.45, "eye": 0.10, "necrosis": 0.22, "enhancing": 1.05,
}
FLAIR_SIGNAL = {
    "gm": 0.72, "wm": 0.52, "csf": 0.04, "bone": 0.03, "marrow": 0.45, "muscle": 0.32,
    "fat": 0.62, "skin": 0.40, "eye": 0.05, "necrosis": 0.55, "enhancing": 0.95,
}

#: Air-filled sinuses (MNI centre and radii, mm); only their extra-cranial part is air.
SINUSES_MNI = {
    "frontal": ((0.0, 74.0, 4.0), (14.0, 7.0, 11.0)),
    "ethmoid": ((0.0, 48.0, -38.0), (11.0, 16.0, 12.0)),
    "sphenoid": ((0.0, 14.0, -42.0), (13.0, 12.0, 10.0)),
}
#: Temporal poles / inferior temporal lobes (MNI centre and radii, mm), where B0 is poorest.
TEMPORAL_MNI = {
    "left": ((-44.0, 2.0, -32.0), (16.0, 26.0, 14.0)),
    "right": ((44.0, 2.0, -32.0), (16.0, 26.0, 14.0)),
}
EYES_MNI = (((-33.0, 64.0, -40.0), 12.0), ((33.0, 64.0, -40.0), 12.0))
#: MNI point that the scanner's isocentre (and the field of view) is centred on.
HEAD_CENTRE_MNI = np.array([0.0, -18.0, 8.0])
#: MNI point at the middle of the MRSI slab (centrum semiovale / lateral ventricles level).
SLAB_CENTRE_MNI = np.array([0.0, -16.0, 14.0])


@dataclass(frozen=True)
class HeadModel:
    """Tissue maps of the template head in MNI space.

    ``brain`` holds GM and WM fractions and the template's brain mask on the template grid;
    ``head`` holds, on a padded
    2 mm grid, the intracranial envelope, the T1w and FLAIR signal of all extra-cerebral
    layers, their lipid (fat and marrow) fraction, the head mask and the depth (mm) of each
    point below the inner skull surface.
    """

    brain: dict[str, np.ndarray]
    brain_inverse_affine: np.ndarray
    head: dict[str, np.ndarray]
    head_inverse_affine: np.ndarray

    def sample(self, points_mni: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Interpolate the named maps at MNI points ``(3, N)``; ``csf`` is derived."""
        out: dict[str, np.ndarray] = {}
        wanted = set(names) | ({"gm", "wm", "envelope"} if "csf" in names else set())
        for name in wanted:
            if name in self.brain:
                out[name] = sample_volume(self.brain[name], self.brain_inverse_affine, points_mni)
            elif name in self.head:
                out[name] = sample_volume(self.head[name], self.head_inverse_affine, points_mni)
        if "csf" in names:
            out["csf"] = np.clip(out["envelope"] - out["gm"] - out["wm"], 0.0, 1.0)
        return out


def _ellipsoid_distance(points: np.ndarray, centre, radii) -> np.ndarray:
    """Normalised ellipsoidal radius (1 on the surface) of ``points`` (3, N)."""
    offset = (points - np.asarray(centre, np.float32)[:, None]) / np.asarray(radii, np.float32)[:, None]
    return np.sqrt((offset**2).sum(axis=0))


def region_proximity(points_mni: np.ndarray, regions: dict, reach: float = 1.0) -> np.ndarray:
    """1 inside the nearest listed ellipsoid, falling smoothly to 0 ``reach`` radii outside it."""
    proximity = np.zeros(points_mni.shape[1], np.float32)
    for centre, radii in regions.values():
        r = _ellipsoid_distance(points_mni, centre, radii)
        proximity = np.maximum(proximity, 1.0 - smoothstep((r - 1.0) / reach))
    return proximity


@lru_cache(maxsize=2)
def load_head_model(resolution_mm: int = 1) -> HeadModel:
    """Build (once per process) the head model from nilearn's packaged MNI152 2009 images."""
    from nilearn import datasets

    mask_img = datasets.load_mni152_brain_mask(resolution=1)
    affine = mask_img.affine
    mask = mask_img.get_fdata(dtype=np.float32)
    gm = datasets.load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float32)
    wm = datasets.load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float32)
    if resolution_mm == 2:  # block means: faster and smoother than nilearn's spline resampling
        mask, gm, wm = (_block_mean_2(v) for v in (mask, gm, wm))
        affine = affine @ np.diag([2.0, 2.0, 2.0, 1.0])
        affine[:3, 3] += 0.5 * np.diag(mask_img.affine)[:3]
    elif resolution_mm != 1:
        raise ValueError(f"resolution_mm must be 1 or 2, got {resolution_mm}")
    binary = mask > 0.5
    gm, wm = np.clip(gm, 0, 1) * binary, np.clip(wm, 0, 1) * binary
    total = np.maximum(gm + wm, 1.0)
    brain = {"gm": gm / total, "wm": wm / total, "brain_mask": binary.astype(np.float32)}
    head, head_affine = _extracerebral_layers(affine, binary, resolution_mm)
    return HeadModel(brain, np.linalg.inv(affine), head, np.linalg.inv(head_affine))


def _block_mean_2(volume: np.ndarray) -> np.ndarray:
    """Mean of 2×2×2 blocks (odd trailing planes dropped)."""
    x, y, z = (s // 2 * 2 for s in volume.shape)
    v = volume[:x, :y, :z]
    return v.reshape(x // 2, 2, y // 2, 2, z // 2, 2).mean(axis=(1, 3, 5))


def _extracerebral_layers(brain_affine: np.ndarray, brain_mask: np.ndarray, resolution_mm: int):
    """Grow CSF, skull, marrow, muscle, fat and skin shells around the brain on a 2 mm grid."""
    step = 2 // resolution_mm
    coarse = brain_mask[::step, ::step, ::step]
    pad = 14  # voxels of 2 mm: room for 16 mm of layers plus deformation
    coarse = np.pad(coarse, pad)
    affine = brain_affine @ np.diag([step, step, step, 1.0])
    affine[:3, 3] -= affine[:3, :3] @ np.full(3, pad)
    closed = ndimage.binary_closing(coarse, structure=ndimage.generate_binary_structure(3, 1), iterations=3)
    closed = ndimage.binary_fill_holes(closed)
    outline = ndimage.gaussian_filter(closed.astype(np.float32), 1.5) > 0.5
    distance_out = ndimage.distance_transform_edt(~outline).astype(np.float32) * 2.0
    depth = ndimage.distance_transform_edt(outline).astype(np.float32) * 2.0
    # Layer thickness varies smoothly over the head (fixed seed: the template never changes).
    thickness = 1.0 + 0.2 * _template_variation(coarse.shape)
    d = distance_out / thickness

    def shell(start: float, end: float) -> np.ndarray:
        return smoothstep(d - start + 0.5) * (1.0 - smoothstep(d - end + 0.5))

    ends = LAYER_ENDS_MM
    layers = {
        "envelope": np.maximum(outline.astype(np.float32), 1.0 - smoothstep(d - ends["csf"] + 0.5)),
        "bone": shell(ends["csf"], ends["bone_inner"]) + shell(ends["marrow"], ends["bone_outer"]),
        "marrow": shell(ends["bone_inner"], ends["marrow"]),
        "muscle": shell(ends["bone_outer"], ends["muscle"]),
        "fat": shell(ends["muscle"], ends["fat"]),
        "skin": shell(ends["fat"], ends["skin"]),
    }
    points = _grid_points(affine, coarse.shape)
    _add_eyes_and_sinuses(layers, points, coarse.shape)
    head = {
        "envelope": layers["envelope"],
        "depth": depth,
        "lipid": layers["fat"] + layers["marrow"],
        "head_mask": np.clip(sum(layers.values()), 0.0, 1.0),
    }
    for name, table in (("t1w_extra", T1W_SIGNAL), ("flair_extra", FLAIR_SIGNAL)):
        head[name] = sum(layers[k] * table[k] for k in ("bone", "marrow", "muscle", "fat", "skin", "eye"))
    return {k: ndimage.gaussian_filter(v.astype(np.float32), 0.6) for k, v in head.items()}, affine


def _template_variation(shape: tuple[int, int, int]) -> np.ndarray:
    noise = np.random.default_rng(20090).standard_normal(shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(noise, 8.0)
    return smooth / (smooth.std() + 1e-12)


def _grid_points(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    index = np.indices(shape, dtype=np.float32).reshape(3, -1)
    return (affine[:3, :3] @ index + affine[:3, 3:4]).astype(np.float32)


def _add_eyes_and_sinuses(layers: dict, points: np.ndarray, shape: tuple[int, int, int]) -> None:
    """Carve eyes (in orbital fat) and air-filled sinuses into the extra-cranial layers."""
    extracranial = 1.0 - layers["envelope"]
    eye = np.zeros(points.shape[1], np.float32)
    orbit = np.zeros_like(eye)
    for centre, radius in EYES_MNI:
        r = _ellipsoid_distance(points, centre, (radius,) * 3)
        eye = np.maximum(eye, 1.0 - smoothstep(r - 1.0 + 0.1))
        orbit = np.maximum(orbit, 1.0 - smoothstep((r - 1.5) * 3.0))
    eye, orbit = eye.reshape(shape) * extracranial, orbit.reshape(shape) * extracranial
    air = np.zeros(points.shape[1], np.float32)
    for centre, radii in SINUSES_MNI.values():
        r = _ellipsoid_distance(points, centre, radii)
        air = np.maximum(air, 1.0 - smoothstep((r - 1.0) * 4.0 + 0.5))
    air = air.reshape(shape) * extracranial
    keep = (1.0 - np.maximum(orbit, air))
    for name in ("bone", "marrow", "muscle", "fat", "skin"):
        layers[name] = layers[name] * keep
    layers["fat"] = layers["fat"] + (orbit - eye).clip(0) * (1.0 - air)
    layers["eye"] = eye * (1.0 - air)


@dataclass(frozen=True)
class SubjectWarp:
    """Pull-back from a subject's scanner space (T1w session, RAS mm) to MNI mm.

    ``x(y) = x_lin + displacement(x_lin)`` with ``x_lin = inv(linear) @ (y - translation)``.
    """

    linear: np.ndarray
    translation: np.ndarray
    displacement: tuple[SmoothRandomField, SmoothRandomField, SmoothRandomField]
    displacement_mm: float

    @classmethod
    def draw(cls, rng: np.random.Generator, *, max_scale: float = 0.08) -> SubjectWarp:
        """Random head size/shape (±``max_scale`` per axis, shear), pose and smooth warp."""
        scale = np.diag(1.0 + rng.uniform(-max_scale, max_scale, 3))
        shear = np.eye(3) + np.triu(rng.uniform(-0.03, 0.03, (3, 3)), 1)
        pose = rotation_matrix(np.deg2rad(rng.uniform(-6.0, 6.0, 3)))
        linear = pose @ shear @ scale
        isocentre_offset = rng.uniform(-8.0, 8.0, 3)
        translation = isocentre_offset - linear @ HEAD_CENTRE_MNI
        fields = tuple(SmoothRandomField.draw(rng, scale_mm=32.0) for _ in range(3))
        return cls(linear, translation, fields, float(rng.uniform(2.0, 4.0)))

    def to_mni(self, points: np.ndarray) -> np.ndarray:
        """MNI coordinates ``(3, N)`` of scanner points ``(3, N)`` (float32)."""
        inverse = np.linalg.inv(self.linear).astype(np.float32)
        x_lin = inverse @ (points - self.translation[:, None].astype(np.float32))
        shift = np.stack([f(x_lin) for f in self.displacement]) * np.float32(self.displacement_mm)
        return x_lin + shift

    def to_scanner(self, points_mni: np.ndarray, iterations: int = 8) -> np.ndarray:
        """Invert :meth:`to_mni` by fixed-point iteration (sub-0.01 mm for this smooth warp)."""
        target = np.asarray(points_mni, np.float32).reshape(3, -1)
        y = (self.linear @ target + self.translation[:, None]).astype(np.float32)
        for _ in range(iterations):
            y = y + (self.linear @ (target - self.to_mni(y))).astype(np.float32)
        return y


def rotation_matrix(angles_rad: np.ndarray) -> np.ndarray:
    """Rotation ``Rz @ Ry @ Rx`` for angles about x, y and z (radians)."""
    ax, ay, az = angles_rad
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx
