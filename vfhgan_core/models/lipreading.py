"""Word-level visual lip reader: 3D conv front-end, ResNet-18 trunk, multi-scale TCN.

This is the architecture family of the paper's reference [21] (Martinez, Ma, Petridis
and Pantic, "Lipreading using temporal convolutional networks", ICASSP 2020; official
code: github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks). VFH-GAN uses
it frozen, as a feature extractor for the lip-reading loss (eq. 4-5,
:mod:`vfhgan_core.losses.lipreading`).

Input: grayscale mouth clips, float32 ``(B, 1, T, 88, 88)``, 25 fps, already
normalised with :func:`normalise_mouths` (``(x - 0.421) / 0.165`` for ``x`` in [0, 1]).

Network (``C = trunk_channels``, 64-128-256-512 at full width):

1. front-end: ``Conv3d(1, C0, (5,7,7), stride (1,2,2), pad (2,3,3))`` -> BN3d ->
   activation -> ``MaxPool3d((1,3,3), (1,2,2), pad (0,1,1))``; 88x88 -> 22x22, T kept;
2. trunk: a ResNet-18 without its stem, applied to every frame (BasicBlocks, [2,2,2,2]
   blocks, strides 1-2-2-2), then global average pooling: one ``C3`` vector per frame;
3. multi-scale TCN: ``tcn_num_layers`` residual blocks with dilation ``2**i``; each block
   runs one branch per kernel size (3, 5, 7) twice, concatenates the branches, and adds
   a 1x1-conv residual; ``tcn_hidden_dim * len(kernels) * tcn_width_mult`` channels;
4. consensus: mean of the TCN output over the valid frames of each clip, then a linear
   word classifier (500 LRW words by default).

:func:`load_mpc001_checkpoint` loads an official video checkpoint
(``lrw_resnet18_mstcn.pth.tar`` with ``configs/lrw_resnet18_mstcn.json``) into
:class:`LipReader`, mapping the official parameter names onto ours.
"""
from __future__ import annotations

import json
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import Tensor, nn

from vfhgan_core.config import from_dict
from vfhgan_core.errors import WeightsNotFoundError
from vfhgan_core.faces.mouths import MOUTH_CROP, MOUTH_MEAN, MOUTH_ROI, MOUTH_STD, normalise_mouths
from vfhgan_core.utils.hub_files import StrictPretrained

__all__ = [
    "MOUTH_MEAN",
    "MOUTH_STD",
    "MOUTH_ROI",
    "MOUTH_CROP",
    "InvalidCheckpointError",
    "LipReaderConfig",
    "LipReader",
    "normalise_mouths",
    "load_mpc001_checkpoint",
    "mpc001_to_lipreader_key",
]

_ACTIVATIONS = ("prelu", "relu", "swish")


class InvalidCheckpointError(WeightsNotFoundError):
    """A weights file exists but is not a usable lip-reader checkpoint (or its config)."""

    reason = "bad_weights"


# --------------------------------------------------------------------------- config


