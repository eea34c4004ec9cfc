"""Training losses: masked L1, masked MS-SSIM and the WGAN-GP adversarial term (DESIGN.md §5).

``Loss = (1 − α)·L1 + α·(1 − MS-SSIM) + λ·adversarial`` with α = 0.84. Rejected voxels (quality
filter) have no valid ground truth, so the output is masked before every term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim

__all__ = ["masked_l1", "masked_ms_ssim", "generator_loss", "critic_loss", "gradient_penalty", "MSSSIM_SIZE_FACTOR"]

#: MS-SSIM is evaluated after bicubic upsampling by this factor (64 → 192 in the paper).
MSSSIM_SIZE_FACTOR = 3
_MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def masked_l1(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over valid voxels. All (B, 1, N, N); ``mask`` is 0/1."""
    mask = mask.to(output.dtype)
    return ((output - target).abs() * mask).sum() / mask.sum().clamp_min(1.0)


def _msssim_settings(side: int) -> tuple[int, list[float]]:
    """Largest Gaussian window (≤ 11, odd) and scale count that fit a ``side``-pixel image."""
    for levels in range(5, 0, -1):
        for window in range(11, 2, -2):
            if side > (window - 1) * 2 ** (levels - 1):
                weights = list(_MSSSIM_WEIGHTS[:levels])
                return window, [w / sum(weights) for w in weights]
    raise ValueError(f"maps of {side} pixels are too small for MS-SSIM")


def masked_ms_ssim(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of the masked maps after bicubic upsampling ×3 (data range 1). (B, 1, N, N) → scalar."""
    size = output.shape[-1] * MSSSIM_SIZE_FACTOR
    mask = mask.to(torch.float32)
    pair = torch.cat([output.float() * mask, target.float() * mask], dim=0)
    pair = F.interpolate(pair, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    window, weights = _msssim_settings(size)
    upsampled_output, upsampled_target = pair.chunk(2)
    return ms_ssim(upsampled_output, upsampled_target, data_range=1.0, size_average=True,
                   win_size=window, weights=weights)


def generator_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, alpha: float = 0.84,
                   critic_scores: torch.Tensor | None = None, lam: torch.Tensor | None = None,
                   focus: torch.Tensor | None = None, focus_weight: float = 0.0,
                   without_mri_lesion: torch.Tensor | None = None, invariance_weight: float = 0.0
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum of the three terms; returns the loss and its parts for logging.

    The parts are detached 0-d tensors on the loss's device: reading them (``float``) waits for
    the device, so a training loop sums them and reads the sums once per epoch.

    ``critic_scores`` (B,) are the critic's scores of the super-resolved maps and ``lam`` (B,) the
    per-sample adversarial weights; without them the adversarial term is absent.

    ``focus`` (B, 1, N, N) 0/1 marks the injected lesions' neighbourhoods
    (:func:`mrsisr.training.lesions.lesion_focus`); with ``focus_weight`` > 0 the mean absolute error
    over them (within the mask), times that weight, is added. A batch without lesions adds 0.

    ``without_mri_lesion`` (B, 1, N, N) is the generator's output for the same inputs without their
    MRI-only lesions (computed without gradient); with ``invariance_weight`` > 0 the mean absolute
    difference from it over the ``focus`` region, times that weight, is added: the MRI-only lesion must
    not change the map, whatever the other terms make of it.
    """
    l1 = masked_l1(output, target, mask)
    structural = 1.0 - masked_ms_ssim(output, target, mask)
    loss = (1.0 - alpha) * l1 + alpha * structural
    parts = {"l1": l1.detach(), "msssim": 1.0 - structural.detach()}
    if focus is not None and focus_weight > 0:
        focus_l1 = masked_l1(output, target, mask.to(output.dtype) * focus.to(output.dtype))
        loss = loss + focus_weight * focus_l1
        parts["focus_l1"] = focus_l1.detach()
    if without_mri_lesion is not None and focus is not None and invariance_weight > 0:
        change = masked_l1(output, without_mri_lesion.detach(), mask.to(output.dtype) * focus.to(output.dtype))
        loss = loss + invariance_weight * change
        parts["mri_lesion_change"] = change.detach()
    if critic_scores is not None and lam is not None:
        adversarial = -(lam.to(critic_scores.device, critic_scores.dtype) * critic_scores).mean()
        loss = loss + adversarial
        parts["adversarial"] = -critic_scores.detach().mean()
    parts["loss"] = loss.detach()
    return loss, parts


def gradient_penalty(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty ``E[(‖∇D(x̂)‖₂ − 1)²]`` on random interpolates of real and fake inputs."""
    eps = torch.rand(real.shape[0], *(1,) * (real.ndim - 1), device=real.device, dtype=real.dtype)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def critic_loss(critic: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor,
                gp_weight: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Wasserstein critic loss ``D(fake) − D(real) + w·GP``; returns it and the distance estimate
    (a detached 0-d tensor, like :func:`generator_loss`'s parts)."""
    fake = fake.detach()
    distance = critic(real).mean() - critic(fake).mean()
    return -distance + gp_weight * gradient_penalty(critic, real, fake), distance.detach()
