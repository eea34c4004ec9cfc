"""Conditioning layers of the Multi-Conditional Module and of the paper's baselines.

Every conditioned layer owns its conditioning networks (nothing is shared between layers), which
is what the published parameter counts assume. Conditions reach a layer as a :class:`Conditions`
of tensors of shape ``(G,)``, where ``G`` is either 1 (one condition for the whole batch: the fast
path, one ordinary convolution) or the batch size ``B`` (one condition per sample: grouped
convolution, so a batch may mix metabolites, matrix sizes and sharpness weights).

Each conditioned layer's conditioning depends on the conditions only, never on the features (for
AMLayer: its code of n), so a model evaluates all of them for a step at once
(:func:`mrsisr.models.batched_conditioning.evaluate_conditioning`, stacked per-layer weights) and
hands the results to the layers in :attr:`Conditions.codes`; a layer without a precomputed result
computes its own (:meth:`ConditionedLayer.conditioning`), which is also the reference arithmetic.

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
    "CONDITION_NAMES",
    "Conditions",
    "ConditionedLayer",
    "ConditionMLP",
    "MatrixCode",
    "MatrixMetaboliteCode",
    "FilterScaledConv",
    "HyperConv",
    "PlainConv",
    "InstanceNorm",
    "ConditionalInstanceNorm",
    "AMLayerNorm",
    "sharpness_parameters",
    "SharpnessOrigin",
    "recentre_sharpness",
    "trained_sharpness",
]


#: The conditions a network may depend on.
CONDITION_NAMES = ("n", "metabolite", "lam")


class Conditions(NamedTuple):
    """Per-sample (``G = B``) or shared (``G = 1``) conditions, each a tensor of shape ``(G,)``.

    ``codes`` optionally maps conditioned layers to their precomputed conditioning ``(G, out)``
    (see :class:`ConditionedLayer`); ``key`` is the host-side ``(n, metabolite, λ)`` of a shared
    condition, which caches use instead of reading the tensors back from the GPU.
    """

    n: torch.Tensor
    metabolite: torch.Tensor
    lam: torch.Tensor
    codes: dict[nn.Module, torch.Tensor] | None = None
    key: tuple[int, int, float] | None = None

    def values(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(n, metabolite, lam)``."""
        return self.n, self.metabolite, self.lam

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


class ConditionedLayer:
    """Mixin of the layers whose conditioning is ``head(trunk(conditions))``, independent of the features.

    :meth:`condition_parts` names the trunk and the head so that a model can evaluate every layer's
    conditioning in one batched computation; :meth:`conditioning` returns the precomputed result
    when the conditions carry one, else computes it with the layer's own modules.
    """

    def condition_parts(self) -> tuple[str, nn.Module, nn.Linear]:
        """``(source, trunk, head)``: ``source`` is ``"code"`` (the trunk is a :class:`MatrixCode` or
        :class:`MatrixMetaboliteCode` called with the conditions) or ``"lam"`` (a
        :class:`ConditionMLP` of ``λ / 0.1``)."""
        raise NotImplementedError

    def conditioning(self, cond: Conditions) -> torch.Tensor:
        """The layer's conditioning ``(G, head.out_features)``."""
        if cond.codes is not None and self in cond.codes:
            return cond.codes[self]
        source, trunk, head = self.condition_parts()
        if source == "lam":
            return head(trunk(cond.lam.to(head.weight.dtype).reshape(-1, 1) / SHARPNESS_SCALE))
        return head(trunk(cond))


