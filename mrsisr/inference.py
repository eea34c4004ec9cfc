"""Super-resolution of whole MRSI volumes with a trained network (the core of ``SuperResolve``).

Steps per selected slice and metabolite: the acquired ``n×n`` map (rejected voxels set to 0) is
zero-filled to ``N×N`` in k-space — or, with ``simulate_matrix``, an ``N×N`` map is truncated to
its central ``n×n`` k-space — scaled by its maximum, super-resolved with the conditions
(n, metabolite, λ), scaled back and masked. Samples sharing (metabolite, λ) are batched together so
every batch runs the network's one-condition fast path.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mrsisr import METABOLITES, TRAINED_MATRIX_SIZES, kspace
from mrsisr.defaults import BATCH_SIZE
from mrsisr.models.runtime import resolve_device, tune_cpu_allocator
from mrsisr.models.weights import load_model, read_metadata, sha256
from mrsisr.slices import map_scale, scale_mri

__all__ = ["DEFAULT_WEIGHTS", "ModelInfo", "load_for_inference", "super_resolve_maps", "super_resolve_volume",
           "output_mask"]

#: The packaged default model (safetensors) and its model card (same stem, ``.json``).
DEFAULT_WEIGHTS = Path(__file__).parent / "data" / "mcm_default.safetensors"


@dataclass(frozen=True)
class ModelInfo:
    """The identity of the network that produced an output (goes into every sidecar)."""

    variant: str
    weights: str
    sha256: str
    placeholder: bool
    description: str
    #: the trained λ that this network's λ = 0 is (``lambda_origin`` of a network recentred by
    #: :func:`mrsisr.models.conditioning.recentre_sharpness`; 0 otherwise)
    lambda_origin: float = 0.0

    def to_dict(self) -> dict:
        return dict(vars(self))


def load_for_inference(weights: str | Path | None = None, device: str = "auto",
                       omp_nthreads: int | None = None) -> tuple[torch.nn.Module, ModelInfo]:
    """Load a weights file (default: the packaged model) in eval mode on ``device``."""
    path = Path(weights) if weights else DEFAULT_WEIGHTS
    tune_cpu_allocator()
    if omp_nthreads:
        torch.set_num_threads(int(omp_nthreads))
    model = load_model(path, resolve_device(device))
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    info = ModelInfo(variant=model.variant, weights=str(path), sha256=sha256(path),
                     placeholder=bool(card.get("placeholder", False)),
                     description=str(card.get("description", card.get("name", path.stem))),
                     lambda_origin=float(read_metadata(path).get("lambda_origin", 0.0)))
    return model, info


@torch.inference_mode()
def super_resolve_maps(model: torch.nn.Module, lr: np.ndarray, t1: np.ndarray, flair: np.ndarray, n: int,
                       metabolites: list[str], sharpness: list[float],
                       batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Super-resolve zero-filled maps.

    Args:
        model: a generator from :func:`mrsisr.models.build` (eval mode).
        lr: zero-filled magnitude maps (S, M, N, N) in physical units.
        t1, flair: MRI blocks (S, 3N, 3N, 3) on the 3× grid of each slice.
        n: acquired matrix size.
        metabolites: the M names (from :data:`mrsisr.METABOLITES`).
        sharpness: λ values.
        batch_size: maps per forward pass.

    Returns:
        (L, S, M, N, N) super-resolved maps in the units of ``lr``.
    """
    unknown = [m for m in metabolites if m not in METABOLITES]
    if unknown:
        raise ValueError(f"the network knows {list(METABOLITES)}, not {unknown}")
    device = next(model.parameters()).device
    scale = map_scale(lr)
    lr_scaled = torch.from_numpy((lr / scale).astype(np.float32))
    t1_t, flair_t = torch.from_numpy(scale_mri(t1)), torch.from_numpy(scale_mri(flair))
    slices = lr.shape[0]
    out = np.zeros((len(sharpness),) + lr.shape, dtype=np.float32)
    for li, lam in enumerate(sharpness):
        for mi, name in enumerate(metabolites):
            for start in range(0, slices, batch_size):
                part = slice(start, min(start + batch_size, slices))
                size = part.stop - part.start
                sr = model(t1_t[part, None].to(device), flair_t[part, None].to(device),
                           lr_scaled[part, mi, None].to(device), torch.full((size,), n),
                           torch.full((size,), METABOLITES.index(name)), torch.full((size,), float(lam)))
                out[li, part, mi] = sr[:, 0].float().cpu().numpy()
    return out * scale[None].astype(np.float32)


def output_mask(mask: np.ndarray, n: int, size: int) -> np.ndarray:
    """Bring an acquired-grid mask (n, n, …) onto the ``size`` grid (nearest coarse voxel)."""
    return kspace.InPlaneEmbedding((n, n), size).network_mask(mask)


