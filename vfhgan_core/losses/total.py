"""The full VFH-GAN objective (the paper's eq. 11, plus the multi-scale pixel terms).

Generator side::

    L = w_p·L_perceptual + w_128·L_pixel(SR, GT) + w_64·L_pixel(SR×2, GT↓2)
        + α·L_lip + β·(L_freq(SR, GT) [+ L_freq(SR×2, GT↓2)])
        + β_r·(L_radial(SR, GT) [+ L_radial(SR×2, GT↓2)]) + γ·L_adv
        + w_m·L_pixel(SR, T_mirror)

``L_radial`` (:mod:`vfhgan_core.losses.radial_spectrum`) is not in the paper: it asks for
the right level of detail in each ring of the spectrum, phase left free, and is what makes
the frequency switch raise the high band (``train/README.md`` §8).

``T_mirror`` (also not in the paper) is the mirror self-ensemble of a teacher generator, the
run's EMA: the mean of its restoration of the window and of the mirrored window, flipped
back (:func:`~vfhgan_core.pipelines.restore.restore_windows`). The term asks one pass for
what the two-pass self-ensemble gets right (``train/README.md`` §14).

``L_perceptual`` is VGG19 feature distance when ImageNet VGG19 weights are
configured, otherwise discriminator feature matching (see
:func:`~vfhgan_core.losses.perceptual.resolve_perceptual`; the choice is kept
in :attr:`VFHGANLoss.perceptual_choice` for logs and model cards).

A weight of 0 switches a term off and builds nothing for it: that is how the
trained variants differ (audio on/off is a generator switch; frequency and lip
losses are switched here). Default weights are those of the authors' released
training code (DECISIONS.md §5); training configs override them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vfhgan_core.losses.adversarial import AdversarialLoss, AdversarialLossConfig, r1_penalty
from vfhgan_core.losses.frequency import FocalFrequencyLoss, FrequencyLossConfig
from vfhgan_core.losses.perceptual import (
    FeatureMatchingLoss,
    PerceptualChoice,
    PerceptualLoss,
    PerceptualLossConfig,
    resolve_perceptual,
)
from vfhgan_core.losses.radial_spectrum import RadialSpectrumLoss, RadialSpectrumLossConfig

__all__ = ["LossConfig", "VFHGANLoss", "downscale_x2"]


@dataclass(frozen=True)
class LossConfig:
    """Weights and settings of every loss term (0 switches a term off).

    Attributes:
        perceptual: weight of the perceptual term (VGG19, or D feature matching without VGG weights).
        pixel_128: weight of the pixel loss on the 128×128 output.
        pixel_64: weight of the pixel loss on the intermediate 64×64 output.
        pixel_kind: ``"l1"`` or ``"mse"``.
        lip_reading: α, weight of the lip-reading loss (needs a lip reader and sequences).
        frequency: β, weight of the focal frequency loss.
        frequency_at_64: also apply the frequency losses (focal and radial) to the 64×64 output.
        radial_spectrum: β_r, weight of the radial power-spectrum loss (0: off, the paper).
        adversarial: γ, weight of the generator's adversarial loss.
        mirror_distillation: w_m, weight of the pixel loss between SR and the teacher's mirror
            self-ensemble (0: off; the training step passes ``teacher=``).
        lip_features: lip-reader feature maps compared by the lip-reading loss.
    """

    perceptual: float = 1.0
    pixel_128: float = 1e-2
    pixel_64: float = 1e-3
    pixel_kind: str = "mse"
    lip_reading: float = 1e-4
    frequency: float = 1e-4
    frequency_at_64: bool = True
    radial_spectrum: float = 0.0
    adversarial: float = 1e-3
    mirror_distillation: float = 0.0
    lip_features: tuple[str, ...] = ("frontend", "trunk.layer1", "trunk.layer2", "trunk.layer3", "trunk.layer4")
    frequency_loss: FrequencyLossConfig = field(default_factory=FrequencyLossConfig)
    radial_spectrum_loss: RadialSpectrumLossConfig = field(default_factory=RadialSpectrumLossConfig)
    perceptual_loss: PerceptualLossConfig = field(default_factory=PerceptualLossConfig)
    adversarial_loss: AdversarialLossConfig = field(default_factory=AdversarialLossConfig)

    def __post_init__(self) -> None:
        for name in ("perceptual", "pixel_128", "pixel_64", "lip_reading", "frequency", "radial_spectrum",
                     "adversarial", "mirror_distillation"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss weight {name} must be >= 0, got {getattr(self, name)}")
        if self.pixel_kind not in ("l1", "mse"):
            raise ValueError(f"pixel_kind must be 'l1' or 'mse', got {self.pixel_kind!r}")

    @property
    def uses_discriminator(self) -> bool:
        """True when a discriminator must be trained (adversarial term or feature matching)."""
        return self.adversarial > 0 or (self.perceptual > 0 and resolve_perceptual(self.perceptual_loss.vgg_weights).kind == "feature_matching")


def downscale_x2(gt: Tensor) -> Tensor:
    """The 64×64 target of the intermediate output: GT halved by antialiased bicubic."""
    return F.interpolate(gt, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)


class VFHGANLoss(nn.Module):
    """Generator objective and discriminator loss of VFH-GAN.

    Args:
        config: the weights and term settings.
        lip_reader: a trained :class:`~vfhgan_core.models.lipreading.LipReader`;
            required when ``config.lip_reading > 0`` (it is frozen by the loss).
    """

    def __init__(self, config: LossConfig = LossConfig(), lip_reader: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        self.perceptual_choice: PerceptualChoice = resolve_perceptual(config.perceptual_loss.vgg_weights)
        self.vgg_loss = (
            PerceptualLoss.from_config(config.perceptual_loss)
            if config.perceptual > 0 and self.perceptual_choice.kind == "vgg19"
            else None
        )
        self.feature_matching = (
            FeatureMatchingLoss() if config.perceptual > 0 and self.perceptual_choice.kind == "feature_matching" else None
        )
        self.frequency_loss = FocalFrequencyLoss.from_config(config.frequency_loss) if config.frequency > 0 else None
        self.radial_loss = (RadialSpectrumLoss.from_config(config.radial_spectrum_loss)
                            if config.radial_spectrum > 0 else None)
        self.adversarial_loss = AdversarialLoss(config.adversarial_loss.kind)
        self.lip_loss = None
        if config.lip_reading > 0:
            if lip_reader is None:
                raise ValueError(
                    "the lip-reading loss is on (lip_reading > 0) but no lip reader was given: "
                    "pass a trained LipReader, or set lip_reading = 0"
                )
            from vfhgan_core.losses.lipreading import LipReadingLoss

            self.lip_loss = LipReadingLoss(lip_reader, feature_names=config.lip_features)

    def _pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(pred, target) if self.config.pixel_kind == "l1" else F.mse_loss(pred, target)

    def generator_terms(
        self,
        sr: Tensor,
        sr_x2: Tensor,
        gt: Tensor,
        *,
        fake=None,
        real=None,
        mouth_boxes: Tensor | None = None,
        seq_len: int = 1,
        teacher: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Every generator loss term, weighted, and their sum under ``"total"``.

        Args:
            sr, sr_x2: generator outputs, float ``(B, 3, 128, 128)`` and ``(B, 3, 64, 64)``.
            gt: ground truth ``(B, 3, 128, 128)`` in [0, 1].
            fake: discriminator output on ``sr`` (``.logits``, ``.features``); needed for the
                adversarial term and feature matching.
            real: discriminator output on ``gt`` (only ``.features`` is used, for feature matching).
            mouth_boxes: ``(B, 4)`` mouth boxes in crop pixels, for the lip-reading loss.
            seq_len: the batch holds ``B / seq_len`` sequences of ``seq_len`` consecutive frames
                (frame-major within a sequence); the lip reader sees them as clips.
            teacher: the teacher's mirror self-ensemble of the same windows ``(B, 3, 128, 128)``,
                for the mirror-distillation term.
        """
        c = self.config
        gt_x2 = downscale_x2(gt)
        terms: dict[str, Tensor] = {}
        if c.pixel_128 > 0:
            terms["pixel_128"] = c.pixel_128 * self._pixel(sr, gt)
        if c.pixel_64 > 0:
            terms["pixel_64"] = c.pixel_64 * self._pixel(sr_x2, gt_x2)
        if self.frequency_loss is not None:
            freq = self.frequency_loss(sr, gt)
            if c.frequency_at_64:
                freq = freq + self.frequency_loss(sr_x2, gt_x2)
            terms["frequency"] = c.frequency * freq
        if self.radial_loss is not None:
            radial = self.radial_loss(sr, gt)
            if c.frequency_at_64:
                radial = radial + self.radial_loss(sr_x2, gt_x2)
            terms["radial_spectrum"] = c.radial_spectrum * radial
        if c.mirror_distillation > 0:
            if teacher is None:
                raise ValueError("the mirror-distillation term needs the teacher's self-ensemble output (teacher=)")
            terms["mirror_distillation"] = c.mirror_distillation * self._pixel(sr, teacher)
        if self.vgg_loss is not None:
            terms["perceptual"] = c.perceptual * self.vgg_loss(sr, gt)
        if self.feature_matching is not None:
            if fake is None or real is None:
                raise ValueError("feature matching (the perceptual term without VGG weights) needs fake= and real=")
            terms["perceptual"] = c.perceptual * self.feature_matching(fake.features, real.features)
        if c.adversarial > 0:
            if fake is None:
                raise ValueError("the adversarial term needs the discriminator output on SR (fake=)")
            terms["adversarial"] = c.adversarial * self.adversarial_loss.generator_loss(fake.logits)
        if self.lip_loss is not None:
            if mouth_boxes is None:
                raise ValueError("the lip-reading loss needs mouth_boxes")
            b = sr.shape[0]
            if b % seq_len:
                raise ValueError(f"batch of {b} frames is not a whole number of sequences of {seq_len}")
            n = b // seq_len
            terms["lip_reading"] = c.lip_reading * self.lip_loss(
                sr.view(n, seq_len, *sr.shape[1:]),
                gt.view(n, seq_len, *gt.shape[1:]),
                mouth_boxes.view(n, seq_len, 4),
            )
        terms["total"] = torch.stack(list(terms.values())).sum() if terms else sr.new_zeros(())
        return terms

    def discriminator_terms(self, real, fake, real_inputs: Tensor | None = None) -> dict[str, Tensor]:
        """Discriminator loss on outputs for GT (``real``) and detached SR (``fake``).

        With ``adversarial_loss.r1_gamma > 0``, ``real_inputs`` (with ``requires_grad``) gives
        the R1 penalty.
        """
        terms = {"adversarial": self.adversarial_loss.discriminator_loss(real.logits, fake.logits)}
        gamma = self.config.adversarial_loss.r1_gamma
        if gamma > 0:
            if real_inputs is None:
                raise ValueError("the R1 penalty needs real_inputs (GT frames with requires_grad)")
            terms["r1"] = 0.5 * gamma * r1_penalty(real.logits, real_inputs)
        terms["total"] = torch.stack(list(terms.values())).sum()
        return terms

    def describe(self) -> dict:
        """The active terms and the perceptual choice, for logs and model cards."""
        return {
            "weights": {k: v for k, v in asdict(self.config).items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "perceptual": asdict(self.perceptual_choice),
        }
