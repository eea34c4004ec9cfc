"""Image-quality metrics on quality-masked ground truth (scikit-image, scipy), for validation and evaluation."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["map_metrics", "sharpness", "high_frequency_error"]


def _masked_normalised(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask both maps and divide them by the ground truth's peak (so the data range is 1)."""
    mask = np.asarray(mask, dtype=bool)
    reference = np.where(mask, target, 0.0).astype(np.float64)
    peak = reference.max()
    if peak <= 0:
        raise ValueError("the masked ground truth is empty or not positive: no metric can be computed")
    return np.where(mask, output, 0.0) / peak, reference / peak


def map_metrics(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of a 2-D map against the ground truth, both masked to valid voxels.

    Both maps are scaled by the masked ground truth's maximum, so the data range is 1 (as the paper
    normalises each map by its maximum).
    """
    out, ref = _masked_normalised(output, target, mask)
    psnr = peak_signal_noise_ratio(ref, np.clip(out, 0, None), data_range=1.0)
    window = min(7, (min(ref.shape) // 2) * 2 - 1)
    ssim = structural_similarity(ref, out, data_range=1.0, win_size=window)
    return float(psnr), float(ssim)


def sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean gradient magnitude (Sobel) of a map scaled by its peak: rises as a map gets sharper.

    The reproducible stand-in for LPIPS (whose pretrained weights cannot be downloaded here).
    """
    image = np.asarray(image, dtype=np.float64)
    peak = image.max()
    if peak <= 0:
        return 0.0
    image = image / peak
    magnitude = np.hypot(ndimage.sobel(image, axis=0), ndimage.sobel(image, axis=1))
    return float(magnitude[np.asarray(mask, bool)].mean() if mask is not None else magnitude.mean())


def high_frequency_error(output: np.ndarray, target: np.ndarray, mask: np.ndarray, sigma: float = 1.0) -> float:
    """RMS difference of the high-pass (image − Gaussian blur) parts, on peak-scaled masked maps.

    A perceptual-sharpness error: lower means the fine detail matches the ground truth better.
    """
    out, ref = _masked_normalised(output, target, mask)
    high = (out - ndimage.gaussian_filter(out, sigma)) - (ref - ndimage.gaussian_filter(ref, sigma))
    return float(np.sqrt(np.mean(high ** 2)))
