"""Conditioning layers of the Multi-Conditional Module and of the paper's baselines.

Every conditioned layer owns its conditioning networks (nothing is shared between layers), which
is what the published parameter counts assume. Conditions reach a layer as a :class:`Conditions`
of tensors of shape ``(G,)``, where ``G`` is either 1 (one condition for the whole batch: the fast
path, one ordinary convolution) or the batch size ``B`` (one condition per sample: grouped
convolution, so a batch may mix metabolites, matrix sizes and sharpness weights).

Condition encodings fed to the MLPs: ``n / 32`` (so the trained 16…32 maps to 0.5…1),
``λ / 0.1`` (the trained range 0…0.1 maps to 0…1), and the metabolite index through an embedding.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr import METABOLITES

#: Divisors that bring the raw conditions to order one before the MLPs.
MATRIX_SCALE = 32.0
SHARPNESS_SCALE = 0.1

__all__ = [
    "Conditions",
    "ConditionMLP",
    "MatrixCode",
    "MatrixMetaboliteCode",
    "FilterScaledConv",
    "HyperConv",
    "PlainConv",
    "InstanceNorm",
    "ConditionalInstanceNorm",
    "AMLayerNorm",
]


class Conditions(NamedTuple):
    """Per-sample (``G = B``) or shared (``G = 1``) conditions, each a tensor of shape ``(G,)``."""

    n: torch.Tensor
    metabolite: torch.Tensor
    lam: torch.Tensor

    @property
    def shared(self) -> bool:
        return self.n.shape[0] == 1


class ConditionMLP(nn.Sequential):
    """``depth`` Linear layers of ``width`` each followed by LeakyReLU(0.2).

    ``-- Linear(in→width) -- LReLU -- [Linear(width→width) -- LReLU] × (depth-1) --``
    """

    def __init__(self, in_features: int, width: int, depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        layers: list[nn.Module] = []
        for index in range(depth):
            layers += [nn.Linear(in_features if index == 0 else width, width), nn.LeakyReLU(0.2)]
        super().__init__(*layers)


class MatrixCode(nn.Module):
    """Code of the acquired matrix size: MLP(n/32) → ``(G, width)``."""

    def __init__(self, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.mlp = ConditionMLP(1, width, depth)
        self.out_features = width

    def forward(self, cond: Conditions) -> torch.Tensor:
        n = cond.n.to(self.mlp[0].weight.dtype).reshape(-1, 1) / MATRIX_SCALE
        return self.mlp(n)


class MatrixMetaboliteCode(nn.Module):
    """Code of (n, metabolite): ``[MLP(n/32), MLP(E(m))]`` → Linear(2w→2w) → LReLU → ``(G, 2w)``.

    ``E`` embeds the metabolite index (``len(METABOLITES)`` entries) into ``embedding_dim`` numbers.
    """

    def __init__(
        self, width: int = 32, depth: int = 4, embedding_dim: int = 3, num_metabolites: int = len(METABOLITES)
    ) -> None:
        super().__init__()
        self.matrix = MatrixCode(width, depth)
        self.embedding = nn.Embedding(num_metabolites, embedding_dim)
        self.metabolite_mlp = ConditionMLP(embedding_dim, width, depth)
        self.fuse = nn.Sequential(nn.Linear(2 * width, 2 * width), nn.LeakyReLU(0.2))
        self.out_features = 2 * width

    def forward(self, cond: Conditions) -> torch.Tensor:
        met = self.metabolite_mlp(self.embedding(cond.metabolite.long()))
        return self.fuse(torch.cat([self.matrix(cond), met], dim=1))


def _conv(x: torch.Tensor, weight: torch.Tensor, padding: tuple[int, ...], groups: int = 1,
          bias: torch.Tensor | None = None) -> torch.Tensor:
    conv = F.conv3d if weight.ndim == 5 else F.conv2d
    return conv(x, weight, bias, padding=padding, groups=groups)


def _per_sample_conv(x: torch.Tensor, weights: torch.Tensor, padding: tuple[int, ...]) -> torch.Tensor:
    """Convolve sample ``b`` of ``x`` with ``weights[b]`` in one grouped convolution.

    ``x``: (B, Cin, *S); ``weights``: (B, Cout, Cin, *k) → (B, Cout, *S).
    """
    batch, c_in = x.shape[:2]
    c_out = weights.shape[1]
    out = _conv(x.reshape(1, batch * c_in, *x.shape[2:]), weights.reshape(batch * c_out, c_in, *weights.shape[3:]),
                padding, groups=batch)
    return out.reshape(batch, c_out, *out.shape[2:])


def _padding(kernel_size: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(k // 2 for k in kernel_size)


class PlainConv(nn.Module):
    """Unconditioned convolution (2-D or 3-D by the length of ``kernel_size``), same padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...], bias: bool = False) -> None:
        super().__init__()
        if len(kernel_size) not in (2, 3):
            raise ValueError(f"kernel_size must have 2 or 3 entries, got {kernel_size}")
        self.padding = _padding(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def forward(self, x: torch.Tensor, cond: Conditions | None = None) -> torch.Tensor:
        return _conv(x, self.weight, self.padding, bias=self.bias)


class FilterScaledConv(PlainConv):
    """Convolution whose filters are scaled per (out, in) channel pair by a code of the conditions.

    ``f'[o, i] = c(cond)[o, i] · f[o, i]`` with ``c = Linear(code → Cout·Cin)`` of a
    :class:`MatrixCode` (Filter Scaling, Eqn. 2) or :class:`MatrixMetaboliteCode` (with Met, Eqn. 3).
    The scales start near one (unit bias, small weights) so training begins close to the plain
    network while the conditions already steer it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 code: nn.Module) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=False)
        self.code = code
        self.to_scale = nn.Linear(code.out_features, out_channels * in_channels)
        nn.init.uniform_(self.to_scale.weight, -0.05, 0.05)
        nn.init.ones_(self.to_scale.bias)

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        scale = self.to_scale(self.code(cond)).reshape(-1, *self.weight.shape[:2], *(1,) * (self.weight.ndim - 2))
        if cond.shared:
            return _conv(x, self.weight * scale[0], self.padding)
        return _per_sample_conv(x, self.weight * scale, self.padding)


class HyperConv(nn.Module):
    """Convolution whose whole weight is predicted from n by a Hypernetwork (no weight of its own)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.shape = (out_channels, in_channels, *kernel_size)
        self.padding = _padding(kernel_size)
        self.code = MatrixCode(width, depth)
        fan_in = in_channels * math.prod(kernel_size)
        self.to_weight = nn.Linear(width, out_channels * fan_in)
        # Generated weights start like a default convolution's (U(±1/√fan_in)), mostly from the bias.
        bound = fan_in ** -0.5
        nn.init.uniform_(self.to_weight.weight, -bound / width, bound / width)
        nn.init.uniform_(self.to_weight.bias, -bound, bound)

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        weights = self.to_weight(self.code(cond)).reshape(-1, *self.shape)
        if cond.shared:
            return _conv(x, weights[0], self.padding)
        return _per_sample_conv(x, weights, self.padding)


class InstanceNorm(nn.Module):
    """Instance normalisation without affine parameters (``eps = 1e-5``), any spatial rank."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor, cond: Conditions | None = None) -> torch.Tensor:
        return F.instance_norm(x, eps=1e-5)


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(G, C) → (G, C, 1, …) to broadcast against ``like`` of shape (B, C, *S)."""
    return values.reshape(*values.shape, *(1,) * (like.ndim - 2))


class ConditionalInstanceNorm(InstanceNorm):
    """Conditional Instance Normalisation on λ: ``y = (1 + γ(λ)) · IN(x) + β(λ)`` (Eqn. 5).

    ``[γ, β] = Linear(width → 2C)(MLP(λ/0.1))``, initialised small so the layer starts close to IN.
    """

    def __init__(self, channels: int, width: int = 64, depth: int = 4) -> None:
        super().__init__(channels)
        self.mlp = ConditionMLP(1, width, depth)
        self.to_affine = nn.Linear(width, 2 * channels)
        nn.init.uniform_(self.to_affine.weight, -0.05, 0.05)
        nn.init.zeros_(self.to_affine.bias)

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        lam = cond.lam.to(x.dtype).reshape(-1, 1) / SHARPNESS_SCALE
        gamma, beta = self.to_affine(self.mlp(lam)).chunk(2, dim=1)
        return torch.addcmul(_broadcast(beta, x), F.instance_norm(x, eps=1e-5), 1 + _broadcast(gamma, x))


class AMLayerNorm(InstanceNorm):
    """AMLayer: instance norm modulated by n and the feature statistics (adaptive modulation).

    ``s = Linear(width→C)(MLP(n/32))``; ``β = MLP([s, mean(x)])``, ``γ = MLP([s, std(x)])`` (each
    ``Linear(2C→w)``, three ``Linear(w→w)``, ``Linear(w→C)`` with LeakyReLU between);
    ``y = (1 + γ) · IN(x) + β``.
    """

    def __init__(self, channels: int, width: int = 32, depth: int = 4) -> None:
        super().__init__(channels)
        self.code = nn.Sequential(MatrixCode(width, depth), nn.Linear(width, channels))
        self.shift = nn.Sequential(ConditionMLP(2 * channels, width, depth), nn.Linear(width, channels))
        self.scale = nn.Sequential(ConditionMLP(2 * channels, width, depth), nn.Linear(width, channels))

    def forward(self, x: torch.Tensor, cond: Conditions) -> torch.Tensor:
        dims = tuple(range(2, x.ndim))
        var, mean = torch.var_mean(x, dim=dims, unbiased=False)
        code = self.code[1](self.code[0](cond)).expand(x.shape[0], -1)
        beta = self.shift(torch.cat([code, mean], dim=1))
        gamma = self.scale(torch.cat([code, (var + 1e-5).sqrt()], dim=1))
        return torch.addcmul(_broadcast(beta, x), F.instance_norm(x, eps=1e-5), 1 + _broadcast(gamma, x))
