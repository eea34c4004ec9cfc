"""Building blocks of the Multi-encoder UNet: conditioned ``Conv → Norm → PReLU`` units."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.models.conditioning import Conditions

#: ``make_conv(in_channels, out_channels, kernel_size) -> module(x, cond)``
ConvFactory = Callable[[int, int, tuple[int, ...]], nn.Module]
#: ``make_norm(channels) -> module(x, cond)``
NormFactory = Callable[[int], nn.Module]

__all__ = ["ConvUnit", "ConvBlock", "ConvFactory", "NormFactory"]


class ConvUnit(nn.Module):
    """``-- Conv (no bias, conditioned) -- Norm (conditioned) -- PReLU(C) --``, same padding.

    Normalisation and PReLU act per channel over all its voxels, including the 3 sub-slices of a
    depth-folded level-1 tensor ``(B, C·3, H, W)`` (see
    :func:`~mrsisr.models.conditioning.fold_depth`). They run fused: two single passes for the statistics,
    one for ``scale · x + shift`` and one for PReLU, in whatever memory layout the convolution
    produced (channels-last stays channels-last).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 make_conv: ConvFactory, make_norm: NormFactory) -> None:
        super().__init__()
        self.conv = make_conv(in_channels, out_channels, kernel_size)
        self.norm = make_norm(out_channels)
        self.act = nn.PReLU(out_channels)
        self.channels = out_channels

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """(B, Cin[·3], H, W) → (B, Cout[·3], H, W)."""
        y = self.conv(x, cond)
        folded = y.shape[1] // self.channels  # 3 at level 1, else 1
        # Per-channel statistics from E[x] and E[x²]: over a channels-last tensor viewed as
        # (B, H·W, C·folded) both are single fast passes (var_mean there is twice as slow).
        flat = y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, y.shape[1])
        mean = flat.mean(dim=1)
        square = torch.linalg.vector_norm(flat, dim=1).square() / flat.shape[1]
        if folded > 1:  # pool the sub-slices
            mean = mean.unflatten(1, (self.channels, folded)).mean(dim=2)
            square = square.unflatten(1, (self.channels, folded)).mean(dim=2)
        var = (square - mean.square()).clamp_min(0)
        scale, shift = self.norm.modulation(mean, var, cond)
        if folded > 1:
            scale, shift = scale.repeat_interleave(folded, dim=1), shift.repeat_interleave(folded, dim=1)
        weight = self.act.weight.repeat_interleave(folded) if folded > 1 else self.act.weight
        if torch.is_grad_enabled() and (y.requires_grad or scale.requires_grad):
            y = torch.addcmul(shift[..., None, None], y, scale[..., None, None])
        else:  # inference: overwrite the convolution's output instead of allocating another tensor
            y = torch.addcmul(shift[..., None, None], y, scale[..., None, None], out=y)
        return F.prelu(y, weight)


class ConvBlock(nn.Module):
    """Two :class:`ConvUnit` in a row: one feature level of the encoders and of the decoder.

    Args:
        in_channels: channels in.
        out_channels: channels of both units.
        kernel_size: ``(3, 3, 3)`` for the first level (3-D), ``(3, 3)`` for the in-plane levels.
        make_conv: factory of the (conditioned) convolution.
        make_norm: factory of the (conditioned) normalisation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 make_conv: ConvFactory, make_norm: NormFactory) -> None:
        super().__init__()
        self.first = ConvUnit(in_channels, out_channels, kernel_size, make_conv, make_norm)
        self.second = ConvUnit(out_channels, out_channels, kernel_size, make_conv, make_norm)

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """(B, Cin[·3], H, W) → (B, Cout[·3], H, W)."""
        return self.second(self.first(x, cond), cond)
