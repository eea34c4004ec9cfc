"""CUDA checks (skipped without a GPU): the network and a training step on the GPU match the CPU."""

import pytest
import torch

from mrsisr.models import build
from mrsisr.models.reference import reference_forward

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch")]


def test_paper_size_model_on_cuda_matches_cpu_and_reference():
    torch.manual_seed(0)
    model = build("mcm").eval()
    t1, flair, lr = torch.rand(4, 1, 192, 192, 3), torch.rand(4, 1, 192, 192, 3), torch.rand(4, 1, 64, 64)
    conditions = (torch.tensor([16, 16, 24, 32]), torch.tensor([0, 0, 3, 6]), torch.tensor([0.0, 0.0, 0.03, 0.1]))
    with torch.no_grad():
        cpu = model(t1, flair, lr, *conditions)
        model.cuda()
        on_gpu = model(t1.cuda(), flair.cuda(), lr.cuda(), *conditions)
        plain = reference_forward(model, t1.cuda(), flair.cuda(), lr.cuda(), *conditions)
    torch.backends.cudnn.allow_tf32 = False
    assert (on_gpu.cpu() - cpu).abs().max() < 2e-3
    assert (on_gpu - plain).abs().max() < 2e-3


def test_bf16_autocast_training_step_lowers_the_loss():
    from mrsisr.losses import generator_loss

    torch.manual_seed(0)
    model = build("mcm", base_features=4).cuda()
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    t1, lr = torch.rand(4, 1, 192, 192, 3, device="cuda"), torch.rand(4, 1, 64, 64, device="cuda")
    target, mask = lr.clone(), torch.ones_like(lr)
    conditions = (torch.full((4,), 16), torch.full((4,), 2), torch.zeros(4))
    losses = []
    for _ in range(15):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            output = model(t1, t1, lr, *conditions)
        loss, _ = generator_loss(output.float(), target, mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
