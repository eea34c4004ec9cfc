"""Networks of mrsisr: the Multi-encoder UNet with the Multi-Conditional Module, its baselines and
the WGAN critic. Plain PyTorch: nothing here imports nipype or BIDS tooling.

>>> from mrsisr.models import build
>>> model = build("mcm")                       # paper size
>>> sum(p.numel() for p in build("unconditioned").parameters())
967601
"""

from mrsisr.models.registry import GENERATORS, VARIANT_TABLE, VARIANTS, ModelConfig, Variant, build, variant_spec

__all__ = ["GENERATORS", "VARIANT_TABLE", "VARIANTS", "ModelConfig", "Variant", "build", "variant_spec"]