def sharpness_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the λ path: trunk and head of every layer conditioned on λ (the CIN MLPs).

    What a fine-tune of the sharpness control trains while the rest of the network stays as it is
    (``mrsisr-train --trainable sharpness``); empty for a network that does not take λ.
    """
    found: dict[int, nn.Parameter] = {}
    for trunk, head in _sharpness_paths(model):
        found.update((id(p), p) for p in (*trunk.parameters(), *head.parameters()))
    return list(found.values())


def _sharpness_paths(model: nn.Module) -> list[tuple[nn.Module, nn.Linear]]:
    """``(trunk, head)`` of every layer conditioned on λ, each pair once."""
    paths: dict[tuple[int, int], tuple[nn.Module, nn.Linear]] = {}
    for module in model.modules():
        if isinstance(module, ConditionedLayer):
            source, trunk, head = module.condition_parts()
            if source == "lam":
                paths.setdefault((id(trunk), id(head)), (trunk, head))
    return list(paths.values())


class SharpnessOrigin:
    """The λ = 0 conditioning of every λ-conditioned layer, recorded once and put back on demand.

    A fine-tune of the λ path (:func:`sharpness_parameters`) moves the CIN MLPs' output at every λ,
    λ = 0 included, so the reconstruction network drifts with the sharpness control. Calling
    :meth:`restore` after each optimiser step shifts each head's bias by exactly the drift of
    ``head(trunk(0))``: the λ = 0 network stays the recorded one (to float rounding) while the
    trunk and the head's weights remain free to change what λ > 0 does. A projected gradient step:
    the constraint "λ = 0 is the trained reconstruction network" holds after every step.
    """

    def __init__(self, model: nn.Module) -> None:
        with torch.no_grad():
            self.layers = [(trunk, head, self._at_zero(trunk, head)) for trunk, head in _sharpness_paths(model)]

    @staticmethod
    def _at_zero(trunk: nn.Module, head: nn.Linear) -> torch.Tensor:
        """``head(trunk(λ = 0))``: ``(head.out_features,)``."""
        return head(trunk(torch.zeros(1, 1, dtype=head.weight.dtype, device=head.weight.device)))[0]

    @torch.no_grad()
    def restore(self) -> None:
        """Make every layer's λ = 0 conditioning the recorded one again."""
        for trunk, head, target in self.layers:
            head.bias.add_(target - self._at_zero(trunk, head))

    @torch.no_grad()
    def drift(self) -> float:
        """The largest absolute change of any λ = 0 conditioning value since it was recorded."""
        return max((float((self._at_zero(trunk, head) - target).abs().max())
                    for trunk, head, target in self.layers), default=0.0)


@torch.no_grad()
def recentre_sharpness(model: nn.Module, origin: float, top: float = SHARPNESS_SCALE) -> int:
    """Make λ = 0 the network's former λ = ``origin`` and keep λ = ``top`` where it was; in place.

    Every λ path reads ``λ / 0.1`` through a first ``Linear(1 → width)``. Substituting
    ``λ ↦ origin + λ · (top − origin) / top`` into that layer is an exact affine change of its
    weight and bias, so the recentred network at λ is, to float rounding, the original one at
    ``origin + λ · (top − origin) / top``: the trained range ``[0, top]`` becomes ``[origin, top]``
    and the weights format is unchanged. Used to start the sharpness control at the λ of highest
    fidelity when a λ-path fine-tune leaves that optimum slightly above λ = 0. Returns the number of
    λ paths changed (0 for a network that does not take λ).
    """
    if not 0.0 <= origin < top:
        raise ValueError(f"the new λ = 0 must lie in [0, {top}), got {origin}")
    scale = (top - origin) / top
    shift = origin / SHARPNESS_SCALE
    first_layers = {id(trunk[0]): trunk[0] for trunk, _ in _sharpness_paths(model)}
    for first in first_layers.values():
        if not (isinstance(first, nn.Linear) and first.in_features == 1):
            raise TypeError(f"a λ path must start with Linear(1 → width), found {first}")
        first.bias.add_(first.weight[:, 0] * shift)
        first.weight.mul_(scale)
    return len(first_layers)


def trained_sharpness(lam: float, origin: float, top: float = SHARPNESS_SCALE) -> float:
    """The λ a network recentred at ``origin`` (:func:`recentre_sharpness`) was trained at for a given λ."""
    return origin + lam * (top - origin) / top


def fold_depth(weight: torch.Tensor, replicated: bool = False) -> torch.Tensor:
    """Turn 3×3×3 kernels into 2-D kernels acting on depth-folded tensors.

    Level 1 of the UNet holds 3 thin sub-slices; its tensors are kept as ``(B, C·3, H, W)`` with
    channel ``c·3 + d`` for sub-slice ``d`` (the depth folded into the channels). A 3×3×3
    convolution with zero padding in depth is then one 2-D convolution whose kernel
    ``(Cout·3, Cin·3, 3, 3)`` has block ``(d, d')`` equal to the depth tap ``d' − d + 1`` (zero when
    ``|d' − d| > 1``): the same arithmetic, far better vectorised than a 3-D convolution of depth 3.

    With ``replicated`` the input is known to be identical in its 3 sub-slices (trilinear
    upsampling from depth 1), so the taps are summed instead: kernel ``(Cout·3, Cin, 3, 3)``
    applied to the un-replicated ``(B, Cin, H, W)`` input.

    ``weight``: (…, Cout, Cin, kh, kw, 3).
    """
    taps = weight.unbind(-1)
    if replicated:
        per_depth = [taps[1] + taps[2], taps[0] + taps[1] + taps[2], taps[0] + taps[1]]
        return torch.stack(per_depth, dim=-4).flatten(-5, -4)
    zeros = torch.zeros_like(taps[0])
    rows = [torch.stack([taps[dp - d + 1] if abs(dp - d) <= 1 else zeros for dp in range(3)], dim=-3)
            for d in range(3)]
    return torch.stack(rows, dim=-5).flatten(-6, -5).flatten(-4, -3)


