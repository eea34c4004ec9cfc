"""The Multi-encoder UNet with data consistency, in all of the paper's conditioning variants.

Geometry (DESIGN.md §4): each encoder sees the metabolite map upsampled from ``N×N×1`` to
``3N×3N×3`` next to one MRI block (T1w or FLAIR). Level 1 works on the 3 thin sub-slices with
3×3×3 kernels; max-pooling (2,2,3) collapses the depth to one, so levels 2–5 (3×3×1 kernels on a
single sub-slice) are plain 2-D convolutions.

The computation is arranged for speed with unchanged arithmetic (checked against the plain 3-D
computation of :mod:`mrsisr.models.reference`):

* level-1 tensors keep their 3 sub-slices folded into the channels, ``(B, C·3, H, W)``, and the
  3×3×3 convolutions run as 2-D convolutions with block kernels (:func:`fold_depth`);
* trilinear upsampling from depth 1 to 3 only replicates the sub-slice, so the map's upsampling is
  a bilinear one broadcast over depth, and the last decoder convolution sums its depth taps and
  runs on the un-replicated input;
* a batch that agrees on its conditions computes each conditioned kernel once and runs ordinary
  convolutions; a mixed batch runs one grouped convolution per layer;
* the conditioning MLPs of all layers run as a few batched products per forward pass
  (:mod:`mrsisr.models.batched_conditioning`), except in inference on one shared condition, where
  each layer's conditioned kernel is computed once and remembered.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr import kspace
from mrsisr.models.blocks import ConvBlock, ConvFactory, NormFactory
from mrsisr.models.batched_conditioning import ConditioningPlan
from mrsisr.models.conditioning import CONDITION_NAMES, Conditions, PlainConv

__all__ = ["MultiEncoderUNet", "fold", "upsample_to_depth3"]

#: Activations are kept channels-last, the layout oneDNN's CPU convolutions run fastest on.
CHANNELS_LAST = torch.channels_last


def upsample_to_depth3(x: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, C, H, W) → (B, C, scale·H, scale·W, 3): bilinear in-plane, replicated over 3 sub-slices.

    Equal to trilinear upsampling of a depth-1 volume (``align_corners=False``).
    """
    up = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return up.unsqueeze(-1).expand(*up.shape, 3)


def fold(volume: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W, 3) → depth-folded (B, C·3, H, W), channel ``c·3 + d``."""
    batch, channels, height, width, depth = volume.shape
    return volume.permute(0, 1, 4, 2, 3).reshape(batch, channels * depth, height, width)


class _Encoder(nn.Module):
    """Five levels; returns the skip features of levels 1–4 and the level-5 bottleneck."""

    def __init__(self, features: tuple[int, ...], make_conv: ConvFactory, make_norm: NormFactory) -> None:
        super().__init__()
        channels = (2,) + tuple(features)
        self.levels = nn.ModuleList(
            ConvBlock(channels[i], channels[i + 1], (3, 3, 3) if i == 0 else (3, 3), make_conv, make_norm)
            for i in range(len(features))
        )

    def forward(self, x: torch.Tensor, cond: Conditions) -> list[torch.Tensor]:
        """Folded (B, 2·3, 3N, 3N) → [(B, f1·3, 3N, 3N), (B, f2, 3N/2, 3N/2), …, (B, f5, 3N/16, 3N/16)]."""
        outputs = []
        for index, level in enumerate(self.levels):
            if index == 1:  # max-pool (2, 2, 3): over the 3 sub-slices, then 2×2 in-plane
                x = F.max_pool2d(x.unflatten(1, (-1, 3)).amax(dim=2), 2).contiguous(memory_format=CHANNELS_LAST)
            elif index > 1:
                x = F.max_pool2d(x, 2)
            x = level(x, cond)
            outputs.append(x)
        return outputs


class _DecoderLevel(nn.Module):
    """Upsample, plain convolution (with bias), concatenate both encoders' skips, block."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...],
                 make_conv: ConvFactory, make_norm: NormFactory) -> None:
        super().__init__()
        self.up_conv = PlainConv(in_channels, out_channels, kernel_size, bias=True)
        self.block = ConvBlock(3 * out_channels, out_channels, kernel_size, make_conv, make_norm)

    def forward(self, x: torch.Tensor, skips: tuple[torch.Tensor, torch.Tensor], cond: Conditions) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).contiguous(memory_format=CHANNELS_LAST)
        # The last level goes from depth 1 to 3: the upsampled input is the same in every sub-slice.
        up = self.up_conv(x, replicated=len(self.up_conv.kernel_size) == 3)
        return self.block(torch.cat([up, *skips], dim=1), cond)


