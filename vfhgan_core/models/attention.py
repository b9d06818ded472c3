"""Axial self-attention (the paper's eq. 3, ``f^a = axial_atten(f^lv')``).

Full self-attention over an ``H × W`` grid costs ``(HW)²``; axial attention
(Ho et al. 2019, "Axial Attention in Multidimensional Transformers") attends
along one axis at a time: every position first attends to the positions of
its own row, then to those of its own column, so after both passes each
position has seen the whole grid at ``HW · (H + W)`` cost.

:class:`AxialAttention` is one such pass (multi-head, along rows or columns)
with sinusoidal positions of the attended axis added to queries and keys;
:class:`AxialTransformerLayer` is a pre-norm residual layer (row pass, column
pass, MLP); :class:`AxialAttentionStack` stacks layers.

Tensors are float ``(B, D, H, W)`` grids of ``D``-dimensional tokens; any grid
size works (positions are computed for the size at hand).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AxialAttention", "AxialAttentionStack", "AxialTransformerLayer", "sinusoidal_positions"]


def sinusoidal_positions(length: int, dim: int, *, device: torch.device | None = None,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sine/cosine position codes of the Transformer, shape ``(length, dim)``.

    Even ``dim``: columns ``2i`` hold ``sin(p / 10000^(2i/dim))`` and ``2i + 1``
    the cosine, for positions ``p = 0 … length − 1``. Values in [−1, 1].
    """
    if dim % 2:
        raise ValueError(f"position code dimension must be even, got {dim}")
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.to(dtype)


class AxialAttention(nn.Module):
    """Multi-head self-attention along one axis of a token grid.

    Args:
        dim: token dimension ``D`` (divisible by ``heads``).
        heads: number of attention heads.
        axis: ``"row"`` (each position attends to its row, i.e. along W) or
            ``"column"`` (along H).

    ``forward(x (B, L, N, D)) -> (B, L, N, D)``: ``L`` independent sequences
    of ``N`` tokens each (rows or columns, already laid out by the caller).
    Position codes of the ``N`` positions are added to queries and keys only,
    so the values (what is mixed) carry no position signal.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim ({dim}) must be divisible by heads ({heads})")
        if dim % 2:
            raise ValueError(f"attention dim must be even (for the position codes), got {dim}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, l, n, d = x.shape
        pos = sinusoidal_positions(n, d, device=x.device, dtype=x.dtype)      # (N, D)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        # positions enter through the same projections as the tokens
        pq, pk, _ = F.linear(pos, self.qkv.weight).chunk(3, dim=-1)
        q, k = q + pq, k + pk

        def heads(t: torch.Tensor) -> torch.Tensor:                          # → (B·L, h, N, D/h)
            return t.reshape(b * l, n, self.heads, d // self.heads).transpose(1, 2)

        y = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        y = y.transpose(1, 2).reshape(b, l, n, d)
        return self.out(y)


class AxialTransformerLayer(nn.Module):
    """Pre-norm residual layer: row attention, column attention, MLP.

    ``(B, D, H, W)`` → ``(B, D, H, W)``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.norm_row = nn.LayerNorm(dim)
        self.row = AxialAttention(dim, heads)
        self.norm_col = nn.LayerNorm(dim)
        self.col = AxialAttention(dim, heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.permute(0, 2, 3, 1)                                      # (B, H, W, D): rows
        t = t + self.row(self.norm_row(t))
        t = t.transpose(1, 2)                                          # (B, W, H, D): columns
        t = t + self.col(self.norm_col(t))
        t = t + self.mlp(self.norm_mlp(t))
        return t.permute(0, 3, 2, 1)                                   # (B, D, H, W)


class AxialAttentionStack(nn.Module):
    """``layers`` :class:`AxialTransformerLayer` in sequence, ``(B, D, H, W)`` → same."""

    def __init__(self, dim: int, heads: int, layers: int = 1, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.layers = nn.ModuleList(AxialTransformerLayer(dim, heads, mlp_ratio) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x
