"""``vfhgan_core/training/optimizers.py``: the generator's parameter groups."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from vfhgan_core.experiment import OptimConfig
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.training.optimizers import generator_param_groups

TINY = GeneratorConfig(widths=(8, 8, 0), depths=(1, 0, 0), audio_dim=8, audio_channels=(4, 4, 8, 8),
                       latent_dim=8, attention_heads=2, attention_layers=1)


def test_one_group_unless_the_audio_branch_is_scaled() -> None:
    optim = OptimConfig(lr_g=1e-4)
    for config, scale in ((TINY, 1.0), (replace(TINY, use_audio=False), 10.0)):
        model = VFHGANGenerator(config)
        (group,) = generator_param_groups(model, replace(optim, audio_branch_lr_scale=scale))
        assert group["lr"] == 1e-4 and len(group["params"]) == len(list(model.parameters()))


def test_the_audio_branch_gets_its_own_faster_group() -> None:
    model = VFHGANGenerator(TINY)
    trunk, branch = generator_param_groups(model, OptimConfig(lr_g=1e-4, audio_branch_lr_scale=10.0))
    assert trunk["lr"] == pytest.approx(1e-4) and branch["lr"] == pytest.approx(1e-3)
    assert {id(p) for p in branch["params"]} == {id(p) for p in model.cross_modal.parameters()}
    assert len(trunk["params"]) + len(branch["params"]) == len(list(model.parameters()))
    # one Adam step: the zero-initialised injection moves ten times as far as at the trunk's rate
    moved = []
    for scale in (1.0, 10.0):
        torch.manual_seed(0)
        model = VFHGANGenerator(TINY)
        opt = torch.optim.Adam(generator_param_groups(model, OptimConfig(lr_g=1e-4, audio_branch_lr_scale=scale)))
        g = torch.Generator().manual_seed(1)
        lr, mel = torch.rand(2, 5, 3, 32, 32, generator=g), torch.randn(2, 1, 80, 16, generator=g)
        F.mse_loss(model(lr, mel).sr, torch.rand(2, 3, 128, 128, generator=g)).backward()
        opt.step()
        moved.append(float(model.cross_modal.inject.weight.detach().abs().max()))
    assert moved[1] == pytest.approx(10 * moved[0], rel=1e-3)


def test_the_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="audio_branch_lr_scale"):
        OptimConfig(audio_branch_lr_scale=0)


def test_the_audio_branch_can_train_alone() -> None:
    model = VFHGANGenerator(TINY)
    (group,) = generator_param_groups(model, OptimConfig(lr_g=1e-4, audio_branch_lr_scale=10.0,
                                                         train_audio_branch_only=True))
    assert {id(p) for p in group["params"]} == {id(p) for p in model.cross_modal.parameters()}
    assert group["lr"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="needs a generator with an audio branch"):
        generator_param_groups(VFHGANGenerator(replace(TINY, use_audio=False)),
                               OptimConfig(train_audio_branch_only=True))