class MultiEncoderUNet(nn.Module):
    """Two-encoder UNet super-resolving an ``N×N`` metabolite map with T1w and FLAIR priors.

    ``lr ↑ ⊕ T1w → encoder 1 ┐
    lr ↑ ⊕ FLAIR → encoder 2 ┴→ decoder (skips of both) → 1×1×1 conv → sigmoid → avg-pool 3 → DC``

    Args:
        make_conv: factory of the block convolutions (plain, Filter Scaling, Hypernetwork, …).
        make_norm: factory of the block normalisations (IN, CIN on λ, AMLayer).
        features: channels of the five levels (paper: 8, 16, 32, 64, 128).
        uses: which conditions the variant depends on (a subset of ``("n", "metabolite", "lam")``);
            a batch whose samples agree on these runs the one-condition fast path.
        data_consistency: replace the output's central ``n×n`` k-space by the input's.

    Attributes:
        batch_conditioning: evaluate all layers' conditioning MLPs in one batched computation
            (True); False runs them layer by layer (same results, for checks).
    """

    def __init__(self, make_conv: ConvFactory, make_norm: NormFactory,
                 features: tuple[int, ...] = (8, 16, 32, 64, 128), uses: tuple[str, ...] = (),
                 data_consistency: bool = True) -> None:
        super().__init__()
        if len(features) != 5 or any(f < 1 for f in features):
            raise ValueError(f"features must be five positive channel counts, got {features}")
        unknown = set(uses) - set(CONDITION_NAMES)
        if unknown:
            raise ValueError(f"uses names unknown conditions {sorted(unknown)}; known: {CONDITION_NAMES}")
        self.features = tuple(features)
        self.uses = tuple(uses)
        self.data_consistency = data_consistency
        self.encoders = nn.ModuleList(_Encoder(self.features, make_conv, make_norm) for _ in range(2))
        self.decoder = nn.ModuleList(
            _DecoderLevel(2 * features[i + 1] if i == 3 else features[i + 1], features[i],
                          (3, 3, 3) if i == 0 else (3, 3), make_conv, make_norm)
            for i in reversed(range(4))
        )
        self.head = PlainConv(features[0], 1, (1, 1, 1), bias=True)
        self.batch_conditioning = True
        self._plan: list[ConditioningPlan] = []  # built on first use; a list keeps it out of the module tree
        self._captured: list = []  # the compiled device part, after capture_graphs()

    def _conditioned(self, cond: Conditions) -> Conditions:
        """``cond`` with every layer's conditioning precomputed, unless the layers' kernel cache serves it."""
        cached = not self.training and not torch.is_grad_enabled() and cond.shared
        if not self.batch_conditioning or cached:
            return cond
        if not self._plan:
            self._plan.append(ConditioningPlan(self))
        return cond._replace(codes=self._plan[0].evaluate(cond))

    def conditions(self, n: torch.Tensor, metabolite: torch.Tensor, lam: torch.Tensor,
                   batch: int, per_sample: bool = False) -> Conditions:
        """Pack the conditions; collapse them to one (``G = 1``) when the batch agrees on them."""
        def as_batch(value: torch.Tensor | float, dtype: torch.dtype) -> torch.Tensor:
            value = torch.as_tensor(value, dtype=dtype)
            value = value.reshape(-1)
            if value.numel() == 1:
                value = value.expand(batch)
            if value.numel() != batch:
                raise ValueError(f"a condition has {value.numel()} values for a batch of {batch}")
            return value

        cond = Conditions(as_batch(n, torch.int64), as_batch(metabolite, torch.int64),
                          as_batch(lam, torch.float32))
        if per_sample or batch == 1:
            return cond
        if all(bool((getattr(cond, name) == getattr(cond, name)[0]).all()) for name in self.uses):
            return Conditions(*(value[:1] for value in cond.values()))
        return cond

    def forward(self, t1: torch.Tensor, flair: torch.Tensor, lr: torch.Tensor, n: torch.Tensor,
                metabolite: torch.Tensor, lam: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
        """Super-resolve a batch of zero-filled maps.

        Args:
            t1, flair: MRI blocks (B, 1, 3N, 3N, 3), each scaled to [0, 1].
            lr: zero-filled magnitude maps (B, 1, N, N), scaled to [0, 1].
            n: acquired matrix sizes (B,) (even, ≤ N).
            metabolite: indices into :data:`mrsisr.METABOLITES` (B,).
            lam: sharpness weights λ (B,).
            per_sample: force the per-sample (grouped) path even when conditions agree (reference).

        Returns:
            super-resolved maps (B, 1, N, N).
        """
        if t1.shape != flair.shape or t1.ndim != 5 or t1.shape[-1] != 3:
            raise ValueError(f"t1 and flair must both be (B, 1, 3N, 3N, 3), got {tuple(t1.shape)}, {tuple(flair.shape)}")
        if lr.ndim != 4 or t1.shape[2:4] != (3 * lr.shape[2], 3 * lr.shape[3]):
            raise ValueError(f"lr must be (B, 1, N, N) with the MRI at 3N, got {tuple(lr.shape)} for {tuple(t1.shape)}")
        cond = self.conditions(n, metabolite, lam, lr.shape[0], per_sample)
        key = None  # the host-side condition, for the layers' kernel caches in inference
        if cond.shared and cond.n.device.type == "cpu" and not self.training and not torch.is_grad_enabled():
            key = (int(cond.n[0]), int(cond.metabolite[0]), float(cond.lam[0]))
        # copies that do not wait for the GPU to finish its queued work
        on_device = [value.to(lr.device, non_blocking=True) for value in cond.values()]
        mask = None
        if self.data_consistency:  # checked on the host, then moved
            mask = kspace.central_mask(lr.shape[-1], torch.as_tensor(n).reshape(-1).expand(lr.shape[0]), lr.device)
        network = self._captured[0] if self._captured and self.training else self._network  # inference: eager
        return network(t1, flair, lr, *on_device, mask, key)

    def capture_graphs(self, mode: str | None = "reduce-overhead", **options) -> None:
        """Compile the device part of the training forward pass (``torch.compile``; CUDA graphs by default).

        It takes device tensors only (the conditions are moved and checked before it), so its graph
        can be replayed; the host part (choosing the path, validating) stays eager, and so does
        inference. ``options`` go to ``torch.compile`` (e.g. ``backend``).
        """
        self._captured[:] = [torch.compile(self._network, mode=mode, dynamic=False, **options)]

    def _network(self, t1: torch.Tensor, flair: torch.Tensor, lr: torch.Tensor, n: torch.Tensor,
                 metabolite: torch.Tensor, lam: torch.Tensor, mask: torch.Tensor | None,
                 key: tuple | None) -> torch.Tensor:
        """The forward pass on device tensors; ``mask``: the data-consistency mask (B, 1, N, N)."""
        cond = self._conditioned(Conditions(n, metabolite, lam, key=key))
        lr_up = F.interpolate(lr, scale_factor=3, mode="bilinear", align_corners=False)
        lr_up = lr_up.expand(-1, 3, -1, -1)  # the map, replicated over the 3 sub-slices (folded)
        # channels-last from the start: the layout oneDNN's convolutions run fastest on the CPU
        inputs = [torch.cat([lr_up, fold(mri)], dim=1).contiguous(memory_format=CHANNELS_LAST)
                  for mri in (t1, flair)]
        skips = [encoder(x, cond) for encoder, x in zip(self.encoders, inputs)]
        x = torch.cat([skips[0][-1], skips[1][-1]], dim=1)
        for offset, level in enumerate(self.decoder):
            depth = 3 - offset
            x = level(x, (skips[0][depth], skips[1][depth]), cond)
        # sigmoid, then 3×3×3 average pooling: the mean over sub-slices and 3×3 in-plane
        sr = F.avg_pool2d(torch.sigmoid(self.head(x)).mean(dim=1, keepdim=True), 3)
        if mask is None:
            return sr
        # in float32 (FFTs have no reduced-precision kernels under autocast)
        return kspace.data_consistency(lr.float(), sr.float(), None, mask=mask).to(sr.dtype)
