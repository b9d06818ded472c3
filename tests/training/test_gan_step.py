"""vfhgan_core/training/gan_step.py: one step of the generator and the discriminator, on a tiny fixed batch."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator

from vfhgan_core.losses.total import LossConfig, VFHGANLoss
from vfhgan_core.models.discriminator import DiscriminatorConfig, DiscriminatorOutput, PatchDiscriminator
from vfhgan_core.models.generator import GeneratorConfig, VFHGANGenerator
from vfhgan_core.training.gan_step import GANStep, flatten_batch, pixel_warmup_loss, split_output

LOSSES = LossConfig(perceptual=0.0, pixel_128=1.0, pixel_64=0.1, lip_reading=0.0, frequency=0.0, adversarial=0.01)


def _batch(b: int = 2, s: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    # frames with detail above the LR Nyquist, which bicubic upscaling cannot restore and a fixed batch can teach
    hr = F.interpolate(torch.rand(b * s, 3, 32, 32, generator=g), size=(128, 128), mode="nearest")
    lr = F.interpolate(hr, size=(32, 32), mode="area")
    return {"lr": lr[:, None].expand(-1, 5, -1, -1, -1).reshape(b, s, 5, 3, 32, 32).contiguous(),
            "hr": hr.reshape(b, s, 3, 128, 128), "mel": torch.zeros(b, s, 1, 80, 16),
            "mouth_boxes": torch.tensor([40.0, 70.0, 90.0, 110.0]).expand(b, s, 4).contiguous()}


def _step(seed: int = 0, pixel_warmup_steps: int = 0) -> tuple[GANStep, torch.nn.Module]:
    torch.manual_seed(seed)
    accelerator = Accelerator(cpu=True)
    generator = VFHGANGenerator(GeneratorConfig(use_audio=False, widths=(8, 8, 0), depths=(1, 0, 0)))
    discriminator = PatchDiscriminator(DiscriminatorConfig(base_channels=8, max_channels=16))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-3)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=1e-3)
    generator, discriminator, opt_g, opt_d = accelerator.prepare(generator, discriminator, opt_g, opt_d)
    step = GANStep(accelerator, generator, opt_g, VFHGANLoss(LOSSES), discriminator, opt_d,
                   pixel_warmup_loss(LOSSES), pixel_warmup_steps=pixel_warmup_steps, use_audio=False,
                   grad_clip=1.0, seq_len=1)
    return step, discriminator


def test_the_step_lowers_the_pixel_loss_on_a_fixed_batch_and_trains_the_discriminator() -> None:
    step, discriminator = _step()
    before = [p.detach().clone() for p in discriminator.parameters()]
    batch = _batch()
    logs = [step(batch, i) for i in range(25)]
    first, last = logs[0], logs[-1]
    assert {"g/total", "g/pixel_128", "g/adversarial", "d/total", "d/real_logit", "d/fake_logit",
            "grad_norm/g", "grad_norm/d"} <= set(first)
    assert last["g/pixel_128"] < 0.6 * first["g/pixel_128"], (first["g/pixel_128"], last["g/pixel_128"])
    assert all(a > b for a, b in zip([x["g/pixel_128"] for x in logs[:-5]], [x["g/pixel_128"] for x in logs[5:]]))
    assert not any(torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))   # D learned too


def test_the_pixel_warm_up_leaves_the_discriminator_alone() -> None:
    step, discriminator = _step(pixel_warmup_steps=2)
    before = [p.detach().clone() for p in discriminator.parameters()]
    logs = step(_batch(), 0)
    assert not step.gan_phase(1) and step.gan_phase(2)
    assert not any(k.startswith("d/") for k in logs) and "g/adversarial" not in logs
    assert all(torch.equal(a, b) for a, b in zip(before, discriminator.parameters()))
    assert any(k.startswith("d/") for k in step(_batch(), 2))


def test_the_same_seed_gives_the_same_losses() -> None:
    runs = []
    for _ in range(2):
        step, _ = _step(seed=3)
        runs.append([step(_batch(), i) for i in range(3)])
    assert runs[0] == runs[1]


def test_batches_flatten_sequence_major_and_outputs_split_in_float32() -> None:
    batch = _batch(b=2, s=3)
    lr, hr, mel, boxes = flatten_batch(batch)
    assert lr.shape == (6, 5, 3, 32, 32) and hr.shape == (6, 3, 128, 128) and boxes.shape == (6, 4)
    assert torch.equal(hr[1], batch["hr"][0, 1])
    out = DiscriminatorOutput(torch.arange(4.0).bfloat16().view(4, 1), [torch.ones(4, 2).bfloat16()])
    a, b = split_output(out, 1)
    assert a.logits.dtype == torch.float32 and a.logits.shape[0] == 1 and b.features[0].shape == (3, 2)


def test_mirror_distillation_pulls_one_pass_towards_the_teachers_self_ensemble() -> None:
    torch.manual_seed(0)
    config = GeneratorConfig(use_audio=False, widths=(8, 8, 0), depths=(1, 0, 0))
    teacher = VFHGANGenerator(config)
    with torch.no_grad():      # a teacher that is not mirror-symmetric, so its two passes differ
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    teacher.eval()
    student = VFHGANGenerator(config)
    losses = LossConfig(perceptual=0.0, pixel_128=0.0, pixel_64=0.0, lip_reading=0.0, frequency=0.0,
                        adversarial=0.0, mirror_distillation=1.0)
    accelerator = Accelerator(cpu=True)
    opt_g = torch.optim.Adam(student.parameters(), lr=2e-3)
    student, opt_g = accelerator.prepare(student, opt_g)
    with pytest.raises(ValueError, match="teacher"):
        GANStep(accelerator, student, opt_g, VFHGANLoss(losses), use_audio=False)
    step = GANStep(accelerator, student, opt_g, VFHGANLoss(losses), use_audio=False, teacher=teacher)
    batch = _batch()
    lr = batch["lr"].flatten(0, 1)
    with torch.no_grad():
        plain, mirrored = teacher(lr).sr, teacher(lr.flip(-1)).sr.flip(-1)
        target = (plain + mirrored) / 2
        start = F.mse_loss(student(lr).sr, target)
    assert F.mse_loss(plain, mirrored) > 1e-6           # the target is not just the teacher's own pass
    logs = [step(batch, i) for i in range(30)]
    assert logs[0]["g/mirror_distillation"] == pytest.approx(float(start), rel=1e-4)
    assert logs[-1]["g/mirror_distillation"] < 0.3 * logs[0]["g/mirror_distillation"]
    assert set(logs[0]) >= {"g/total", "g/mirror_distillation"} and "g/pixel_128" not in logs[0]
