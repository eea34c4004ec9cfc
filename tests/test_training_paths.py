"""A short CPU training run gives the same losses through the new paths as through the old ones.

Old: every layer's conditioning computed by the layer, batches assembled by the NumPy loader.
New: batched conditioning (the default), the device-resident data path, graph capture requested
(CUDA only: on the CPU it warns and runs eagerly).
"""

import numpy as np
import pytest
import torch

from mrsisr.slices import load_dataset
from mrsisr.training.trainer import Trainer
from test_training import config, dataset_dir  # noqa: F401 (fixture)

LOGGED = ("critic_distance", "l1", "msssim", "adversarial", "loss", "val_psnr", "val_ssim")
#: The critic's numbers are small differences of scores of about 0.2, and Adam's first steps move
#: each weight by ±lr whatever the size of its gradient: float rounding in the generator's output
#: (summation order) shows there at the 1e-4 level; the generator's losses agree to 1e-6. The total
#: loss holds λ·adversarial with λ ≤ 0.1, so it inherits 0.1 × the adversarial tolerance.
TOLERANCE = {"critic_distance": {"abs": 2e-3}, "adversarial": {"abs": 2e-3}, "loss": {"abs": 2e-4, "rel": 1e-4}}


def train(subjects, out, batched: bool = True, **overrides) -> list[dict]:
    trainer = Trainer(config(**overrides), subjects, out)
    trainer.generator.batch_conditioning = batched
    trainer.run(progress=False)
    return trainer.history


def test_batched_conditioning_and_device_data_keep_the_losses(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    before = train(subjects, tmp_path / "before", batched=False)
    after = train(subjects, tmp_path / "after", device_data=True)
    assert len(before) == len(after) == 2
    for old, new in zip(before, after):
        assert old["step"] == new["step"] and old["step"] > 0
        for key in LOGGED:
            assert new[key] == pytest.approx(old[key], **TOLERANCE.get(key, {"rel": 1e-4})), key


def test_graph_capture_is_skipped_on_the_cpu_with_a_reason(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    with pytest.warns(UserWarning, match="needs a CUDA device"):
        trainer = Trainer(config(epochs=1, max_steps=1, graph_capture=True), subjects, tmp_path)
    assert not trainer.generator._captured and trainer.score_pass is trainer.d_model
    trainer.run(progress=False)
    assert trainer.step == 1 and np.isfinite(trainer.history[-1]["loss"])


def test_the_captured_part_of_a_training_forward_is_one_graph():
    """What graph capture compiles takes device tensors only and has no graph break: on a GPU its
    CUDA graph replays the whole forward pass (traced here on the CPU, without compiling)."""
    import torch._dynamo

    from mrsisr.models import build
    from test_models import TINY, inputs

    torch.manual_seed(0)
    model = build("mcm", **TINY).train()
    t1, flair, lr = inputs(2)
    conditions = (torch.full((2,), 8), torch.full((2,), 3), torch.full((2,), 0.05))
    expected = model(t1, flair, lr, *conditions)
    calls = []
    model._network, network = (lambda *args: calls.append(args) or network(*args)), model._network
    model(t1, flair, lr, *conditions)
    del model._network
    explained = torch._dynamo.explain(model._network)(*calls[0])
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons
    model.capture_graphs(mode=None, backend="eager")
    torch.testing.assert_close(model(t1, flair, lr, *conditions), expected)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch: graph capture needs one")
def test_graph_captured_training_on_cuda_matches_eager(dataset_dir, tmp_path):
    subjects = load_dataset(dataset_dir)
    eager = train(subjects, tmp_path / "eager", device="cuda", device_data=True)
    captured = train(subjects, tmp_path / "captured", device="cuda", device_data=True, graph_capture=True)
    for old, new in zip(eager, captured):
        for key in ("l1", "msssim", "loss"):
            assert new[key] == pytest.approx(old[key], rel=5e-2, abs=1e-3), key


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch")
def test_a_cuda_training_step_never_waits_for_the_gpu(dataset_dir, tmp_path):
    """Conditions, masks and loss weights reach the GPU without a synchronisation, so the host can
    queue the next step while the GPU works (the device data path included)."""
    trainer = Trainer(config(device="cuda", device_data=True, epochs=1), load_dataset(dataset_dir), tmp_path)
    batches = iter(trainer._batches())
    batch = next(batches)
    trainer.critic_step(batch), trainer.generator_step(batch)  # first calls: allocations, library set-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        batch = next(batches)
        trainer.critic_step(batch), trainer.generator_step(batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")
