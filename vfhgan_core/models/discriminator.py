"""The VFH-GAN discriminator: an SRGAN-style patch discriminator for 128×128 faces.

A stack of spectral-normalised 3×3 convolutions with LeakyReLU (no batch
normalisation: spectral normalisation bounds each layer's Lipschitz constant
instead, which keeps adversarial training stable with small batches). Each
stage doubles the channels (up to ``max_channels``) and halves the resolution
with a strided convolution, like SRGAN's discriminator; instead of SRGAN's
dense layers and single score, a last 3×3 convolution gives one logit per
patch, so the generator is judged on local texture everywhere in the face.

For the default config a 128×128 input gives an 8×8 grid of patch logits,
each seeing a 95×95-pixel receptive field. The activations after the stem
and after every stage are returned too, for a feature-matching loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ["DiscriminatorConfig", "DiscriminatorOutput", "PatchDiscriminator"]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Settings of :class:`PatchDiscriminator` (JSON-friendly).

    Attributes:
        in_channels: image channels (3: RGB).
        base_channels: channels of the stem; doubled by each stage.
        max_channels: cap of the channel count.
        num_downsamples: stride-2 stages (4: 128×128 → 8×8 patch logits).
        negative_slope: LeakyReLU slope.
        use_spectral_norm: wrap every convolution in spectral normalisation.
    """

    in_channels: int = 3
    base_channels: int = 64
    max_channels: int = 512
    num_downsamples: int = 4
    negative_slope: float = 0.2
    use_spectral_norm: bool = True

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.base_channels < 1 or self.max_channels < self.base_channels:
            raise ValueError(f"invalid DiscriminatorConfig channels: in {self.in_channels}, "
                             f"base {self.base_channels}, max {self.max_channels}")
        if self.num_downsamples < 1:
            raise ValueError(f"num_downsamples must be ≥ 1, got {self.num_downsamples}")

    @property
    def min_input_size(self) -> int:
        """Smallest image side that still leaves a patch-logit grid (``2 ** num_downsamples``)."""
        return 2 ** self.num_downsamples


class DiscriminatorOutput(NamedTuple):
    """What :meth:`PatchDiscriminator.forward` returns.

    Attributes:
        logits: ``(B, 1, h, w)`` unnormalised real/fake logits, one per patch
            (``h = H / 2**num_downsamples``; 8×8 for 128×128 input).
        features: activations after the stem and after each stage,
            ``1 + num_downsamples`` tensors ``(B, C_i, H_i, W_i)``, shallowest
            first, for feature matching.
    """

    logits: torch.Tensor
    features: list[torch.Tensor]


class PatchDiscriminator(nn.Module):
    """SRGAN-style patch discriminator with spectral normalisation.

    ``forward(x)``: ``x`` float ``(B, in_channels, H, W)`` RGB in [0, 1]
    (``H, W ≥ 2 ** num_downsamples``; 128×128 in VFH-GAN) →
    :class:`DiscriminatorOutput`. Inputs are mapped to [−1, 1] internally.

    Layout: stem 3×3 conv (``base_channels``) → for each stage a 3×3 conv
    (stride 1, widen) and a 3×3 conv (stride 2) → 3×3 conv to 1 channel.
    """

    def __init__(self, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DiscriminatorConfig()
        norm = spectral_norm if config.use_spectral_norm else (lambda m: m)

        def conv(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
            return norm(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1))

        act = config.negative_slope
        self.stem = nn.Sequential(conv(config.in_channels, config.base_channels), nn.LeakyReLU(act))
        stages = []
        c = config.base_channels
        for i in range(config.num_downsamples):
            c_out = min(config.max_channels, config.base_channels * 2 ** i)
            stages.append(nn.Sequential(conv(c, c_out), nn.LeakyReLU(act),
                                        conv(c_out, c_out, stride=2), nn.LeakyReLU(act)))
            c = c_out
        self.stages = nn.ModuleList(stages)
        self.classifier = conv(c, 1)

    def forward(self, x: torch.Tensor) -> DiscriminatorOutput:
        """Patch logits and intermediate features of ``x`` (see the class docstring)."""
        cfg = self.config
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != cfg.in_channels \
                or min(x.shape[-2:]) < cfg.min_input_size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"the discriminator takes float images (B, {cfg.in_channels}, H, W) in [0, 1] "
                             f"with H, W ≥ {cfg.min_input_size}, got {shape}")
        if not x.is_floating_point():
            raise ValueError(f"the discriminator takes floating-point images in [0, 1], got {x.dtype}")
        h = self.stem(x * 2.0 - 1.0)
        features = [h]
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        return DiscriminatorOutput(logits=self.classifier(h), features=features)
