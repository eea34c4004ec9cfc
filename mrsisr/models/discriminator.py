"""The WGAN critic of the adversarial term (a 4-layer strided CNN followed by FC layers)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """Critic scoring (T1w, FLAIR, upsampled LR map, upsampled SR or ground-truth map) blocks.

    ``-- Conv(4→32, 4×4×3 /2×2×3) -- IN -- LReLU -- [Conv(4×4×1 /2×2×1) -- IN -- LReLU] × 3 --
    Linear(256·h·w → 16) -- LReLU -- Linear(16 → 1)``. The 4×4×1 layers act on a single sub-slice
    and are computed as 2-D convolutions (identical arithmetic). The convolutions have no bias:
    1,284,129 parameters at ``map_size`` 64, as the authors' critic.

    Args:
        in_channels: input channels (4).
        channels: channels of the four strided convolutions (32, 64, 128, 256).
        map_size: in-plane size N of the metabolite map; the input block is ``3N × 3N × 3``.
        hidden: width of the first fully connected layer (16).
    """

    def __init__(self, in_channels: int = 4, channels: tuple[int, ...] = (32, 64, 128, 256),
                 map_size: int = 64, hidden: int = 16) -> None:
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"channels must list 4 widths, got {channels}")
        if (3 * map_size) % 16:
            raise ValueError(f"map_size must make 3·map_size divisible by 16, got {map_size}")
        # No biases: the instance normalisation after each convolution would cancel them.
        self.first = nn.Conv3d(in_channels, channels[0], (4, 4, 3), stride=(2, 2, 3), padding=(1, 1, 0), bias=False)
        self.rest = nn.ModuleList(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=False)
                                  for c_in, c_out in zip(channels[:-1], channels[1:]))
        side = 3 * map_size // 16
        self.head = nn.Sequential(nn.Linear(channels[-1] * side * side, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, 3N, 3N, 3) → (B,) critic scores."""
        h = F.leaky_relu(F.instance_norm(self.first(x), eps=1e-5), 0.2).squeeze(-1)
        for conv in self.rest:
            h = F.leaky_relu(F.instance_norm(conv(h), eps=1e-5), 0.2)
        return self.head(h.flatten(1)).squeeze(1)