def _conv(x: torch.Tensor, weight: torch.Tensor, padding: int, groups: int = 1,
          bias: torch.Tensor | None = None) -> torch.Tensor:
    return F.conv2d(x, weight, bias, padding=padding, groups=groups)


class _Conv(nn.Module):
    """Base of the convolutions: subclasses give their (conditioned) kernel, this applies it.

    In-plane kernels ``(3, 3)`` act on ``(B, C, H, W)``; 3×3×3 kernels act on depth-folded
    ``(B, C·3, H, W)`` tensors (see :func:`fold_depth`), or on a ``(B, C, H, W)`` input that stands
    for a depth-replicated one when called with ``replicated=True``. 1×1×1 kernels act per sub-slice.
    """

    def __init__(self, kernel_size: tuple[int, ...]) -> None:
        super().__init__()
        if len(kernel_size) not in (2, 3) or (len(kernel_size) == 3 and kernel_size[2] not in (1, 3)):
            raise ValueError(f"kernel_size must be (k, k), (k, k, 1) or (k, k, 3), got {kernel_size}")
        self.kernel_size = tuple(kernel_size)
        self.padding = kernel_size[0] // 2
        self._kernel_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def kernel(self, cond: Conditions | None) -> torch.Tensor:
        """(Cout, Cin, *k) for a shared condition, else (B, Cout, Cin, *k)."""
        raise NotImplementedError

    def bias_term(self) -> torch.Tensor | None:
        return None

    def _as_2d(self, weight: torch.Tensor, replicated: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        bias = self.bias_term()
        if len(self.kernel_size) == 2:
            return weight, bias
        if self.kernel_size[2] == 1:  # per sub-slice: taps (0, w, 0) give a block-diagonal kernel
            weight = F.pad(weight, (1, 1))
        weight = fold_depth(weight, replicated)
        return weight, (bias.repeat_interleave(3) if bias is not None else None)

    def _shared_kernel(self, cond: Conditions | None, replicated: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The 2-D kernel of one shared condition, remembered while nothing can change it.

        Inference applies the same (n, metabolite, λ) to every slice of a metabolite, so outside
        autograd the conditioned, folded kernel is computed once per condition and parameter state
        (the parameters' version counters, bumped by every in-place update, are part of the key).
        """
        if self.training or torch.is_grad_enabled() or cond is None:
            return self._as_2d(self.kernel(cond), replicated)
        parameters = tuple(self.parameters())
        values = cond.key if cond.key is not None else (cond.n.item(), cond.metabolite.item(), cond.lam.item())
        key = (*values, replicated,
               tuple((p.data_ptr(), p._version) for p in parameters))
        if key not in self._kernel_cache:
            if len(self._kernel_cache) >= 4:
                self._kernel_cache.pop(next(iter(self._kernel_cache)))
            self._kernel_cache[key] = self._as_2d(self.kernel(cond), replicated)
        return self._kernel_cache[key]

    def forward(self, x: torch.Tensor, cond: Conditions | None = None, replicated: bool = False) -> torch.Tensor:
        """(B, Cin[·3], H, W) → (B, Cout[·3], H, W)."""
        if cond is None or cond.shared:
            weight, bias = self._shared_kernel(cond, replicated)
            return _conv(x, weight, self.padding, bias=bias)
        weight = self.kernel(cond)
        shared = weight.ndim == len(self.kernel_size) + 2
        weight, bias = self._as_2d(weight, replicated)
        if shared:
            return _conv(x, weight, self.padding, bias=bias)
        batch = x.shape[0]
        out = _conv(x.reshape(1, -1, *x.shape[2:]), weight.flatten(0, 1), self.padding, groups=batch)
        out = out.reshape(batch, -1, *out.shape[2:])
        return out if bias is None else out + bias.reshape(1, -1, 1, 1)


class PlainConv(_Conv):
    """Unconditioned convolution, same padding (``kernel_size`` (3, 3), (3, 3, 3) or (1, 1, 1))."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...], bias: bool = False) -> None:
        super().__init__(kernel_size)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)

    def kernel(self, cond: Conditions | None = None) -> torch.Tensor:
        return self.weight

    def bias_term(self) -> torch.Tensor | None:
        return self.bias


class FilterScaledConv(PlainConv, ConditionedLayer):
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

    def condition_parts(self) -> tuple[str, nn.Module, nn.Linear]:
        return "code", self.code, self.to_scale

    def kernel(self, cond: Conditions) -> torch.Tensor:
        scale = self.conditioning(cond).reshape(-1, *self.weight.shape[:2], *(1,) * (self.weight.ndim - 2))
        return self.weight * scale[0] if cond.shared else self.weight * scale


class HyperConv(_Conv, ConditionedLayer):
    """Convolution whose whole weight is predicted from n by a Hypernetwork (no weight of its own)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 width: int = 32, depth: int = 4) -> None:
        super().__init__(kernel_size)
        self.shape = (out_channels, in_channels, *kernel_size)
        self.code = MatrixCode(width, depth)
        fan_in = in_channels * math.prod(kernel_size)
        self.to_weight = nn.Linear(width, out_channels * fan_in)
        # Generated weights start like a default convolution's (U(±1/√fan_in)), mostly from the bias.
        bound = fan_in ** -0.5
        nn.init.uniform_(self.to_weight.weight, -bound / width, bound / width)
        nn.init.uniform_(self.to_weight.bias, -bound, bound)

    def condition_parts(self) -> tuple[str, nn.Module, nn.Linear]:
        return "code", self.code, self.to_weight

    def kernel(self, cond: Conditions) -> torch.Tensor:
        weights = self.conditioning(cond).reshape(-1, *self.shape)
        return weights[0] if cond.shared else weights


class InstanceNorm(nn.Module):
    """Instance normalisation without affine parameters (``eps = 1e-5``).

    Every normalisation here is an affine map per (sample, channel) of the channel's statistics:
    :meth:`modulation` turns the biased variance and the mean into ``(scale, shift)`` so that
    ``y = scale · x + shift``. The UNet applies it fused with PReLU on any tensor layout;
    :meth:`forward` applies it to ``(B, C, L)`` (the plain reference computation).
    """

    eps = 1e-5

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def modulation(self, mean: torch.Tensor, var: torch.Tensor, cond: Conditions | None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) statistics → (scale, shift), each broadcastable to (B, C)."""
        scale = torch.rsqrt(var + self.eps)
        return scale, -mean * scale

    def forward(self, x: torch.Tensor, cond: Conditions | None = None) -> torch.Tensor:
        """(B, C, L) → (B, C, L)."""
        var, mean = torch.var_mean(x, dim=2, unbiased=False)
        scale, shift = self.modulation(mean, var, cond)
        return torch.addcmul(shift.unsqueeze(-1), x, scale.unsqueeze(-1))


class ConditionalInstanceNorm(InstanceNorm, ConditionedLayer):
    """Conditional Instance Normalisation on λ: ``y = (1 + γ(λ)) · IN(x) + β(λ)`` (Eqn. 5).

    ``[γ, β] = Linear(width → 2C)(MLP(λ/0.1))``, initialised small so the layer starts close to IN.
    """

    def __init__(self, channels: int, width: int = 64, depth: int = 4) -> None:
        super().__init__(channels)
        self.mlp = ConditionMLP(1, width, depth)
        self.to_affine = nn.Linear(width, 2 * channels)
        nn.init.uniform_(self.to_affine.weight, -0.05, 0.05)
        nn.init.zeros_(self.to_affine.bias)

    def condition_parts(self) -> tuple[str, nn.Module, nn.Linear]:
        return "lam", self.mlp, self.to_affine

    def modulation(self, mean, var, cond):
        gamma, beta = self.conditioning(cond).chunk(2, dim=1)
        scale = (1 + gamma) * torch.rsqrt(var + self.eps)
        return scale, beta - mean * scale


class AMLayerNorm(InstanceNorm, ConditionedLayer):
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

    def condition_parts(self) -> tuple[str, nn.Module, nn.Linear]:
        return "code", self.code[0], self.code[1]

    def modulation(self, mean, var, cond):
        code = self.conditioning(cond).expand(mean.shape[0], -1)
        std = torch.sqrt(var + self.eps)
        beta = self.shift(torch.cat([code, mean], dim=1))
        gamma = self.scale(torch.cat([code, std], dim=1))
        scale = (1 + gamma) / std
        return scale, beta - mean * scale
