"""``build(variant, **config)``: every network of the paper's Table 1, the MCM and the critic."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from mrsisr import METABOLITES
from mrsisr.models.conditioning import (
    AMLayerNorm,
    ConditionalInstanceNorm,
    FilterScaledConv,
    HyperConv,
    InstanceNorm,
    MatrixCode,
    MatrixMetaboliteCode,
    PlainConv,
)
from mrsisr.models.discriminator import Discriminator
from mrsisr.models.unet import MultiEncoderUNet

__all__ = ["VARIANTS", "GENERATORS", "ModelConfig", "build"]

#: Generators (called as ``model(t1, flair, lr, n, metabolite, lam)``) and what they condition on.
GENERATORS: dict[str, tuple[str, ...]] = {
    "unconditioned": (),
    "amlayer": ("n",),
    "hypernetworks": ("n",),
    "filter-scaling": ("n",),
    "filter-scaling-met": ("n", "metabolite"),
    "mcm": ("n", "metabolite", "lam"),
}
VARIANTS: tuple[str, ...] = tuple(GENERATORS) + ("discriminator",)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of a generator (paper-size defaults).

    Args:
        base_features: channels of level 1; levels double up to 16× (8 → 8, 16, 32, 64, 128).
        latent_width: width of the n and metabolite MLPs (32).
        sharpness_width: width of the λ MLPs of the CIN layers (64).
        mlp_depth: Linear layers in each condition MLP (4).
        embedding_dim: length of the metabolite embedding (3).
        data_consistency: apply the k-space data-consistency step (True).
    """

    base_features: int = 8
    latent_width: int = 32
    sharpness_width: int = 64
    mlp_depth: int = 4
    embedding_dim: int = 3
    data_consistency: bool = True
    num_metabolites: int = field(default=len(METABOLITES))

    def __post_init__(self) -> None:
        for name in ("base_features", "latent_width", "sharpness_width", "mlp_depth", "embedding_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")

    @property
    def features(self) -> tuple[int, ...]:
        return tuple(self.base_features * 2**level for level in range(5))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _conv_factory(variant: str, cfg: ModelConfig):
    width, depth = cfg.latent_width, cfg.mlp_depth
    if variant in ("unconditioned", "amlayer"):
        return lambda c_in, c_out, k: PlainConv(c_in, c_out, k)
    if variant == "hypernetworks":
        return lambda c_in, c_out, k: HyperConv(c_in, c_out, k, width, depth)
    if variant == "filter-scaling":
        return lambda c_in, c_out, k: FilterScaledConv(c_in, c_out, k, MatrixCode(width, depth))
    return lambda c_in, c_out, k: FilterScaledConv(
        c_in, c_out, k, MatrixMetaboliteCode(width, depth, cfg.embedding_dim, cfg.num_metabolites))


def _norm_factory(variant: str, cfg: ModelConfig):
    if variant == "amlayer":
        return lambda channels: AMLayerNorm(channels, cfg.latent_width, cfg.mlp_depth)
    if variant == "mcm":
        return lambda channels: ConditionalInstanceNorm(channels, cfg.sharpness_width, cfg.mlp_depth)
    return InstanceNorm


def build(variant: str, **config: Any) -> nn.Module:
    """Build a network by name.

    Args:
        variant: one of :data:`VARIANTS`.
        **config: :class:`ModelConfig` fields for generators; for ``discriminator`` the keyword
            arguments of :class:`~mrsisr.models.discriminator.Discriminator` (e.g. ``map_size``).

    Raises:
        ValueError: unknown variant or configuration key.
    """
    if variant == "discriminator":
        return Discriminator(**config)
    if variant not in GENERATORS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    known = set(ModelConfig.__dataclass_fields__)
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown configuration {sorted(unknown)} for {variant!r}; known: {sorted(known)}")
    cfg = ModelConfig(**config)
    model = MultiEncoderUNet(_conv_factory(variant, cfg), _norm_factory(variant, cfg), cfg.features,
                             uses=GENERATORS[variant], data_consistency=cfg.data_consistency)
    model.variant = variant
    model.config = cfg
    return model
