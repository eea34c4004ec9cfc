"""The plain computation of a :class:`~mrsisr.models.unet.MultiEncoderUNet`, for checks and baselines.

This is the network as the authors' released code computes it: 3-D tensors ``(B, C, H, W, D)``
everywhere, ``conv3d`` with 3×3×3 and 3×3×1 kernels, trilinear upsampling, 3-D pooling, and one
pass per distinct condition in the batch. It reads the parameters of the fast model (same state
dict), so the two can be compared output for output (tests) and timed against each other
(``benchmarks/``). Not meant for production use: it is several times slower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrsisr import kspace
from mrsisr.models.blocks import ConvBlock, ConvUnit
from mrsisr.models.conditioning import Conditions
from mrsisr.models.unet import MultiEncoderUNet

__all__ = ["reference_forward"]


def _conv3d(module, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
    weight = module.kernel(cond)
    if weight.ndim == 4:  # an in-plane kernel is a 3×3×1 kernel
        weight = weight.unsqueeze(-1)
    padding = tuple(k // 2 for k in weight.shape[2:])
    return F.conv3d(x, weight, module.bias_term(), padding=padding)


def _unit(unit: ConvUnit, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
    y = _conv3d(unit.conv, x, cond)
    normalised = unit.norm(y.reshape(y.shape[0], y.shape[1], -1), cond).reshape(y.shape)
    return unit.act(normalised)


def _block(block: ConvBlock, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
    return _unit(block.second, _unit(block.first, x, cond), cond)


def _single_condition(model: MultiEncoderUNet, t1: torch.Tensor, flair: torch.Tensor, lr: torch.Tensor,
                      cond: Conditions) -> torch.Tensor:
    lr_up = F.interpolate(lr.unsqueeze(-1), scale_factor=(3, 3, 3), mode="trilinear", align_corners=False)
    skips = []
    for encoder, mri in zip(model.encoders, (t1, flair)):
        x, outputs = torch.cat([lr_up, mri], dim=1), []
        for index, level in enumerate(encoder.levels):
            if index:
                x = F.max_pool3d(x, (2, 2, 3) if index == 1 else (2, 2, 1))
            x = _block(level, x, cond)
            outputs.append(x)
        skips.append(outputs)
    x = torch.cat([skips[0][-1], skips[1][-1]], dim=1)
    for offset, level in enumerate(model.decoder):
        depth = 3 - offset
        scale = (2, 2, 3) if depth == 0 else (2, 2, 1)
        x = F.interpolate(x, scale_factor=scale, mode="trilinear", align_corners=False)
        x = torch.cat([_conv3d(level.up_conv, x, cond), skips[0][depth], skips[1][depth]], dim=1)
        x = _block(level.block, x, cond)
    return F.avg_pool3d(torch.sigmoid(_conv3d(model.head, x, cond)), 3).squeeze(-1)


def reference_forward(model: MultiEncoderUNet, t1: torch.Tensor, flair: torch.Tensor, lr: torch.Tensor,
                      n: torch.Tensor, metabolite: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Same inputs and output as ``model(...)``, computed the plain 3-D way (see module docstring)."""
    batch = lr.shape[0]
    cond = Conditions(*(value.to(lr.device) for value in model.conditions(n, metabolite, lam, batch, per_sample=True).values()))
    keys = torch.stack([cond.n.double(), cond.metabolite.double(), cond.lam.double()], dim=1)
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    out = lr.new_empty(lr.shape)
    for group in range(len(unique)):
        index = (inverse == group).nonzero().squeeze(1)
        shared = Conditions(*(value[index[:1]] for value in cond.values()))
        out[index] = _single_condition(model, t1[index], flair[index], lr[index], shared)
    if not model.data_consistency:
        return out
    return kspace.data_consistency(lr, out, cond.n.to(lr.device)).to(out.dtype)
