"""Every conditioned layer's conditioning of a step in a few batched products.

Each conditioned layer owns its MLPs (DESIGN.md §4: nothing is shared between layers), but all of
them read the same conditions (n, metabolite, λ), and the MLPs of one kind have the same shapes in
every layer. Evaluated layer by layer, the paper-size MCM network runs some 900 tiny kernels per
forward pass for its conditioning alone (28 filter-scaled convolutions with two 4-layer MLPs, an
embedding and a fusion layer each; 28 CIN layers with a 4-layer MLP each), which is what bounds a
GPU step at batch 8. Here the per-layer weights are stacked (the parameters stay where they are, so
state dicts, weights files and parameter counts are unchanged) and each group of same-shaped layers
runs as one ``bmm``:

* the first Linear of every n (or λ) MLP is one matrix product with the concatenated weights (the
  input is shared by all layers), the next ones one ``baddbmm`` per group;
* the metabolite embeddings are one gather from the stacked tables;
* the heads (``Linear(code → Cout·Cin)``, ``Linear(code → 2C)``, …) are grouped by shape.

The result maps each layer to its conditioning ``(G, out)``; layers read it through
:meth:`~mrsisr.models.conditioning.ConditionedLayer.conditioning`. Same arithmetic as the per-layer
computation up to the summation order of the products (float rounding).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import torch
from torch import nn

from mrsisr.models.conditioning import (
    MATRIX_SCALE,
    SHARPNESS_SCALE,
    ConditionedLayer,
    Conditions,
    MatrixCode,
    MatrixMetaboliteCode,
)

__all__ = ["ConditioningPlan", "evaluate_conditioning"]


def _signature(module: nn.Module) -> tuple:
    """What must agree for modules to be stacked: the shapes of their parameters and their types."""
    return tuple((type(m).__name__, tuple(tuple(p.shape) for p in m.parameters(recurse=False)),
                  getattr(m, "negative_slope", None)) for m in module.modules())


def _groups(modules: Iterable[nn.Module]) -> list[list[nn.Module]]:
    """Unique modules grouped by :func:`_signature`, in first-seen order."""
    groups: dict[tuple, list[nn.Module]] = defaultdict(list)
    seen: set[int] = set()
    for module in modules:
        if id(module) not in seen:
            seen.add(id(module))
            groups[_signature(module)].append(module)
    return list(groups.values())


def _stacked_linear(layers: list[nn.Linear], x: torch.Tensor) -> torch.Tensor:
    """``layers[l](x[l])`` for every l: x (L, G, in) → (L, G, out); a shared x (G, in) is allowed."""
    if len(layers) == 1:
        return layers[0](x if x.ndim == 2 else x[0]).unsqueeze(0)
    if x.ndim == 2:  # one product with the concatenated weights
        weight = torch.cat([layer.weight for layer in layers])
        bias = torch.cat([layer.bias for layer in layers])
        return torch.addmm(bias, x, weight.t()).unflatten(1, (len(layers), -1)).transpose(0, 1)
    weight = torch.stack([layer.weight for layer in layers])
    bias = torch.stack([layer.bias for layer in layers])
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _stacked_mlp(mlps: list[nn.Sequential], x: torch.Tensor) -> torch.Tensor:
    """Same-shaped Sequentials of Linear and activation layers, applied to x (L, G, in) or shared (G, in)."""
    for position, layer in enumerate(mlps[0]):
        if isinstance(layer, nn.Linear):
            x = _stacked_linear([mlp[position] for mlp in mlps], x)
        else:  # the same parameter-free activation in every MLP (checked by the signature)
            x = layer(x)
    return x if x.ndim == 3 else x.unsqueeze(0).expand(len(mlps), -1, -1)


class ConditioningPlan:
    """The conditioned layers of a model, grouped for :func:`evaluate_conditioning` (built once)."""

    def __init__(self, model: nn.Module) -> None:
        self.layers = [m for m in model.modules() if isinstance(m, ConditionedLayer)]
        parts = {layer: layer.condition_parts() for layer in self.layers}
        self.trunk_of = {layer: trunk for layer, (_, trunk, _) in parts.items()}
        self.head_of = {layer: head for layer, (_, _, head) in parts.items()}
        trunks = [trunk for source, trunk, _ in parts.values() if source == "code"]
        for trunk in trunks:
            if not isinstance(trunk, (MatrixCode, MatrixMetaboliteCode)):
                raise TypeError(f"cannot batch a conditioning trunk of type {type(trunk).__name__}")
        self.met_codes = _groups(t for t in trunks if isinstance(t, MatrixMetaboliteCode))
        matrix = [t.matrix if isinstance(t, MatrixMetaboliteCode) else t for t in trunks]
        self.matrix_codes = _groups(matrix)
        self.lam_mlps = _groups(trunk for source, trunk, _ in parts.values() if source == "lam")
        by_shape: dict[tuple, list[ConditionedLayer]] = defaultdict(list)
        for layer, head in self.head_of.items():
            by_shape[tuple(head.weight.shape)].append(layer)
        self.head_groups = list(by_shape.values())

    def evaluate(self, cond: Conditions) -> dict[nn.Module, torch.Tensor]:
        """Each conditioned layer's conditioning ``(G, out)`` for ``cond``."""
        if not self.layers:
            return {}
        dtype = self.head_of[self.layers[0]].weight.dtype
        trunk_out: dict[nn.Module, torch.Tensor] = {}

        def run(group: list[nn.Module], mlps: list[nn.Sequential], x: torch.Tensor) -> None:
            for module, out in zip(group, _stacked_mlp(mlps, x).unbind(0)):
                trunk_out[module] = out

        n = cond.n.to(dtype).reshape(-1, 1) / MATRIX_SCALE
        for group in self.matrix_codes:
            run(group, [code.mlp for code in group], n)
        lam = cond.lam.to(dtype).reshape(-1, 1) / SHARPNESS_SCALE
        for group in self.lam_mlps:
            run(group, group, lam)
        metabolite = cond.metabolite.long()
        for group in self.met_codes:
            tables = torch.stack([code.embedding.weight for code in group])  # (L, num_metabolites, dim)
            met = _stacked_mlp([code.metabolite_mlp for code in group], tables[:, metabolite])
            matrix = torch.stack([trunk_out[code.matrix] for code in group])
            run(group, [code.fuse for code in group], torch.cat([matrix, met], dim=2))
        codes = {}
        for group in self.head_groups:
            x = torch.stack([trunk_out[self.trunk_of[layer]] for layer in group])
            out = _stacked_linear([self.head_of[layer] for layer in group], x)
            codes.update(zip(group, out.unbind(0)))
        return codes


def evaluate_conditioning(model: nn.Module, cond: Conditions) -> Conditions:
    """``cond`` with :attr:`~Conditions.codes` filled for every conditioned layer of ``model``."""
    return cond._replace(codes=ConditioningPlan(model).evaluate(cond))
