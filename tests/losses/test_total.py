"""The full objective (eq. 11 + pixel terms): switches, gradients to every generator parameter."""
from __future__ import annotations

import pytest
import torch

from vfhgan_core.losses.total import LossConfig, VFHGANLoss, downscale_x2
from vfhgan_core.models.discriminator import PatchDiscriminator
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.models.lipreading import LipReader, LipReaderConfig


def _batch(n_seq: int = 1, seq_len: int = 3):
    g = torch.Generator().manual_seed(0)
    b = n_seq * seq_len
    gt = torch.rand(b, 3, 128, 128, generator=g)
    lr = torch.nn.functional.interpolate(gt, size=32, mode="bicubic", antialias=True).clamp(0, 1)
    windows = lr[:, None].repeat(1, 5, 1, 1, 1)
    mel = torch.randn(b, 1, 80, 16, generator=g)
    boxes = torch.tensor([40.0, 76.0, 88.0, 124.0]).repeat(b, 1)
    return windows, mel, gt, boxes


def test_every_generator_parameter_gets_a_gradient_under_the_full_loss() -> None:
    torch.manual_seed(0)
    gen = VFHGANGenerator(GeneratorConfig()).train()
    # move the zero-initialised output heads and audio injection off zero so every path carries gradient
    with torch.no_grad():
        for p in gen.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 1e-2)
    disc = PatchDiscriminator()
    reader = LipReader(LipReaderConfig.grid())
    loss = VFHGANLoss(LossConfig(lip_reading=1.0, frequency=1.0, adversarial=1.0), lip_reader=reader)
    assert loss.perceptual_choice.kind == "feature_matching"
    windows, mel, gt, boxes = _batch()
    out = gen(windows, mel)
    fake, real = disc(out.sr), disc(gt)
    terms = loss.generator_terms(out.sr, out.sr_x2, gt, fake=fake, real=real, mouth_boxes=boxes, seq_len=3)
    assert set(terms) == {"pixel_128", "pixel_64", "frequency", "perceptual", "adversarial", "lip_reading", "total"}
    assert torch.isclose(terms["total"], sum(v for k, v in terms.items() if k != "total"))
    terms["total"].backward()
    missing = [n for n, p in gen.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, missing
    assert all(p.grad is None for p in reader.parameters())


def test_zero_weights_switch_terms_off_and_build_nothing() -> None:
    cfg = LossConfig(perceptual=0, adversarial=0, lip_reading=0, frequency=0)
    loss = VFHGANLoss(cfg)
    assert loss.frequency_loss is None and loss.lip_loss is None and loss.feature_matching is None
    assert not cfg.uses_discriminator
    windows, mel, gt, _ = _batch()
    gen = VFHGANGenerator(GeneratorConfig(use_audio=False)).train()
    out = gen(windows)
    terms = loss.generator_terms(out.sr, out.sr_x2, gt)
    assert set(terms) == {"pixel_128", "pixel_64", "total"}


def test_lip_loss_without_reader_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="lip reader"):
        VFHGANLoss(LossConfig(lip_reading=1.0))


def test_mirror_distillation_is_the_pixel_distance_to_the_teacher_and_needs_one() -> None:
    loss = VFHGANLoss(LossConfig(perceptual=0.0, pixel_128=0.0, pixel_64=0.0, lip_reading=0.0, frequency=0.0,
                                 adversarial=0.0, mirror_distillation=2.0, pixel_kind="l1"))
    sr, sr_x2, gt = torch.full((2, 3, 128, 128), 0.5), torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 128, 128)
    with pytest.raises(ValueError, match="teacher"):
        loss.generator_terms(sr, sr_x2, gt)
    terms = loss.generator_terms(sr, sr_x2, gt, teacher=torch.full_like(sr, 0.25))
    assert set(terms) == {"mirror_distillation", "total"}
    assert float(terms["mirror_distillation"]) == pytest.approx(2.0 * 0.25)
    with pytest.raises(ValueError, match="mirror_distillation"):
        LossConfig(mirror_distillation=-1.0)


def test_discriminator_terms_and_r1() -> None:
    from vfhgan_core.losses.adversarial import AdversarialLossConfig

    loss = VFHGANLoss(LossConfig(lip_reading=0, adversarial_loss=AdversarialLossConfig(r1_gamma=10.0)))
    disc = PatchDiscriminator()
    _, _, gt, _ = _batch()
    gt.requires_grad_(True)
    fake = torch.rand_like(gt)
    terms = loss.discriminator_terms(disc(gt), disc(fake), real_inputs=gt)
    assert set(terms) == {"adversarial", "r1", "total"} and terms["r1"] >= 0
    terms["total"].backward()
    assert all(p.grad is not None for p in disc.parameters() if p.requires_grad)


def test_x2_target_is_antialiased_half() -> None:
    gt = torch.rand(2, 3, 128, 128)
    assert downscale_x2(gt).shape == (2, 3, 64, 64)
