"""PHFE-B building blocks: growing-kernel filters, SE gate, channel attention, upsampling, heads."""
from __future__ import annotations

import pytest
import torch

from vfhgan_core.models.blocks import (
    ChannelAttention,
    ComplexFilterFormation,
    PHFEBlock,
    PixelShuffleUpsample,
    RGBHead,
    SqueezeExcitation,
)


def _support(module: torch.nn.Module, channels: int, size: int = 21) -> int:
    """Side of the input window one output pixel depends on."""
    x = torch.randn(1, channels, size, size, requires_grad=True)
    module(x)[0, :, size // 2, size // 2].sum().backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("kernels, window", [((1, 3, 5, 7), 7), ((1, 3), 3), ((3, 5, 9), 9)])
def test_complex_filters_reach_as_far_as_the_largest_kernel(kernels, window):
    torch.manual_seed(0)
    channels = 4 * len(kernels)
    block = ComplexFilterFormation(channels, kernels)
    assert [conv.kernel_size[0] for conv in block.branches] == list(kernels)
    assert block(torch.randn(2, channels, 9, 11)).shape == (2, channels, 9, 11)
    assert _support(block, channels) == window


def test_complex_filters_refuse_bad_layouts():
    with pytest.raises(ValueError, match="divisible"):
        ComplexFilterFormation(30, (1, 3, 5, 7))
    with pytest.raises(ValueError, match="odd"):
        ComplexFilterFormation(16, (1, 2, 3, 5))


def test_squeeze_excitation_scales_each_channel_by_a_gate_in_0_1():
    torch.manual_seed(0)
    se = SqueezeExcitation(16, reduction=4)
    x = torch.rand(3, 16, 5, 5) + 0.5
    gate = se(x) / x                                                   # (B, C, H, W)
    spatially_constant = gate - gate[:, :, :1, :1]
    assert spatially_constant.abs().max() < 1e-5
    assert (gate > 0).all() and (gate < 1).all()
    assert gate[:, :, 0, 0].std() > 0                                  # channels weighted differently


def test_channel_attention_and_phfe_block_are_residual():
    torch.manual_seed(0)
    ca = ChannelAttention(16, expansion=2)
    assert ca.depthwise.groups == ca.depthwise.in_channels == 32
    assert ca(torch.randn(2, 16, 8, 8)).shape == (2, 16, 8, 8)
    block = PHFEBlock(16)
    x = torch.randn(2, 16, 8, 8)
    assert block(x).shape == (2, 16, 8, 8)
    assert (block(x) - x).abs().max() > 1e-3
    # both modules are residual: with their last convolutions at zero the block is the identity
    with torch.no_grad():
        for conv in (block.filters.fuse, block.attention.project):
            conv.weight.zero_()
            conv.bias.zero_()
    torch.testing.assert_close(block(x), x)


def test_upsample_and_heads():
    up = PixelShuffleUpsample(16, 8)
    assert up(torch.randn(2, 16, 8, 8)).shape == (2, 8, 16, 16)
    head = RGBHead(8)
    assert torch.equal(head(torch.randn(2, 8, 16, 16)), torch.zeros(2, 3, 16, 16))   # zero start
    sub = RGBHead(8, upscale=2)
    assert sub(torch.randn(2, 8, 16, 16)).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="upscale"):
        RGBHead(8, upscale=4)