@dataclass
class LipReaderConfig:
    """Architecture of :class:`LipReader` (JSON-friendly; field names follow the official json).

    Attributes:
        backbone_type: per-frame trunk; only ``"resnet"`` (ResNet-18 family) is implemented.
        relu_type: activation everywhere: ``"prelu"`` (per-channel), ``"relu"`` or ``"swish"``.
        width_mult: multiplies the trunk widths 64-128-256-512 (ignored when
            ``trunk_channels`` is given). The official code ignores it for ResNet.
        trunk_channels: explicit widths of the four ResNet stages; the front-end outputs
            ``trunk_channels[0]`` channels.
        trunk_blocks: BasicBlocks per stage (ResNet-18: 2, 2, 2, 2).
        tcn_num_layers: number of residual TCN blocks (dilations 1, 2, 4, ...).
        tcn_kernel_size: temporal kernel sizes of the branches (odd numbers).
        tcn_dropout: dropout after each multi-branch convolution stage.
        tcn_dwpw: use depthwise + pointwise convolutions in the TCN branches.
        tcn_width_mult: integer multiplier of the TCN width.
        tcn_hidden_dim: channels per branch at ``tcn_width_mult`` 1 (official: 256, not in
            the json); TCN channels are ``tcn_hidden_dim * len(tcn_kernel_size) * tcn_width_mult``.
        num_classes: words of the classifier (LRW: 500, GRID: 51).
    """

    backbone_type: str = "resnet"
    relu_type: str = "swish"
    width_mult: float = 1.0
    trunk_channels: tuple[int, ...] | None = None
    trunk_blocks: tuple[int, ...] = (2, 2, 2, 2)
    tcn_num_layers: int = 4
    tcn_kernel_size: tuple[int, ...] = (3, 5, 7)
    tcn_dropout: float = 0.2
    tcn_dwpw: bool = False
    tcn_width_mult: int = 1
    tcn_hidden_dim: int = 256
    num_classes: int = 500

    def __post_init__(self) -> None:
        # JSON (and the Hub mixin) hand lists back: store tuples
        for name in ("trunk_channels", "trunk_blocks", "tcn_kernel_size"):
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(int(v) for v in value))
        if self.backbone_type != "resnet":
            raise ValueError(f"backbone_type {self.backbone_type!r} is not implemented; use 'resnet'")
        if self.relu_type not in _ACTIVATIONS:
            raise ValueError(f"relu_type must be one of {_ACTIVATIONS}, got {self.relu_type!r}")
        if self.width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {self.width_mult}")
        if self.trunk_channels is not None and (
            len(self.trunk_channels) != 4 or min(self.trunk_channels) < 1
        ):
            raise ValueError(f"trunk_channels must be 4 positive widths, got {self.trunk_channels}")
        if len(self.trunk_blocks) != 4 or min(self.trunk_blocks) < 1:
            raise ValueError(f"trunk_blocks must be 4 positive counts, got {self.trunk_blocks}")
        if not self.tcn_kernel_size or any(k < 1 or k % 2 == 0 for k in self.tcn_kernel_size):
            raise ValueError(f"tcn_kernel_size must be odd sizes, got {self.tcn_kernel_size}")
        if self.tcn_num_layers < 1 or self.tcn_width_mult < 1 or self.tcn_hidden_dim < 1:
            raise ValueError("tcn_num_layers, tcn_width_mult and tcn_hidden_dim must be >= 1")
        if not 0.0 <= self.tcn_dropout < 1.0:
            raise ValueError(f"tcn_dropout must be in [0, 1), got {self.tcn_dropout}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")

    @property
    def channels(self) -> tuple[int, int, int, int]:
        """Widths of the four trunk stages (the front-end outputs the first)."""
        if self.trunk_channels is not None:
            return tuple(self.trunk_channels)  # type: ignore[return-value]
        return tuple(max(1, int(round(c * self.width_mult))) for c in (64, 128, 256, 512))  # type: ignore[return-value]

    @property
    def tcn_channels(self) -> int:
        """Channels of every TCN block output (all branches concatenated)."""
        return self.tcn_hidden_dim * len(self.tcn_kernel_size) * self.tcn_width_mult

    @classmethod
    def lrw(cls) -> "LipReaderConfig":
        """The official ``configs/lrw_resnet18_mstcn.json`` (swish, 500 words; 36.4 M parameters)."""
        return cls()

    @classmethod
    def grid(cls) -> "LipReaderConfig":
        """Our own 51-word GRID reader: same family, quarter-width trunk, 96-channel TCN.

        Small enough to train on a CPU (1.14 M parameters; about 30 ms per 29-frame clip on one core).
        """
        return cls(relu_type="prelu", width_mult=0.25, tcn_hidden_dim=32, num_classes=51)


# --------------------------------------------------------------------------- modules


def _activation(kind: str, channels: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=channels)
    if kind == "swish":
        return nn.SiLU()  # x * sigmoid(x)
    return nn.ReLU()