def super_resolve_volume(model: torch.nn.Module, maps: np.ndarray, mask: np.ndarray, t1_3x: np.ndarray,
                         flair_3x: np.ndarray, slices: list[int], metabolites: list[str], sharpness: list[float],
                         target_matrix: int = 64, simulate_matrix: int | None = None, slice_offset: int = 0,
                         batch_size: int = BATCH_SIZE, embedding: kspace.InPlaneEmbedding | None = None,
                         uncertainty_samples: int = 0) -> dict[str, np.ndarray]:
    """Super-resolve the selected slices of a subject's maps.

    Args:
        maps: concentrations (nx, ny, Z, M) on the acquired grid (or the N grid with ``simulate_matrix``).
        mask: quality mask of the same shape (1 = valid); invalid voxels are zeroed before k-space.
        t1_3x, flair_3x: MRI on the 3× N-grid, (3N, 3N, 3·Zc) where the first 3 planes belong to
            MRSI slice ``slice_offset``.
        slices: 0-based MRSI slices to super-resolve.
        embedding: how a non-square acquired grid reaches the network's N×N grid and back
            (:func:`mrsisr.io.geometry.in_plane_embedding`); None: the square grid of ``maps``.
        uncertainty_samples: K ≥ 2 adds ``"sd"`` (L, N, N, Z, M), the spread of the outputs under K
            test-time transformations (:mod:`mrsisr.uncertainty`), and ``"transforms"`` (their
            descriptions); 0: none.

    Returns:
        ``{"sr": (L, X, Y, Z, M), "zero_filled": (X, Y, Z, M), "mask": (X, Y, Z, M), "n": int}`` on the
        output grid (``embedding.output_shape``; N×N for a square acquisition); slices not selected are
        zero in ``sr`` and in ``mask``; the zero-filled maps cover every slice and are masked by the
        quality mask only.
    """
    if maps.ndim != 4 or mask.shape != maps.shape:
        raise ValueError(f"maps {maps.shape} and mask {mask.shape} must both be (x, y, z, metabolite)")
    nx, ny, depth, _ = maps.shape
    if simulate_matrix:
        if nx != ny:
            raise ValueError(f"simulating an acquisition needs square maps, got {nx}×{ny}")
    elif embedding is None:
        embedding = kspace.InPlaneEmbedding((nx, ny), target_matrix)  # refuses a non-square grid
    elif embedding.matrix != (nx, ny) or embedding.target != target_matrix:
        raise ValueError(f"maps {nx}×{ny} on a {target_matrix} grid do not match the embedding {embedding}")
    clean = np.where(mask > 0, np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    planes = np.moveaxis(clean, (2, 3), (0, 1))  # (Z, M, nx, ny)
    if simulate_matrix:
        if nx != target_matrix:
            raise ValueError(f"simulating an acquisition needs maps on the {target_matrix} grid, got {nx}")
        n = int(simulate_matrix)
        zero_filled = kspace.truncate(planes, n)
        out_mask = mask > 0
    else:
        n = embedding.n
        zero_filled = embedding.network_input(planes)
        out_mask = embedding.network_mask(mask > 0)
    if n not in TRAINED_MATRIX_SIZES:
        warnings.warn(f"acquired matrix {n} is outside the trained sizes {TRAINED_MATRIX_SIZES}: results may be less "
                      "reliable", stacklevel=2)
    size = target_matrix
    bad = [k for k in slices if not 0 <= k - slice_offset < t1_3x.shape[2] // 3 or not 0 <= k < depth]
    if bad:
        raise ValueError(f"slices {bad} are outside the MRSI volume (Z={depth}) or the MRI crop "
                         f"(slices {slice_offset}…{slice_offset + t1_3x.shape[2] // 3 - 1})")
    if t1_3x.shape[:2] != (3 * size, 3 * size) or flair_3x.shape != t1_3x.shape:
        raise ValueError(f"MRI on the 3× grid must be ({3 * size}, {3 * size}, 3·Z), got {t1_3x.shape}, {flair_3x.shape}")
    blocks = lambda volume: np.stack([volume[:, :, 3 * (k - slice_offset):3 * (k - slice_offset) + 3] for k in slices])
    predict = lambda lr, t1, flair: super_resolve_maps(model, lr, t1, flair, n, metabolites, sharpness, batch_size)
    sr, extra = _with_uncertainty(predict, zero_filled[slices], blocks(t1_3x), blocks(flair_3x), uncertainty_samples)
    selected = np.zeros(depth, dtype=bool)
    selected[slices] = True
    final_mask = out_mask & selected[None, None, :, None]
    sr_volume = np.zeros((len(sharpness), size, size, depth, len(metabolites)), dtype=np.float32)
    sr_volume[:, :, :, slices] = np.moveaxis(sr, (1, 2), (3, 4))
    zero_filled = np.moveaxis(zero_filled, (0, 1), (2, 3)).astype(np.float32) * out_mask
    sd_volume = None
    if "sd" in extra:
        sd_volume = np.zeros_like(sr_volume)
        sd_volume[:, :, :, slices] = np.moveaxis(extra["sd"], (1, 2), (3, 4))
    if not simulate_matrix:  # back to the acquired field of view (a no-op unless it is rectangular)
        sr_volume, zero_filled = embedding.to_output(sr_volume, (1, 2)), embedding.to_output(zero_filled)
        final_mask = embedding.to_output(final_mask)
        if sd_volume is not None:
            sd_volume = embedding.to_output(sd_volume, (1, 2))
    if sd_volume is not None:
        extra["sd"] = sd_volume * final_mask
    return {"sr": sr_volume * final_mask, "zero_filled": zero_filled, "mask": final_mask.astype(np.uint8), "n": n,
            **extra}


def _with_uncertainty(predict, lr: np.ndarray, t1: np.ndarray, flair: np.ndarray,
                      samples: int) -> tuple[np.ndarray, dict]:
    """``predict`` on the inputs; with ``samples`` ≥ 2 also on their test-time transforms (one batched call):
    the identity's output and ``{"sd", "transforms"}`` (:mod:`mrsisr.uncertainty`)."""
    if not samples:
        return predict(lr, t1, flair), {}
    from mrsisr.uncertainty import outputs_under_transforms, spread, uncertainty_transforms

    transforms = uncertainty_transforms(samples, square=lr.shape[-2] == lr.shape[-1])
    outputs = outputs_under_transforms(predict, lr, t1, flair, transforms)
    return outputs[0], {"sd": spread(outputs), "transforms": [t.to_dict() for t in transforms]}
