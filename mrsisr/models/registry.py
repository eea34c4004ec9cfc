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

__all__ = ["VARIANT_TABLE", "VARIANTS", "GENERATORS", "Variant", "ModelConfig", "build", "variant_spec"]

#: What each kind of block convolution and of normalisation is conditioned on.
CONVOLUTIONS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "hypernetwork": ("n",),
    "filter-scaling": ("n",),
    "filter-scaling-met": ("n", "metabolite"),
}
NORMALISATIONS: dict[str, tuple[str, ...]] = {
    "instance": (),
    "amlayer": ("n",),
    "cin-lambda": ("lam",),
}


@dataclass(frozen=True)
class Variant:
    """One generator of the paper's Table 1: how its block convolutions and normalisations are conditioned.

    Args:
        convolutions: a key of :data:`CONVOLUTIONS`.
        normalisations: a key of :data:`NORMALISATIONS`.
        uses_lambda: λ is an input (the sharpness-conditioned variant: adversarial training, λ sweeps).
    """

    convolutions: str
    normalisations: str
    uses_lambda: bool

    def __post_init__(self) -> None:
        if self.convolutions not in CONVOLUTIONS:
            raise ValueError(f"unknown convolutions {self.convolutions!r}; known: {sorted(CONVOLUTIONS)}")
        if self.normalisations not in NORMALISATIONS:
            raise ValueError(f"unknown normalisations {self.normalisations!r}; known: {sorted(NORMALISATIONS)}")
        if self.uses_lambda != ("lam" in self.conditions):
            raise ValueError(f"uses_lambda={self.uses_lambda} contradicts the conditioning {self.conditions}")

    @property
    def conditions(self) -> tuple[str, ...]:
        """The conditions the network depends on, in the order ``n, metabolite, lam``."""
        used = set(CONVOLUTIONS[self.convolutions]) | set(NORMALISATIONS[self.normalisations])
        return tuple(name for name in ("n", "metabolite", "lam") if name in used)


#: The generators (called as ``model(t1, flair, lr, n, metabolite, lam)``): read by the factory
#: (:func:`build`), the trainer (adversarial term on λ) and the evaluator (λ sweeps).
VARIANT_TABLE: dict[str, Variant] = {
    "unconditioned": Variant(convolutions="plain", normalisations="instance", uses_lambda=False),
    "amlayer": Variant(convolutions="plain", normalisations="amlayer", uses_lambda=False),
    "hypernetworks": Variant(convolutions="hypernetwork", normalisations="instance", uses_lambda=False),
    "filter-scaling": Variant(convolutions="filter-scaling", normalisations="instance", uses_lambda=False),
    "filter-scaling-met": Variant(convolutions="filter-scaling-met", normalisations="instance", uses_lambda=False),
    "mcm": Variant(convolutions="filter-scaling-met", normalisations="cin-lambda", uses_lambda=True),
}
#: Each generator's conditions (derived from :data:`VARIANT_TABLE`).
GENERATORS: dict[str, tuple[str, ...]] = {name: spec.conditions for name, spec in VARIANT_TABLE.items()}
VARIANTS: tuple[str, ...] = tuple(VARIANT_TABLE) + ("discriminator",)


def variant_spec(name: str) -> Variant:
    """The table entry of a generator; an unknown name is a ``ValueError`` naming the known ones."""
    try:
        return VARIANT_TABLE[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


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


def _conv_factory(kind: str, cfg: ModelConfig):
    width, depth = cfg.latent_width, cfg.mlp_depth
    factories = {
        "plain": lambda c_in, c_out, k: PlainConv(c_in, c_out, k),
        "hypernetwork": lambda c_in, c_out, k: HyperConv(c_in, c_out, k, width, depth),
        "filter-scaling": lambda c_in, c_out, k: FilterScaledConv(c_in, c_out, k, MatrixCode(width, depth)),
        "filter-scaling-met": lambda c_in, c_out, k: FilterScaledConv(
            c_in, c_out, k, MatrixMetaboliteCode(width, depth, cfg.embedding_dim, cfg.num_metabolites)),
    }
    return factories[kind]


def _norm_factory(kind: str, cfg: ModelConfig):
    factories = {
        "instance": InstanceNorm,
        "amlayer": lambda channels: AMLayerNorm(channels, cfg.latent_width, cfg.mlp_depth),
        "cin-lambda": lambda channels: ConditionalInstanceNorm(channels, cfg.sharpness_width, cfg.mlp_depth),
    }
    return factories[kind]


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
    spec = variant_spec(variant)
    known = set(ModelConfig.__dataclass_fields__)
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown configuration {sorted(unknown)} for {variant!r}; known: {sorted(known)}")
    cfg = ModelConfig(**config)
    model = MultiEncoderUNet(_conv_factory(spec.convolutions, cfg), _norm_factory(spec.normalisations, cfg),
                             cfg.features, uses=spec.conditions, data_consistency=cfg.data_consistency)
    model.variant = variant
    model.config = cfg
    return model
