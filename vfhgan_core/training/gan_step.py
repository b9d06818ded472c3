"""One optimisation step of the VFH-GAN: the discriminator's update, then the generator's.

:class:`GANStep` holds what a run's steps share (the Accelerate accelerator, the prepared models
and optimisers, the losses) and runs one micro-batch inside ``accelerator.accumulate``: in the
GAN phase the discriminator learns real HR against the detached SR frames, then the generator
learns from every generator term with the discriminator frozen; during the pixel warm-up
(``optim.pixel_warmup_steps``) and for runs without a discriminator only the generator's terms
are used. The scheduler, EMA and step counter stay with the caller, which steps them once the
accumulated gradients were applied (``accelerator.sync_gradients``). With the mirror-distillation
term on, a frozen teacher (the run's EMA) restores each batch as given and mirrored, without
gradients, and the generator learns towards the mean (:class:`~vfhgan_core.losses.total.LossConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from vfhgan_core.losses.total import LossConfig, VFHGANLoss
from vfhgan_core.models.discriminator import DiscriminatorOutput
from vfhgan_core.pipelines.restore import restore_windows

__all__ = ["GANStep", "as_float", "flatten_batch", "pixel_warmup_loss", "split_output"]


def split_output(out: DiscriminatorOutput, n: int) -> tuple[DiscriminatorOutput, DiscriminatorOutput]:
    """Split a discriminator output of ``cat([a, b])`` into the outputs of ``a`` (first n) and ``b``, in float32."""
    first = DiscriminatorOutput(out.logits[:n].float(), [f[:n].float() for f in out.features])
    second = DiscriminatorOutput(out.logits[n:].float(), [f[n:].float() for f in out.features])
    return first, second


def as_float(out: DiscriminatorOutput) -> DiscriminatorOutput:
    """A discriminator output in float32 (under mixed precision it comes in bf16 / fp16)."""
    return DiscriminatorOutput(out.logits.float(), [f.float() for f in out.features])


def flatten_batch(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(B, S, ...) sample tensors → (B·S, ...) frames, sequence-major (what the losses expect):
    ``(lr, hr, mel, mouth_boxes)``."""
    return (batch["lr"].flatten(0, 1), batch["hr"].flatten(0, 1), batch["mel"].flatten(0, 1),
            batch["mouth_boxes"].flatten(0, 1))


def pixel_warmup_loss(losses: LossConfig) -> VFHGANLoss:
    """The generator's loss during the pixel warm-up: the pixel terms of ``losses`` only."""
    return VFHGANLoss(LossConfig(
        perceptual=0.0, pixel_128=losses.pixel_128 or 1.0, pixel_64=losses.pixel_64,
        pixel_kind=losses.pixel_kind, lip_reading=0.0, frequency=0.0, adversarial=0.0,
    ))


@dataclass
class GANStep:
    """One micro-batch of training (see the module docstring); call it with a batch and the step count.

    Attributes:
        accelerator: the run's ``accelerate.Accelerator`` (accumulation, backward, clipping).
        generator, opt_g: the (prepared) generator and its optimiser.
        loss_fn: the run's :class:`~vfhgan_core.losses.total.VFHGANLoss`.
        discriminator, opt_d: the (prepared) discriminator and its optimiser; ``None`` without one.
        warmup_loss: the loss of the pixel warm-up (:func:`pixel_warmup_loss`), for runs with one.
        pixel_warmup_steps: steps before the GAN phase starts.
        use_audio: whether the generator is given the mel windows.
        grad_clip: gradient-norm clip (0: none).
        seq_len: consecutive frames per sample (the temporal terms need it).
        teacher: the generator whose mirror self-ensemble the mirror-distillation term aims at
            (in eval mode; the run's EMA); needed when that term's weight is above 0.
    """

    accelerator: Any
    generator: torch.nn.Module
    opt_g: torch.optim.Optimizer
    loss_fn: VFHGANLoss
    discriminator: torch.nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    warmup_loss: VFHGANLoss | None = None
    pixel_warmup_steps: int = 0
    use_audio: bool = True
    grad_clip: float = 0.0
    seq_len: int = 1
    teacher: torch.nn.Module | None = None
    _disc_raw: torch.nn.Module | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.loss_fn.config.mirror_distillation > 0 and self.teacher is None:
            raise ValueError("losses.mirror_distillation > 0 needs a teacher generator (the run's EMA: "
                             "set optim.ema_decay > 0)")
        if self.discriminator is not None:
            self._disc_raw = self.accelerator.unwrap_model(self.discriminator)

    def _teacher_output(self, lr: torch.Tensor, mel: torch.Tensor) -> torch.Tensor | None:
        """The teacher's mirror self-ensemble of the windows ``lr`` (``None`` with the term off)."""
        if self.loss_fn.config.mirror_distillation <= 0:
            return None
        with torch.no_grad():
            return restore_windows(self.teacher, lr, mel if self.use_audio else None, self_ensemble=True)

    def gan_phase(self, step: int) -> bool:
        """Whether step ``step`` trains the discriminator and uses the adversarial terms."""
        return self.discriminator is not None and step >= self.pixel_warmup_steps

    def __call__(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """Train on one micro-batch; returns the logged values (``g/<term>``, ``d/<term>``, ``grad_norm/...``)."""
        acc, generator, discriminator, disc_raw = self.accelerator, self.generator, self.discriminator, self._disc_raw
        seq = self.seq_len
        with acc.accumulate(*(m for m in (generator, discriminator) if m is not None)):
            lr, hr, mel, boxes = flatten_batch(batch)
            out_g = generator(lr, mel if self.use_audio else None)
            sr, sr_x2 = out_g.sr.float(), out_g.sr_x2.float()
            logs: dict[str, float] = {}
            if self.gan_phase(step):
                disc_raw.requires_grad_(True)
                real_d, fake_d = split_output(discriminator(torch.cat([hr, sr.detach()])), hr.shape[0])
                d_terms = self.loss_fn.discriminator_terms(real_d, fake_d)
                acc.backward(d_terms["total"])
                if acc.sync_gradients and self.grad_clip:
                    logs["grad_norm/d"] = float(acc.clip_grad_norm_(discriminator.parameters(), self.grad_clip))
                self.opt_d.step()
                self.opt_d.zero_grad(set_to_none=True)
                disc_raw.requires_grad_(False)
                logs.update({f"d/{k}": float(v.detach()) for k, v in d_terms.items()})
                logs["d/real_logit"] = float(real_d.logits.detach().mean())
                logs["d/fake_logit"] = float(fake_d.logits.detach().mean())
                fake = as_float(disc_raw(sr))
                with torch.no_grad():
                    real = as_float(disc_raw(hr))
                g_terms = self.loss_fn.generator_terms(sr, sr_x2, hr, fake=fake, real=real, mouth_boxes=boxes,
                                                       seq_len=seq, teacher=self._teacher_output(lr, mel))
            else:
                g_loss = self.warmup_loss if (discriminator is not None and self.warmup_loss is not None) \
                    else self.loss_fn
                g_terms = g_loss.generator_terms(sr, sr_x2, hr, mouth_boxes=boxes, seq_len=seq,
                                                 teacher=self._teacher_output(lr, mel) if g_loss is self.loss_fn else None)
            acc.backward(g_terms["total"])
            if acc.sync_gradients and self.grad_clip:
                logs["grad_norm/g"] = float(acc.clip_grad_norm_(generator.parameters(), self.grad_clip))
            self.opt_g.step()
            self.opt_g.zero_grad(set_to_none=True)
            logs.update({f"g/{k}": float(v.detach()) for k, v in g_terms.items()})
        return logs
