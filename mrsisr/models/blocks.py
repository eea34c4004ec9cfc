"""Building blocks of the Multi-encoder UNet: conditioned ``Conv → Norm → PReLU`` units."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from mrsisr.models.conditioning import Conditions

#: ``make_conv(in_channels, out_channels, kernel_size) -> module(x, cond)``
ConvFactory = Callable[[int, int, tuple[int, ...]], nn.Module]
#: ``make_norm(channels) -> module(x, cond)``
NormFactory = Callable[[int], nn.Module]

__all__ = ["ConvUnit", "ConvBlock", "ConvFactory", "NormFactory"]


class ConvUnit(nn.Module):
    """``-- Conv (no bias, conditioned) -- Norm (conditioned) -- PReLU(C) --``, same padding.

    Normalisation and PReLU act per channel over all its voxels, so depth-folded level-1 tensors
    ``(B, C·3, H, W)`` (see :func:`~mrsisr.models.conditioning.fold_depth`) are viewed as
    ``(B, C, 3·H·W)`` for them.
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
        flat = y.view(y.shape[0], self.channels, -1)
        return self.act(self.norm(flat, cond)).view(y.shape)


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
