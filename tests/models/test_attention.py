"""Axial self-attention: positions, which tokens each pass mixes, the full layer."""
from __future__ import annotations

import pytest
import torch

from vfhgan_core.models.attention import (
    AxialAttention,
    AxialAttentionStack,
    AxialTransformerLayer,
    sinusoidal_positions,
)


def test_sinusoidal_positions():
    table = sinusoidal_positions(16, 8)
    assert table.shape == (16, 8) and table.abs().max() <= 1
    torch.testing.assert_close(table[0], torch.tensor([0.0, 1.0] * 4))
    torch.testing.assert_close(table[3, 0], torch.sin(torch.tensor(3.0)))
    assert len({tuple(row.tolist()) for row in table}) == 16          # every position distinct
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 5)


def test_one_pass_mixes_only_its_own_sequence():
    torch.manual_seed(0)
    attn = AxialAttention(16, heads=4)
    x = torch.randn(2, 6, 8, 16, requires_grad=True)                   # (B, L sequences, N tokens, D)
    y = attn(x)
    assert y.shape == x.shape
    y[1, 2, 5].sum().backward()
    touched = x.grad.abs().sum(dim=-1) > 0                             # (B, L, N)
    assert touched[1, 2].all()                                         # the whole sequence
    assert touched.sum() == 8                                          # and nothing else


def test_positions_break_permutation_equivariance():
    """Without positions self-attention commutes with reordering the tokens; with them it must not."""
    torch.manual_seed(0)
    attn = AxialAttention(16, heads=2)
    x = torch.randn(1, 1, 8, 16)
    perm = torch.randperm(8)
    with torch.no_grad():
        assert (attn(x)[:, :, perm] - attn(x[:, :, perm])).abs().max() > 1e-3


def test_layer_sees_the_whole_grid_and_keeps_shape():
    torch.manual_seed(0)
    layer = AxialTransformerLayer(32, heads=4, mlp_ratio=2.0)
    x = torch.randn(2, 32, 6, 10, requires_grad=True)                  # (B, D, H, W)
    y = layer(x)
    assert y.shape == x.shape
    y[0, :, 3, 7].sum().backward()
    assert (x.grad[0].abs().sum(dim=0) > 0).all()                      # row pass + column pass: every cell
    assert x.grad[1].abs().sum() == 0                                  # samples stay independent


def test_stack_and_bad_sizes():
    stack = AxialAttentionStack(16, heads=4, layers=3)
    assert len(stack.layers) == 3
    assert stack(torch.randn(1, 16, 4, 4)).shape == (1, 16, 4, 4)
    with pytest.raises(ValueError, match="divisible"):
        AxialAttention(30, heads=4)
    with pytest.raises(ValueError, match="even"):
        AxialAttention(15, heads=3)
