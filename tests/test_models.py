"""The networks: parameter counts, shapes, conditioning, mixed batches, bad hyper-parameters."""

import pytest
import torch

from mrsisr import METABOLITES
from mrsisr.models import GENERATORS, VARIANTS, build

TINY = {"base_features": 2, "latent_width": 4, "sharpness_width": 4}


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("variant, millions", [
    ("unconditioned", 1.0), ("amlayer", 1.5), ("hypernetworks", 26), ("filter-scaling", 3.9),
    ("filter-scaling-met", 6.9),
])
def test_paper_parameter_counts(variant, millions):
    assert round(count(build(variant)) / 1e6, 1 if millions < 10 else 0) == millions


def test_base_network_has_exactly_967601_parameters():
    assert count(build("unconditioned")) == 967_601


def test_mcm_adds_sharpness_conditioning_on_top_of_filter_scaling_met():
    extra = count(build("mcm")) - count(build("filter-scaling-met"))
    # 28 CIN layers: a 4-layer MLP of width 64 each, plus Linear(64 → 2C) over 1232 channels in all
    assert extra == 28 * (128 + 3 * 4160) + 130 * 1232


def inputs(batch: int, size: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    t1 = torch.rand(batch, 1, 3 * size, 3 * size, 3, generator=gen)
    flair = torch.rand(batch, 1, 3 * size, 3 * size, 3, generator=gen)
    lr = torch.rand(batch, 1, size, size, generator=gen)
    return t1, flair, lr


@pytest.mark.parametrize("variant", list(GENERATORS))
@pytest.mark.parametrize("n", [16, 22, 32])
def test_output_shapes_at_paper_map_size(variant, n):
    model = build(variant, **TINY).eval()
    t1, flair, lr = inputs(2, 64)
    with torch.no_grad():
        out = model(t1, flair, lr, torch.tensor([n, n]), torch.tensor([0, 6]), torch.tensor([0.0, 0.05]))
    assert out.shape == (2, 1, 64, 64)
    assert torch.isfinite(out).all() and (out >= 0).all()


@pytest.mark.parametrize("variant, changes", [
    ("filter-scaling", {"n"}), ("filter-scaling-met", {"n", "metabolite"}),
    ("mcm", {"n", "metabolite", "lam"}), ("amlayer", {"n"}), ("hypernetworks", {"n"}), ("unconditioned", set()),
])
def test_each_condition_steers_only_the_variants_that_use_it(variant, changes):
    torch.manual_seed(0)
    model = build(variant, **TINY, data_consistency=False).eval()
    t1, flair, lr = inputs(1)
    base = {"n": torch.tensor([8]), "metabolite": torch.tensor([0]), "lam": torch.tensor([0.0])}
    other = {"n": torch.tensor([14]), "metabolite": torch.tensor([4]), "lam": torch.tensor([0.1])}
    with torch.no_grad():
        reference = model(t1, flair, lr, **base)
        for name in ("n", "metabolite", "lam"):
            changed = model(t1, flair, lr, **{**base, name: other[name]})
            differs = (changed - reference).abs().max().item() > 1e-6
            assert differs == (name in changes), f"{variant}: changing {name}"


@pytest.mark.parametrize("variant", ["mcm", "hypernetworks", "amlayer"])
def test_mixed_condition_batch_equals_per_sample_runs(variant):
    torch.manual_seed(1)
    model = build(variant, **TINY).eval()
    t1, flair, lr = inputs(4, seed=2)
    n = torch.tensor([8, 10, 12, 16])
    met = torch.tensor([0, 3, 6, 2])
    lam = torch.tensor([0.0, 0.03, 0.06, 0.09])
    with torch.no_grad():
        together = model(t1, flair, lr, n, met, lam)
        alone = torch.cat([model(t1[i:i + 1], flair[i:i + 1], lr[i:i + 1], n[i:i + 1], met[i:i + 1], lam[i:i + 1])
                           for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_shared_condition_fast_path_equals_per_sample_path():
    torch.manual_seed(2)
    model = build("mcm", **TINY).eval()
    t1, flair, lr = inputs(3, seed=4)
    args = (torch.full((3,), 12), torch.full((3,), 5), torch.full((3,), 0.02))
    with torch.no_grad():
        fast = model(t1, flair, lr, *args)
        reference = model(t1, flair, lr, *args, per_sample=True)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)


def test_recentring_sharpness_moves_lambda_zero_to_the_origin_and_keeps_the_top():
    import copy

    from mrsisr.models.conditioning import ConditionalInstanceNorm, recentre_sharpness

    torch.manual_seed(3)
    original = build("mcm", **TINY, data_consistency=False).eval()
    with torch.no_grad():  # a λ path that visibly acts (the fresh heads start near plain IN)
        for layer in original.modules():
            if isinstance(layer, ConditionalInstanceNorm):
                layer.to_affine.weight.normal_(0, 1.0)
    recentred = copy.deepcopy(original)
    assert recentre_sharpness(recentred, origin=0.03) > 0
    t1, flair, lr = inputs(2, seed=5)
    n, met = torch.tensor([12, 12]), torch.tensor([1, 4])

    def run(model, lam):
        with torch.no_grad():
            return model(t1, flair, lr, n, met, torch.full((2,), lam))

    for lam in (0.0, 0.05, 0.1):
        torch.testing.assert_close(run(recentred, lam), run(original, 0.03 + lam * 0.7), atol=1e-6, rtol=0)
    assert (run(recentred, 0.0) - run(original, 0.0)).abs().max() > 5e-4
    assert recentre_sharpness(build("filter-scaling-met", **TINY), origin=0.03) == 0
    for origin in (-0.01, 0.1):
        with pytest.raises(ValueError, match="must lie in"):
            recentre_sharpness(recentred, origin=origin)


def test_metabolite_list_matches_embedding():
    model = build("filter-scaling-met", **TINY)
    embedding = next(m for m in model.modules() if isinstance(m, torch.nn.Embedding))
    assert embedding.num_embeddings == len(METABOLITES) == 7


def test_discriminator_scores_a_block():
    critic = build("discriminator", map_size=16)
    assert critic(torch.rand(3, 4, 48, 48, 3)).shape == (3,)


def test_discriminator_has_the_authors_1284129_parameters_and_no_convolution_bias():
    critic = build("discriminator")
    assert count(critic) == 1_284_129
    convolutions = [critic.first, *critic.rest]
    assert len(convolutions) == 4 and all(conv.bias is None for conv in convolutions)


@pytest.mark.parametrize("kwargs, match", [
    ({"base_features": 0}, "base_features"),
    ({"latent_width": -1}, "latent_width"),
    ({"nonsense": 3}, "unknown configuration"),
])
def test_bad_hyper_parameters_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build("mcm", **kwargs)


def test_unknown_variant_lists_the_known_ones():
    with pytest.raises(ValueError, match="filter-scaling-met"):
        build("srgan")
    assert "discriminator" in VARIANTS


def test_bad_input_shapes_are_refused():
    model = build("unconditioned", **TINY)
    t1, flair, lr = inputs(1)
    with pytest.raises(ValueError, match="3N"):
        model(t1, flair, lr[..., :8, :8], torch.tensor([8]), torch.tensor([0]), torch.tensor([0.0]))


@pytest.mark.parametrize("variant", list(GENERATORS))
def test_fast_path_equals_the_plain_3d_computation(variant):
    """The folded-depth, grouped-kernel model gives the released code's 3-D arithmetic."""
    from mrsisr.models.reference import reference_forward

    torch.manual_seed(3)
    model = build(variant, **TINY).eval()
    t1, flair, lr = inputs(4, seed=5)
    args = (t1, flair, lr, torch.tensor([8, 8, 12, 16]), torch.tensor([1, 1, 4, 6]), torch.tensor([0.0, 0.0, 0.04, 0.1]))
    with torch.no_grad():
        torch.testing.assert_close(model(*args), reference_forward(model, *args), atol=1e-5, rtol=0)


def test_fold_depth_matches_conv3d():
    from mrsisr.models.conditioning import fold_depth
    from mrsisr.models.unet import fold

    torch.manual_seed(0)
    x, weight = torch.rand(2, 5, 12, 10, 3), torch.rand(4, 5, 3, 3, 3)
    expected = fold(torch.nn.functional.conv3d(x, weight, padding=1))
    got = torch.nn.functional.conv2d(fold(x), fold_depth(weight), padding=1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    replicated = x[..., :1].expand_as(x)
    got = torch.nn.functional.conv2d(x[..., 0], fold_depth(weight, replicated=True), padding=1)
    torch.testing.assert_close(got, fold(torch.nn.functional.conv3d(replicated, weight, padding=1)), atol=1e-5, rtol=1e-5)


def test_the_variants_table_drives_the_factory_the_trainer_and_the_evaluator():
    from mrsisr.evaluation.runner import model_method
    from mrsisr.models import VARIANT_TABLE
    from mrsisr.training.trainer import TrainConfig

    assert GENERATORS == {"unconditioned": (), "amlayer": ("n",), "hypernetworks": ("n",), "filter-scaling": ("n",),
                          "filter-scaling-met": ("n", "metabolite"), "mcm": ("n", "metabolite", "lam")}
    for name, spec in VARIANT_TABLE.items():
        model = build(name, **TINY)
        assert model.uses == spec.conditions
        assert TrainConfig(variant=name).uses_adversarial is spec.uses_lambda
        assert model_method(name, model).uses_lambda is spec.uses_lambda
    assert [name for name, spec in VARIANT_TABLE.items() if spec.uses_lambda] == ["mcm"]


def test_an_unknown_or_incomplete_variant_entry_is_an_error():
    from mrsisr.models import Variant

    with pytest.raises(ValueError, match="unknown convolutions 'filter-scaling-lam'"):
        Variant(convolutions="filter-scaling-lam", normalisations="instance", uses_lambda=False)
    with pytest.raises(ValueError, match="unknown normalisations"):
        Variant(convolutions="plain", normalisations="batch", uses_lambda=False)
    with pytest.raises(ValueError, match="contradicts the conditioning"):
        Variant(convolutions="plain", normalisations="instance", uses_lambda=True)
    with pytest.raises(TypeError):
        Variant(convolutions="plain", normalisations="instance")  # no silent default for λ