class Frontend3D(nn.Module):
    """Spatio-temporal stem: ``(B, 1, T, H, W)`` -> ``(B, C, T, ceil(H/4), ceil(W/4))``."""

    def __init__(self, out_channels: int, relu_type: str) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, out_channels, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3), bias=False)
        self.bn = nn.BatchNorm3d(out_channels)
        self.act = _activation(relu_type, out_channels)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BN, activation after each, 1x1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, relu_type: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = _activation(relu_type, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.act2 = _activation(relu_type, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.act2(out + identity)


class ResNetTrunk(nn.Module):
    """Stem-less ResNet-18 applied per frame: ``(N, C0, 22, 22)`` -> ``(N, C3)``.

    ``layer1`` .. ``layer4`` are :class:`nn.Sequential` of :class:`BasicBlock`
    (strides 1, 2, 2, 2), followed by global average pooling.
    """

    def __init__(self, channels: Sequence[int], blocks: Sequence[int], relu_type: str) -> None:
        super().__init__()
        in_ch = channels[0]
        for index, (width, count) in enumerate(zip(channels, blocks)):
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(in_ch, width, stride, relu_type)]
            stage += [BasicBlock(width, width, 1, relu_type) for _ in range(count - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            in_ch = width
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_channels = in_ch

    def forward(self, x: Tensor) -> Tensor:
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
        return self.pool(x).flatten(1)


class TemporalConvUnit(nn.Module):
    """One TCN branch: dilated non-causal conv -> BN -> trim -> activation, length kept.

    The convolution pads ``(k-1)*d`` on both sides and the output is trimmed by
    ``(k-1)*d/2`` frames at each end after batch norm (the official order, which
    matters in training mode because BN statistics then include the padded frames).
    With ``depthwise_separable`` the conv is a depthwise conv (no bias) + BN + trim +
    activation followed by a pointwise conv + BN + activation; the official code uses
    PReLU there for ``"prelu"`` and ReLU otherwise (also for ``"swish"``), and so do we.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 relu_type: str, depthwise_separable: bool) -> None:
        super().__init__()
        pad = (kernel_size - 1) * dilation
        self.trim = pad // 2
        self.depthwise_separable = depthwise_separable
        if depthwise_separable:
            dw_kind = "prelu" if relu_type == "prelu" else "relu"
            self.depthwise = nn.Conv1d(in_channels, in_channels, kernel_size, padding=pad,
                                       dilation=dilation, groups=in_channels, bias=False)
            self.dw_bn = nn.BatchNorm1d(in_channels)
            self.dw_act = _activation(dw_kind, in_channels)
            self.pointwise = nn.Conv1d(in_channels, out_channels, 1, bias=False)
            self.pw_bn = nn.BatchNorm1d(out_channels)
            self.pw_act = _activation(dw_kind, out_channels)
        else:
            self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=pad, dilation=dilation)
            self.bn = nn.BatchNorm1d(out_channels)
            self.act = _activation(relu_type, out_channels)

    def _trim(self, x: Tensor) -> Tensor:
        return x[:, :, self.trim: x.shape[-1] - self.trim] if self.trim else x

    def forward(self, x: Tensor) -> Tensor:
        if self.depthwise_separable:
            x = self.dw_act(self._trim(self.dw_bn(self.depthwise(x))))
            return self.pw_act(self.pw_bn(self.pointwise(x)))
        return self.act(self._trim(self.bn(self.conv(x))))


class MultiBranchTemporalBlock(nn.Module):
    """Residual block of the multi-scale TCN: ``(B, C_in, T)`` -> ``(B, C_out, T)``.

    Two stages; in each, one :class:`TemporalConvUnit` per kernel size produces
    ``C_out / n_kernels`` channels, the branches are concatenated and dropped out.
    The residual is a 1x1 conv (with bias) unless ``C_in // n_kernels == C_out``
    (the official rule, so in practice every block with 2+ kernels has one).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: Sequence[int], dilation: int,
                 dropout: float, relu_type: str, depthwise_separable: bool) -> None:
        super().__init__()
        n = len(kernel_sizes)
        if out_channels % n:
            raise ValueError(f"TCN width {out_channels} is not divisible by {n} kernel sizes")
        branch = out_channels // n
        self.stage0 = nn.ModuleList(
            TemporalConvUnit(in_channels, branch, k, dilation, relu_type, depthwise_separable)
            for k in kernel_sizes)
        self.dropout0 = nn.Dropout(dropout)
        self.stage1 = nn.ModuleList(
            TemporalConvUnit(out_channels, branch, k, dilation, relu_type, depthwise_separable)
            for k in kernel_sizes)
        self.dropout1 = nn.Dropout(dropout)
        self.residual: nn.Module | None = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels // n != out_channels else None)
        self.act = _activation(relu_type, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.dropout0(torch.cat([unit(x) for unit in self.stage0], dim=1))
        out = self.dropout1(torch.cat([unit(out) for unit in self.stage1], dim=1))
        identity = x if self.residual is None else self.residual(x)
        return self.act(out + identity)


class MultiScaleTCN(nn.Module):
    """Stack of :class:`MultiBranchTemporalBlock` with dilations 1, 2, 4, ...: ``(B, C, T)`` -> ``(B, H, T)``."""

    def __init__(self, in_channels: int, config: LipReaderConfig) -> None:
        super().__init__()
        width = config.tcn_channels
        self.blocks = nn.Sequential(*(
            MultiBranchTemporalBlock(in_channels if i == 0 else width, width, config.tcn_kernel_size,
                                     2 ** i, config.tcn_dropout, config.relu_type, config.tcn_dwpw)
            for i in range(config.tcn_num_layers)))
        self.out_channels = width

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


def _valid_mean(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Mean over time of ``x`` ``(B, C, T)`` using the first ``lengths[b]`` frames -> ``(B, C)``."""
    if lengths is None:
        return x.mean(dim=2)
    steps = torch.arange(x.shape[2], device=x.device)
    mask = (steps[None, :] < lengths[:, None]).to(x.dtype)  # (B, T)
    return (x * mask[:, None, :]).sum(dim=2) / lengths.to(x.dtype)[:, None]


class LipReader(
    StrictPretrained,
    nn.Module,
    PyTorchModelHubMixin,
    library_name="vfhgan",
    tags=["lip-reading", "visual-speech-recognition"],
):
    """Word-level lip reader (3D conv + ResNet-18 + multi-scale TCN), see the module docstring.

    ``LipReader(config)`` builds a randomly initialised network; ``save_pretrained`` /
    ``from_pretrained`` store and load it (safetensors + ``config.json``) locally or on
    the Hub; :func:`load_mpc001_checkpoint` loads the official weights.
    """

    #: ``from_pretrained`` (:class:`~vfhgan_core.utils.hub_files.StrictPretrained`) reads this config
    config_class = LipReaderConfig
    network_name = "lip reader"
    #: names accepted by :meth:`extract_features`, from shallowest to deepest
    FEATURE_NAMES: tuple[str, ...] = (
        "frontend", "trunk.layer1", "trunk.layer2", "trunk.layer3", "trunk.layer4",
        "trunk.pool", "tcn", "logits",
    )

    def __init__(self, config: LipReaderConfig | None = None) -> None:
        super().__init__()
        if config is None:
            config = LipReaderConfig()
        elif isinstance(config, Mapping):  # the Hub mixin may hand back the json dict
            config = from_dict(LipReaderConfig, dict(config))
        self.config = config
        self._hub_mixin_config = config  # so save_pretrained always writes config.json
        channels = config.channels
        self.frontend = Frontend3D(channels[0], config.relu_type)
        self.trunk = ResNetTrunk(channels, config.trunk_blocks, config.relu_type)
        self.tcn = MultiScaleTCN(self.trunk.out_channels, config)
        self.classifier = nn.Linear(self.tcn.out_channels, config.num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _check_input(x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != 1:
            raise ValueError(
                f"lip reader input must be (B, 1, T, H, W) grayscale mouth clips, got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"lip reader input must be float (normalised), got {x.dtype}")

    @staticmethod
    def _lengths(lengths: Sequence[int] | Tensor | None, batch: int, frames: int,
                 device: torch.device) -> Tensor | None:
        if lengths is None:
            return None
        lengths = torch.as_tensor(lengths, device=device).long().reshape(-1)
        if lengths.numel() != batch:
            raise ValueError(f"got {lengths.numel()} lengths for a batch of {batch} clips")
        if bool((lengths < 1).any()) or bool((lengths > frames).any()):
            raise ValueError(f"lengths must be in [1, {frames}], got {lengths.tolist()}")
        return lengths

    # -- forward ---------------------------------------------------------------------------

    def extract_features(self, x: Tensor, names: Iterable[str] = ("trunk.pool",),
                         lengths: Sequence[int] | Tensor | None = None) -> dict[str, Tensor]:
        """Intermediate maps chosen by name; the forward stops after the deepest one requested.

        Args:
            x: float ``(B, 1, T, H, W)`` normalised mouth clips (H = W = 88 for the official model).
            names: any of :attr:`FEATURE_NAMES`.
            lengths: valid frames per clip, only used by ``"logits"`` (default: all T).

        Returns:
            ``{name: tensor}`` with, for 88x88 input at full width:
            ``"frontend"`` and ``"trunk.layer1"`` ``(B, T, 64, 22, 22)``, ``"trunk.layer2"``
            ``(B, T, 128, 11, 11)``, ``"trunk.layer3"`` ``(B, T, 256, 6, 6)``,
            ``"trunk.layer4"`` ``(B, T, 512, 3, 3)``, ``"trunk.pool"`` ``(B, T, 512)``,
            ``"tcn"`` ``(B, T, 768)`` and ``"logits"`` ``(B, num_classes)``.
        """
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in self.FEATURE_NAMES]
        if unknown or not wanted:
            raise ValueError(f"unknown feature name(s) {unknown or wanted}; choose from {self.FEATURE_NAMES}")
        self._check_input(x)
        deepest = max(self.FEATURE_NAMES.index(n) for n in wanted)
        batch, _, frames = x.shape[:3]
        lengths_t = self._lengths(lengths, batch, frames, x.device)
        out: dict[str, Tensor] = {}

        def keep(name: str, value: Tensor) -> bool:
            if name in wanted:
                out[name] = value
            return self.FEATURE_NAMES.index(name) >= deepest

        h = self.frontend(x)  # (B, C, T, h, w); the front-end keeps T
        channels, height, width = h.shape[1], h.shape[3], h.shape[4]
        h = h.transpose(1, 2).reshape(batch * frames, channels, height, width)  # frames as a batch
        if keep("frontend", h.reshape(batch, frames, *h.shape[1:])):
            return out
        for index in range(1, 5):
            h = getattr(self.trunk, f"layer{index}")(h)
            if keep(f"trunk.layer{index}", h.reshape(batch, frames, *h.shape[1:])):
                return out
        v = self.trunk.pool(h).flatten(1).reshape(batch, frames, -1)  # (B, T, C3)
        if keep("trunk.pool", v):
            return out
        t = self.tcn(v.transpose(1, 2))  # (B, H, T)
        if keep("tcn", t.transpose(1, 2)):
            return out
        keep("logits", self.classifier(_valid_mean(t, lengths_t)))
        return out

    def forward(self, x: Tensor, lengths: Sequence[int] | Tensor | None = None) -> Tensor:
        """Word logits.

        Args:
            x: float ``(B, 1, T, 88, 88)`` normalised mouth clips (see :func:`normalise_mouths`).
            lengths: valid frames of each clip (``(B,)`` ints in [1, T]); the TCN output is
                averaged over those frames only. ``None``: all T frames.

        Returns:
            ``(B, num_classes)`` unnormalised logits.
        """
        return self.extract_features(x, ("logits",), lengths=lengths)["logits"]


# --------------------------------------------------------------------------- official weights

#: official parameter-name patterns -> ours (applied in order, first match wins)
_KEY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement) for pattern, replacement in (
        (r"^frontend3D\.0\.", "frontend.conv."),
        (r"^frontend3D\.1\.", "frontend.bn."),
        (r"^frontend3D\.2\.", "frontend.act."),
        (r"^(trunk\.layer\d\.\d+)\.relu([12])\.", r"\1.act\2."),
        (r"^(trunk\.layer\d\.\d+)\.downsample\.", r"\1.shortcut."),
        (r"^(trunk\.layer\d\.\d+)\.((?:conv|bn)[12])\.", r"\1.\2."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.0\.", r"tcn.blocks.\1.stage\2.\3.depthwise."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.1\.", r"tcn.blocks.\1.stage\2.\3.dw_bn."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.3\.", r"tcn.blocks.\1.stage\2.\3.dw_act."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.4\.", r"tcn.blocks.\1.stage\2.\3.pointwise."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.5\.", r"tcn.blocks.\1.stage\2.\3.pw_bn."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.6\.", r"tcn.blocks.\1.stage\2.\3.pw_act."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.conv\.", r"tcn.blocks.\1.stage\2.\3.conv."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.batchnorm\.", r"tcn.blocks.\1.stage\2.\3.bn."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.cbcr([01])_(\d+)\.non_lin\.", r"tcn.blocks.\1.stage\2.\3.act."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.downsample\.", r"tcn.blocks.\1.residual."),
        (r"^tcn\.mb_ms_tcn\.network\.(\d+)\.relu_final\.", r"tcn.blocks.\1.act."),
        (r"^tcn\.tcn_output\.", "classifier."),
    ))


def mpc001_to_lipreader_key(key: str) -> str | None:
    """Our parameter name for an official ``Lipreading`` state-dict key (``None``: no counterpart).

    Example: ``"tcn.mb_ms_tcn.network.0.cbcr1_2.batchnorm.running_var"`` ->
    ``"tcn.blocks.0.stage1.2.bn.running_var"``.
    """
    for pattern, replacement in _KEY_RULES:
        if pattern.match(key):
            return pattern.sub(replacement, key, count=1)
    return None


def _few(keys: Iterable[str], n: int = 5) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:n])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def _read_official_config(config_path: Path) -> dict[str, Any]:
    if not config_path.is_file():
        raise WeightsNotFoundError(
            f"lip-reader config {config_path} not found; pass the json that came with the "
            "checkpoint (e.g. configs/lrw_resnet18_mstcn.json from mpc001's repository)")
    try:
        data = json.loads(config_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidCheckpointError(f"{config_path} is not a JSON model config ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidCheckpointError(f"{config_path} must hold a JSON object, not {type(data).__name__}")
    if any(k.startswith("densetcn") for k in data):
        raise InvalidCheckpointError(
            f"{config_path} describes a DC-TCN model; only the multi-scale TCN models "
            "(e.g. lrw_resnet18_mstcn) are supported")
    if data.get("backbone_type", "resnet") != "resnet":
        raise InvalidCheckpointError(
            f"{config_path} uses backbone {data['backbone_type']!r}; only 'resnet' (ResNet-18) is supported")
    if "tcn_kernel_size" not in data or "tcn_num_layers" not in data:
        raise InvalidCheckpointError(
            f"{config_path} has no tcn_kernel_size / tcn_num_layers: not an mpc001 lip-reading config")
    if len(data["tcn_kernel_size"]) < 2:
        raise InvalidCheckpointError(
            f"{config_path} describes a single-kernel TCN; only the multi-scale TCN (2+ kernel sizes) "
            "is supported")
    return data


def _read_state_dict(checkpoint_path: Path) -> dict[str, Tensor]:
    if not checkpoint_path.is_file():
        raise WeightsNotFoundError(
            f"lip-reader checkpoint {checkpoint_path} not found; download the official "
            "lrw_resnet18_mstcn.pth.tar (model zoo of mpc001/Lipreading_using_Temporal_Convolutional_Networks) "
            "and pass its path")
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InvalidCheckpointError(
            f"{checkpoint_path} was refused: it is not a PyTorch checkpoint, or it holds Python "
            f"objects other than tensors and plain containers, which are never unpickled here ({exc})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidCheckpointError(
            f"{checkpoint_path} is not a readable PyTorch checkpoint (truncated or another kind of file): {exc}"
        ) from exc
    if isinstance(checkpoint, Mapping) and "model_state_dict" in checkpoint:
        state = checkpoint["model_state_dict"]
    elif isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        state = checkpoint["state_dict"]
    else:
        state = checkpoint
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise InvalidCheckpointError(
            f"{checkpoint_path} holds no model weights: expected a dict with 'model_state_dict' "
            "(name -> tensor), as saved by mpc001's training code")
    # DataParallel / DistributedDataParallel prefixes
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_mpc001_checkpoint(checkpoint_path: str | Path, config_path: str | Path) -> LipReader:
    """Load an official mpc001 video checkpoint into a :class:`LipReader` (eval mode, CPU).

    Args:
        checkpoint_path: e.g. ``lrw_resnet18_mstcn.pth.tar``: a ``torch.save`` of
            ``{"model_state_dict": ..., ...}`` (``module.`` prefixes are accepted). It is
            read with ``weights_only=True``: no arbitrary Python object is unpickled.
        config_path: the official json (``backbone_type``, ``relu_type``, ``tcn_*``,
            ``width_mult``). ``num_classes`` is read from the classifier weights;
            the TCN branch width is the official 256.

    Returns:
        A :class:`LipReader` in eval mode whose logits equal the official model's.

    Raises:
        WeightsNotFoundError: a file does not exist.
        InvalidCheckpointError: not a checkpoint, an audio-only or DC-TCN / ShuffleNet /
            single-kernel-TCN model, or a config that does not match the weights.
    """
    checkpoint_path, config_path = Path(checkpoint_path), Path(config_path)
    official = _read_official_config(config_path)
    state = _read_state_dict(checkpoint_path)

    if "frontend3D.0.weight" not in state:
        first_conv = state.get("trunk.layer1.0.conv1.weight")
        if "trunk.conv1.weight" in state or (first_conv is not None and first_conv.dim() == 3):
            raise InvalidCheckpointError(
                f"{checkpoint_path} is an audio-only lip-reading checkpoint (1D ResNet on waveforms); "
                "the lip-reading loss needs a video (visual-only) model such as lrw_resnet18_mstcn")
        raise InvalidCheckpointError(
            f"{checkpoint_path} has no 'frontend3D.0.weight': not an mpc001 video lip-reading checkpoint "
            f"(first keys: {_few(state, 4)})")
    if any(k.startswith("tcn.tcn_trunk.") for k in state):
        raise InvalidCheckpointError(
            f"{checkpoint_path} holds a single-branch TCN or DC-TCN back-end ('tcn.tcn_trunk.*'); "
            "only the multi-scale TCN checkpoints (e.g. lrw_resnet18_mstcn) are supported")
    if "tcn.tcn_output.weight" not in state:
        raise InvalidCheckpointError(
            f"{checkpoint_path} has no word classifier 'tcn.tcn_output.weight': not an mpc001 lip-reading checkpoint")

    has_prelu = "frontend3D.2.weight" in state
    relu_type = official.get("relu_type", "prelu" if has_prelu else "relu")
    if (relu_type == "prelu") != has_prelu:
        raise InvalidCheckpointError(
            f"config {config_path} says relu_type={relu_type!r} but the checkpoint "
            f"{'has' if has_prelu else 'has no'} PReLU weights: the config does not belong to these weights")
    num_classes = int(state["tcn.tcn_output.weight"].shape[0])
    if "num_classes" in official and int(official["num_classes"]) != num_classes:
        raise InvalidCheckpointError(
            f"config {config_path} says {official['num_classes']} classes but the checkpoint has {num_classes}")
    try:
        config = LipReaderConfig(
            backbone_type="resnet",
            relu_type=relu_type,
            width_mult=1.0,  # the official ResNet ignores width_mult
            tcn_num_layers=int(official["tcn_num_layers"]),
            tcn_kernel_size=tuple(int(k) for k in official["tcn_kernel_size"]),
            tcn_dropout=float(official.get("tcn_dropout", 0.2)),
            tcn_dwpw=bool(official.get("tcn_dwpw", False)),
            tcn_width_mult=int(official.get("tcn_width_mult", 1)),
            tcn_hidden_dim=256,
            num_classes=num_classes,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidCheckpointError(f"config {config_path} is not valid: {exc}") from exc

    model = LipReader(config)
    ours = model.state_dict()
    mapped: dict[str, Tensor] = {}
    unmapped = []
    for key, value in state.items():
        new_key = mpc001_to_lipreader_key(key)
        if new_key is None:
            unmapped.append(key)
        else:
            mapped[new_key] = value
    unexpected = unmapped + [k for k in mapped if k not in ours]
    # older torch versions saved no BN step counters; they do not affect inference
    missing = [k for k in ours if k not in mapped and not k.endswith("num_batches_tracked")]
    wrong_shape = [f"{k} {tuple(mapped[k].shape)} vs {tuple(v.shape)}"
                   for k, v in ours.items() if k in mapped and mapped[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing weights for {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected weights {_few(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatches (checkpoint vs config) {_few(wrong_shape, 3)}")
        raise InvalidCheckpointError(
            f"checkpoint {checkpoint_path} does not match config {config_path}: " + "; ".join(parts))
    for key, value in ours.items():
        if key not in mapped:
            mapped[key] = value
    model.load_state_dict(mapped, strict=True)
    return model.eval()

