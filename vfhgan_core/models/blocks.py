"""Building blocks of PHFE-B, the generator's progressive hierarchical feature branch.

The paper (§3.1, after the authors' FH-GAN) describes PHFE-B as two modules
repeated in stages:

* a **complex filter formation** module: the same feature maps go through
  convolutions of growing kernel size (1×1, 3×3, 5×5, 7×7) in parallel, so
  a block sees local detail and wider context at once; the branch outputs are
  concatenated and fused (:class:`ComplexFilterFormation`);
* a **channel attention** module built on depthwise convolutions with a
  squeeze-and-excitation gate (:class:`ChannelAttention`).

:class:`PHFEBlock` chains the two, :class:`PixelShuffleUpsample` doubles the
resolution between stages and :class:`RGBHead` turns a stage's features into
an RGB residual. All blocks are fully convolutional: they take any spatial
size and keep it (except the upsampler, which doubles it).

Tensors are float ``(B, C, H, W)`` throughout; values are unbounded features.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ChannelAttention",
    "ComplexFilterFormation",
    "PHFEBlock",
    "PixelShuffleUpsample",
    "RGBHead",
    "SqueezeExcitation",
    "activation",
]

#: kernel sizes of the parallel branches of the complex filter formation module
FILTER_KERNELS: tuple[int, ...] = (1, 3, 5, 7)


def activation(negative_slope: float = 0.2) -> nn.Module:
    """The trunk's non-linearity: LeakyReLU (cheap on CPU, no dead units)."""
    return nn.LeakyReLU(negative_slope)


class ComplexFilterFormation(nn.Module):
    """Parallel convolutions with growing kernels, fused back to ``channels``.

    ``x (B, C, H, W)`` → 1×1 "split" convolution to ``C`` channels, whose
    ``len(kernels)`` equal chunks (``C / len(kernels)`` channels each) feed one
    k×k convolution per kernel size in ``kernels`` (all branches therefore see
    every input channel, through the split) → concatenation → LeakyReLU →
    1×1 fusion → ``x +`` result. Output ``(B, C, H, W)``.

    Reducing each branch to a quarter of the channels before its large kernel
    keeps the cost near ``(1 + 84/16 + 1) · C²`` multiply-adds per pixel for
    the default kernels (1, 3, 5, 7) instead of ``21 · C²`` for four full-width
    branches.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...] = FILTER_KERNELS,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        if channels % len(kernels):
            raise ValueError(f"channels ({channels}) must be divisible by the number of "
                             f"filter branches ({len(kernels)})")
        if any(k < 1 or k % 2 == 0 for k in kernels):
            raise ValueError(f"filter kernel sizes must be odd and positive, got {kernels}")
        branch = channels // len(kernels)
        self.branch_channels = branch
        self.split = nn.Conv2d(channels, branch * len(kernels), 1)
        self.branches = nn.ModuleList(
            nn.Conv2d(branch, branch, k, padding=k // 2) for k in kernels
        )
        self.act = activation(negative_slope)
        self.fuse = nn.Conv2d(branch * len(kernels), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(self.act(self.split(x)), self.branch_channels, dim=1)
        y = torch.cat([conv(p) for conv, p in zip(self.branches, parts)], dim=1)
        return x + self.fuse(self.act(y))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation gate: ``x · sigmoid(W2 relu(W1 mean_hw(x)))``.

    ``(B, C, H, W)`` → ``(B, C, H, W)``; the gate is one weight in (0, 1) per
    sample and channel, from a bottleneck of ``max(4, C // reduction)`` units.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class ChannelAttention(nn.Module):
    """Depthwise-convolution channel attention module (an inverted residual with SE).

    ``x (B, C, H, W)`` → 1×1 convolution to ``C · expansion`` channels →
    LeakyReLU → depthwise 3×3 → LeakyReLU → squeeze-and-excitation →
    1×1 projection to ``C`` → ``x +`` result. (``expansion`` 1 is much
    cheaper on CPU than 2: the wider depthwise tensors stop fitting in cache.)
    """

    def __init__(self, channels: int, expansion: int = 1, se_reduction: int = 4,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        hidden = channels * expansion
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.depthwise = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.act = activation(negative_slope)
        self.se = SqueezeExcitation(hidden, se_reduction)
        self.project = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.expand(x))
        y = self.act(self.depthwise(y))
        return x + self.project(self.se(y))


class PHFEBlock(nn.Module):
    """One PHFE-B block: complex filter formation, then channel attention.

    ``(B, C, H, W)`` → ``(B, C, H, W)``; both modules are residual.
    """

    def __init__(self, channels: int, kernels: tuple[int, ...] = FILTER_KERNELS,
                 expansion: int = 1, se_reduction: int = 4, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.filters = ComplexFilterFormation(channels, kernels, negative_slope)
        self.attention = ChannelAttention(channels, expansion, se_reduction, negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.filters(x))


class PixelShuffleUpsample(nn.Module):
    """×2 upsampling by sub-pixel convolution.

    ``(B, C_in, H, W)`` → 3×3 convolution to ``4 · C_out`` → pixel shuffle →
    LeakyReLU → ``(B, C_out, 2H, 2W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4 * out_channels, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)
        self.act = activation(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class RGBHead(nn.Module):
    """Features ``(B, C, H, W)`` → RGB residual ``(B, 3, H·u, W·u)``.

    ``upscale`` 1: one 3×3 convolution to 3 channels. ``upscale`` 2: a
    sub-pixel head, a 3×3 convolution to ``3 · 4`` channels and a pixel
    shuffle, so no feature maps are ever computed at the output size.
    The convolution starts at zero, so an untrained generator returns exactly
    the bicubic base it adds this residual to.
    """

    def __init__(self, channels: int, upscale: int = 1) -> None:
        super().__init__()
        if upscale not in (1, 2):
            raise ValueError(f"RGBHead upscale must be 1 or 2, got {upscale}")
        self.conv = nn.Conv2d(channels, 3 * upscale * upscale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(upscale) if upscale > 1 else nn.Identity()
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))
