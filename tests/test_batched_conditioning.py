"""All layers' conditioning MLPs in one batched computation: same outputs and gradients, far fewer ops."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from mrsisr.models import GENERATORS, build
from mrsisr.models.batched_conditioning import ConditioningPlan
from mrsisr.models.conditioning import ConditionedLayer, Conditions
from mrsisr.models.reference import reference_forward

TINY = {"base_features": 2, "latent_width": 4, "sharpness_width": 4}
CONDITIONED = [v for v in GENERATORS if v != "unconditioned"]


def inputs(batch: int, size: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(batch, 1, *shape, generator=gen) for shape in ((3 * size, 3 * size, 3),) * 2 + ((size, size),))


MIXED = (torch.tensor([8, 10, 12, 16]), torch.tensor([0, 3, 6, 2]), torch.tensor([0.0, 0.03, 0.06, 0.09]))
SHARED = (torch.full((4,), 12), torch.full((4,), 5), torch.full((4,), 0.04))


def output_and_gradients(model, conditions, batched: bool, seed: int = 5):
    model.batch_conditioning = batched
    model.zero_grad(set_to_none=True)
    out = model(*inputs(4, seed=seed), *conditions)
    (out * torch.linspace(0, 1, out.numel()).reshape(out.shape)).sum().backward()
    return out.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("variant", CONDITIONED)
@pytest.mark.parametrize("conditions", [MIXED, SHARED], ids=["mixed", "shared"])
def test_batched_conditioning_gives_the_per_layer_outputs_and_gradients(variant, conditions):
    torch.manual_seed(0)
    model = build(variant, **TINY).train()
    out, grads = output_and_gradients(model, conditions, batched=True)
    expected, expected_grads = output_and_gradients(model, conditions, batched=False)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert grads.keys() == expected_grads.keys() and len(grads) == len(list(model.parameters()))
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-6, rtol=1e-4, msg=name)
    with torch.no_grad():
        torch.testing.assert_close(out, reference_forward(model, *inputs(4, seed=5), *conditions), atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", CONDITIONED)
def test_every_layer_gets_its_own_conditioning(variant):
    torch.manual_seed(1)
    model = build(variant, **TINY)
    cond = Conditions(*MIXED)
    codes = ConditioningPlan(model).evaluate(cond)
    layers = [m for m in model.modules() if isinstance(m, ConditionedLayer)]
    assert layers and set(codes) == set(layers)
    for layer in layers:
        torch.testing.assert_close(codes[layer], layer.conditioning(cond), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("variant, parameters, tensors", [
    ("mcm", 7_448_637, 934), ("filter-scaling-met", 6_935_453, 654), ("hypernetworks", 26_411_313, 318),
    ("amlayer", 1_516_961, 906), ("filter-scaling", 3_935_697, 346),
])
def test_parameters_and_state_dict_names_are_unchanged(variant, parameters, tensors):
    """Counted before batching was introduced: the per-layer parameters stay where they were."""
    model = build(variant)
    assert sum(p.numel() for p in model.parameters()) == parameters and len(model.state_dict()) == tensors


def test_packaged_default_weights_load_and_give_the_same_outputs_batched():
    from mrsisr.inference import DEFAULT_WEIGHTS
    from mrsisr.models.weights import load_model

    model = load_model(DEFAULT_WEIGHTS).eval()
    data = inputs(4, seed=3)
    with torch.no_grad():
        cached = model(*data, *SHARED)  # inference on one condition: per-layer kernels, remembered
        plain = reference_forward(model, *data, *MIXED)
    outputs = {}
    for batched in (True, False):
        model.batch_conditioning = batched
        with torch.enable_grad():
            outputs[batched] = model(*data, *SHARED).detach(), model(*data, *MIXED).detach()
    torch.testing.assert_close(outputs[True], outputs[False], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(outputs[True][0], cached, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(outputs[True][1], plain, atol=1e-5, rtol=0)


class _OpCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def test_paper_size_mcm_runs_a_fraction_of_the_conditioning_ops():
    """The point of batching: the paper-size MCM forward pass issues far fewer operations."""
    torch.manual_seed(0)
    model = build("mcm").train()
    data = inputs(1)
    counts = {}
    for batched in (False, True):
        model.batch_conditioning = batched
        with _OpCounter() as counter:
            model(*data, torch.tensor([16]), torch.tensor([2]), torch.tensor([0.05]))
        counts[batched] = counter.count
    assert counts[True] < 0.6 * counts[False], counts
