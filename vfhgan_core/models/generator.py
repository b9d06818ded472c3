"""The VFH-GAN generator: 5 LR face frames + the speech of the centre frame → ×4 face.

Paper §3.1, eq. 1: ``f_t^sr = ζ((f_t^lr, {f_i^lr}_{i=t−j}^{t+j}), a_m−s)``.
The network has two branches:

* **PHFE-B** (progressive hierarchical feature extraction branch): the
  ``2j + 1`` LR frames, stacked on the channel axis, go through a 3×3 "primary"
  convolution, then through stages of :class:`~vfhgan_core.models.blocks.PHFEBlock`
  (complex filter formation + depthwise channel attention) at 32×32 and
  64×64 (and optionally 128×128), with ×2 pixel-shuffle upsampling between
  stages (32 → 64 → 128). An RGB head after each upsampling stage predicts a
  residual over the bicubic upsampling of the centre frame: the 64×64 head
  gives ``sr_x2`` (multi-scale supervision), the 128×128 head gives ``sr``.
  In the CPU preset the second ×2 step *is* the 128×128 head: a sub-pixel
  convolution on the 64×64 features, so no feature maps are computed at
  128×128 (``widths[2] == 0``); the large preset has a feature stage there.
  Both heads start at zero, so an untrained generator returns exactly bicubic.
* **CMFE-B** (cross-modal feature extraction branch): a visual encoder ξ on
  PHFE-B's primary feature maps (a strided convolution: 32×32 → 16×16 grid of
  ``latent_dim`` tokens) and an audio encoder ψ on the log-mel window (a small
  CNN pooled to one ``audio_dim`` vector). Eq. 2: the audio vector is
  broadcast over the visual grid, both are concatenated and projected by Ψ
  (a 1×1 convolution, i.e. ``W_v·ξ + W_a·ψ + b``, so the paper's sum and
  concatenation readings coincide) to the latent ``f^lv'``. Eq. 3: axial
  self-attention (rows, then columns, multi-head, sinusoidal positions) gives
  ``f^a``, which a zero-initialised 1×1 projection and a bilinear ×2 upsampling
  add into PHFE-B's primary features before the first stage. The zero start
  makes the audio path neutral until training moves it.

Switches for the paper's ablation (§4.2, Table 1): ``use_audio=False`` is
"w/o audio" (PHFE-B alone; no CMFE-B parameters exist and ``mel`` is
ignored); ``use_audio=True, use_attention=False`` is "audio" (``f^a = f^lv'``);
both on is "audio and attention".

Output range: the outputs are ``bicubic + residual``. In training mode they are
returned unclamped (losses see the raw values and every pixel keeps its
gradient); in eval mode (``model.eval()``, which :meth:`from_pretrained`
sets) they are clamped to [0, 1].

Cost (see :mod:`vfhgan_core.cli.bench`): the default preset (0.56 M parameters,
0.89 GFLOPs per output frame) is built for the CPU demo: about 10 ms per frame
batched on 2 cores (float32), by keeping most computation at 32×32, no feature
maps at 128×128, channels-last (NHWC) tensors on CPU, and — without autograd —
running large batches in cache-sized chunks (:attr:`VFHGANGenerator.inference_chunk`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from vfhgan_core.config import from_dict, to_dict
from vfhgan_core.models.attention import AxialAttentionStack
from vfhgan_core.models.blocks import FILTER_KERNELS, PHFEBlock, PixelShuffleUpsample, RGBHead, activation
from vfhgan_core.models.router import DegradationRouter, RouterConfig
from vfhgan_core.utils.hub_files import StrictPretrained

__all__ = [
    "AudioEncoder",
    "CrossModalBranch",
    "GeneratorConfig",
    "GeneratorOutput",
    "VFHGANGenerator",
    "VisualEncoder",
]

#: number of ×2 stages for the supported scale (32 → 64 → 128)
_SUPPORTED_SCALE = 4

#: how ψ reduces its last feature map (:class:`AudioEncoder`)
AUDIO_POOLING = ("mean", "flatten")

#: the :class:`GeneratorConfig` fields that only shape the audio branch (CMFE-B): a generator
#: without audio ignores them
AUDIO_BRANCH_FIELDS = ("use_attention", "n_mels", "mel_frames", "audio_dim", "audio_channels", "audio_pooling",
                       "latent_dim", "latent_stride", "attention_layers", "attention_heads", "mlp_ratio")


@dataclass(frozen=True)
class GeneratorConfig:
    """Settings of :class:`VFHGANGenerator` (JSON-friendly; written as ``config.json``).

    Attributes:
        num_frames: LR frames per window, ``2j + 1`` (odd; the centre one is restored).
        scale: upscaling factor; only 4 (32 → 64 → 128, two ×2 stages) is supported.
        widths: channels of PHFE-B at 1×, 2× and 4× the input size. A last
            width of 0 computes no feature maps at 4×: the ×4 head is then a
            sub-pixel convolution on the 2× features (the CPU preset's choice).
        depths: PHFE blocks per stage at 1×, 2× and 4× the input size (each ≥ 0;
            the last must be 0 when the last width is 0).
        filter_kernels: kernel sizes of the parallel complex-filter branches
            (odd; ``widths`` must be divisible by their number).
        expansion: channel expansion of the depthwise channel-attention module.
        se_reduction: squeeze-and-excitation bottleneck reduction.
        negative_slope: LeakyReLU slope of the convolutional trunk.
        use_audio: build CMFE-B and require ``mel`` (False = the paper's "w/o audio").
        use_attention: axial self-attention on the cross-modal latent (False:
            ``f^a = f^lv'``); ignored when ``use_audio`` is False.
        n_mels: mel bins of the speech window.
        mel_frames: mel frames per window (16 = 0.2 s at 80 mel frames/s).
        audio_dim: size of the audio embedding ψ(a).
        audio_channels: channels of the four strided 3×3 convolutions of ψ.
        audio_pooling: how ψ turns its last feature map into the embedding: ``"mean"``
            averages it over frequency and time (the CPU-trained weights up to round 3; it
            keeps little of *which* mel bands carry the energy, so the speech did not move
            those models, train/README.md §10), ``"flatten"`` feeds the whole map, every
            band and frame in its place, to the linear layer.
        latent_dim: token size of the cross-modal latent ``f^lv'`` (even, divisible
            by ``attention_heads``).
        latent_stride: downsampling of ξ from the primary feature maps to the
            latent grid (1 or 2: 32×32 → 16×16).
        attention_layers: axial transformer layers (row + column + MLP each).
        attention_heads: heads of each axial attention.
        mlp_ratio: hidden width of the attention layers' MLP, relative to ``latent_dim``.
        router: ``None`` for one network. Set, the generator holds a second copy of itself,
            ``clean_expert`` (trained on clean inputs), and a
            :class:`~vfhgan_core.models.router.DegradationRouter` that weighs the two per window:
            its own layers restore degraded inputs, the copy clean ones (the real-world variant).
    """

    num_frames: int = 5
    scale: int = 4
    widths: tuple[int, int, int] = (64, 32, 0)
    depths: tuple[int, int, int] = (8, 0, 0)
    filter_kernels: tuple[int, ...] = FILTER_KERNELS
    expansion: int = 1
    se_reduction: int = 4
    negative_slope: float = 0.2
    use_audio: bool = True
    use_attention: bool = True
    n_mels: int = 80
    mel_frames: int = 16
    audio_dim: int = 64
    audio_channels: tuple[int, int, int, int] = (16, 32, 48, 64)
    audio_pooling: str = "mean"
    latent_dim: int = 64
    latent_stride: int = 2
    attention_layers: int = 1
    attention_heads: int = 4
    mlp_ratio: float = 2.0
    router: RouterConfig | None = None

    def __post_init__(self) -> None:
        # JSON gives lists: store tuples so configs compare equal after a round trip
        for name in ("widths", "depths", "filter_kernels", "audio_channels"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        problems = []
        if self.num_frames < 1 or self.num_frames % 2 == 0:
            problems.append(f"num_frames must be odd and ≥ 1 (2j + 1), got {self.num_frames}")
        if self.scale != _SUPPORTED_SCALE:
            problems.append(f"scale must be {_SUPPORTED_SCALE} (32 → 64 → 128), got {self.scale}")
        if len(self.widths) != 3 or len(self.depths) != 3:
            problems.append(f"widths and depths need 3 entries (1×, 2×, 4×), got {self.widths}, {self.depths}")
        elif (any(w < 1 for w in self.widths[:2]) or self.widths[2] < 0 or any(d < 0 for d in self.depths)
              or (self.widths[2] == 0 and self.depths[2] > 0)):
            problems.append(f"widths must be ≥ 1 (the last may be 0 when its depth is 0) and depths ≥ 0, "
                            f"got widths {self.widths}, depths {self.depths}")
        if any(w % len(self.filter_kernels) for w, d in zip(self.widths, self.depths) if d):
            problems.append(f"widths of stages with blocks must be divisible by "
                            f"{len(self.filter_kernels)} (the number of filter_kernels), got {self.widths}")
        if self.latent_dim % 2 or self.latent_dim % self.attention_heads:
            problems.append(f"latent_dim ({self.latent_dim}) must be even and divisible by "
                            f"attention_heads ({self.attention_heads})")
        if self.latent_stride not in (1, 2):
            problems.append(f"latent_stride must be 1 or 2, got {self.latent_stride}")
        if len(self.audio_channels) != 4:
            problems.append(f"audio_channels needs 4 entries, got {self.audio_channels}")
        if self.audio_pooling not in AUDIO_POOLING:
            problems.append(f"audio_pooling must be one of {AUDIO_POOLING}, got {self.audio_pooling!r}")
        if problems:
            raise ValueError("invalid GeneratorConfig: " + "; ".join(problems))

    @property
    def centre_index(self) -> int:
        """Index ``j`` of the restored frame inside the window."""
        return self.num_frames // 2

    @classmethod
    def small(cls, **overrides) -> GeneratorConfig:
        """The default preset: built for the CPU demo (about 100 frames/s batched on 2 cores)."""
        return cls(**overrides)

    @classmethod
    def large(cls, **overrides) -> GeneratorConfig:
        """A wider, deeper preset for GPU training (about 6× the default's FLOPs, 4.5× its parameters)."""
        base = dict(widths=(128, 64, 32), depths=(8, 2, 1), audio_dim=128,
                    audio_channels=(32, 64, 96, 128), latent_dim=128,
                    attention_layers=2, attention_heads=8)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def preset(cls, name: str, **overrides) -> GeneratorConfig:
        """``"small"`` / ``"default"`` or ``"large"``, with field overrides."""
        presets = {"small": cls.small, "default": cls.small, "large": cls.large}
        if name not in presets:
            raise ValueError(f"unknown generator preset {name!r}; choose one of {sorted(presets)}")
        return presets[name](**overrides)


class GeneratorOutput(NamedTuple):
    """What :meth:`VFHGANGenerator.forward` returns (float tensors of the model's dtype).

    Attributes:
        sr: ``(B, 3, 4H, 4W)`` restored centre frame (128×128 for 32×32 input).
        sr_x2: ``(B, 3, 2H, 2W)`` the intermediate ×2 output (64×64), for
            multi-scale supervision.

    Values are RGB in [0, 1] in eval mode; in training mode they are not
    clamped and may leave [0, 1] slightly.
    """

    sr: torch.Tensor
    sr_x2: torch.Tensor


class AudioEncoder(nn.Module):
    """ψ: a log-mel window ``(B, 1, n_mels, mel_frames)`` → embedding ``(B, audio_dim)``.

    Four 3×3 convolutions (the last three with stride 2 on both axes), LeakyReLU, then a
    linear layer on either the map's mean (``pooling="mean"``: any window size) or the whole
    map flattened (``pooling="flatten"``: the window size ``mel_shape`` is fixed, and where
    in frequency and time a pattern lies is kept).
    """

    def __init__(self, channels: tuple[int, int, int, int], out_dim: int,
                 negative_slope: float = 0.2, pooling: str = "mean",
                 mel_shape: tuple[int, int] = (80, 16)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 3, stride=1 if i == 0 else 2, padding=1),
                       activation(negative_slope)]
            c_in = c
        self.convs = nn.Sequential(*layers)
        self.pooling = pooling
        if pooling == "flatten":
            h, w = mel_shape
            for _ in channels[1:]:                   # each strided 3×3 convolution (padding 1) halves, rounding up
                h, w = (h + 1) // 2, (w + 1) // 2
            c_in *= h * w
        self.proj = nn.Linear(c_in, out_dim)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        maps = self.convs(mel)
        return self.proj(maps.flatten(1) if self.pooling == "flatten" else maps.mean(dim=(2, 3)))


class VisualEncoder(nn.Module):
    """ξ: primary feature maps ``(B, C, H, W)`` → token grid ``(B, D, H/s, W/s)``.

    A 3×3 convolution with stride ``s`` (1 or 2) and LeakyReLU.
    """

    def __init__(self, in_channels: int, dim: int, stride: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, dim, 3, stride=stride, padding=1)
        self.act = activation(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class CrossModalBranch(nn.Module):
    """CMFE-B: primary features + mel window → audio-visual feature ``f^a`` to add into PHFE-B.

    ``forward(primary (B, C, H, W), mel (B, 1, n_mels, mel_frames)) -> (B, C, H, W)``:
    ξ(primary) and ψ(mel) (broadcast over the grid) are concatenated and
    projected by Ψ (1×1 conv + LeakyReLU) to ``f^lv'`` (eq. 2), axial attention
    gives ``f^a`` (eq. 3; identity when ``use_attention`` is False), a 1×1
    projection back to ``C`` channels (zero at initialisation) and bilinear
    upsampling to ``H × W`` give the output.
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c = config.widths[0]
        d = config.latent_dim
        self.visual = VisualEncoder(c, d, config.latent_stride, config.negative_slope)
        self.audio = AudioEncoder(config.audio_channels, config.audio_dim, config.negative_slope,
                                  config.audio_pooling, (config.n_mels, config.mel_frames))
        self.fuse = nn.Sequential(nn.Conv2d(d + config.audio_dim, d, 1), activation(config.negative_slope))
        self.attention = (AxialAttentionStack(d, config.attention_heads, config.attention_layers,
                                              config.mlp_ratio)
                          if config.use_attention else nn.Identity())
        self.inject = nn.Conv2d(d, c, 1)
        nn.init.zeros_(self.inject.weight)
        nn.init.zeros_(self.inject.bias)

    def forward(self, primary: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        v = self.visual(primary)                                          # (B, D, h, w)
        a = self.audio(mel)                                               # (B, A)
        a = a[:, :, None, None].expand(-1, -1, v.shape[2], v.shape[3])
        latent = self.fuse(torch.cat([v, a], dim=1))                      # f^lv'
        f_a = self.attention(latent)                                      # f^a
        out = self.inject(f_a)
        if out.shape[-2:] != primary.shape[-2:]:
            out = F.interpolate(out, size=primary.shape[-2:], mode="bilinear", align_corners=False)
        return out


class VFHGANGenerator(
    StrictPretrained,
    nn.Module,
    PyTorchModelHubMixin,
    library_name="vfhgan",
    license="apache-2.0",
    tags=["super-resolution", "face-hallucination", "audio-visual", "video", "vfh-gan"],
):
    """Audio-visual video face hallucination generator (×4).

    ``VFHGANGenerator(config)`` builds the network of ``config`` (default:
    :meth:`GeneratorConfig.small`). ``forward(lr_frames, mel)`` restores the
    centre frame of each window. Weights save and load through the Hugging
    Face Hub mixin: ``save_pretrained(dir)`` writes ``model.safetensors`` and
    ``config.json``; :meth:`from_pretrained` reads a directory or a Hub repo
    (also offline from the cache, and from a ``subfolder``).
    """

    #: ``from_pretrained`` (:class:`~vfhgan_core.utils.hub_files.StrictPretrained`) reads this config
    config_class = GeneratorConfig
    network_name = "generator"

    def __init__(self, config: GeneratorConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = GeneratorConfig()
        elif isinstance(config, dict):
            config = from_dict(GeneratorConfig, config)
        elif not isinstance(config, GeneratorConfig):
            raise TypeError(f"config must be a GeneratorConfig, a dict or None, got {type(config).__name__}")
        self.config = config
        self._hub_mixin_config = config        # what save_pretrained writes to config.json
        c0, c1, c2 = config.widths
        d0, d1, d2 = config.depths
        block = dict(kernels=config.filter_kernels, expansion=config.expansion,
                     se_reduction=config.se_reduction, negative_slope=config.negative_slope)

        # PHFE-B
        self.primary = nn.Sequential(nn.Conv2d(3 * config.num_frames, c0, 3, padding=1),
                                     activation(config.negative_slope))
        self.stage1 = nn.Sequential(*(PHFEBlock(c0, **block) for _ in range(d0)))
        self.up2 = PixelShuffleUpsample(c0, c1, config.negative_slope)
        self.stage2 = nn.Sequential(*(PHFEBlock(c1, **block) for _ in range(d1)))
        self.head_x2 = RGBHead(c1)
        if c2 > 0:      # feature maps at 4×, then a plain RGB head
            self.up4: nn.Module = PixelShuffleUpsample(c1, c2, config.negative_slope)
            self.stage4 = nn.Sequential(*(PHFEBlock(c2, **block) for _ in range(d2)))
            self.head_x4 = RGBHead(c2)
        else:           # sub-pixel RGB head straight from the 2× features
            self.up4 = nn.Identity()
            self.stage4 = nn.Sequential()
            self.head_x4 = RGBHead(c1, upscale=2)

        # CMFE-B (absent in the "w/o audio" ablation)
        self.cross_modal = CrossModalBranch(config) if config.use_audio else None

        # the real-world variant: these layers restore degraded inputs, a copy trained on clean
        # ones restores clean inputs, and a router weighs the two per window
        self.clean_expert = (VFHGANGenerator(replace(config, router=None))
                             if config.router is not None else None)
        self.router = DegradationRouter(config.router) if config.router is not None else None

        #: on CPU without autograd (inference), batches larger than this run in
        #: chunks of this many windows: same result, but the activations stay in
        #: cache (batch 32 on 2 idle cores: 6.3 → 5.0 ms per frame with chunks of 8
        #: or 16; under heavy CPU contention 16 loses less than 8). 0 disables it.
        self.inference_chunk: int = 16
        #: run the convolutions on channels-last (NHWC) tensors on CPU, where
        #: oneDNN is fastest with them; outputs are returned contiguous either way.
        self.cpu_channels_last: bool = True

    # ------------------------------------------------------------------ forward
    def _check_inputs(self, lr_frames: torch.Tensor, mel: torch.Tensor | None) -> torch.Tensor | None:
        cfg = self.config
        if not isinstance(lr_frames, torch.Tensor) or lr_frames.ndim != 5 \
                or lr_frames.shape[1] != cfg.num_frames or lr_frames.shape[2] != 3:
            shape = tuple(lr_frames.shape) if isinstance(lr_frames, torch.Tensor) else type(lr_frames).__name__
            raise ValueError(f"lr_frames must be a float tensor (B, {cfg.num_frames}, 3, H, W) of "
                             f"{cfg.num_frames} RGB frames in [0, 1], got {shape}")
        if not lr_frames.is_floating_point():
            raise ValueError(f"lr_frames must be floating point in [0, 1], got {lr_frames.dtype} "
                             "(convert uint8 frames with x.float() / 255)")
        if not cfg.use_audio:
            return None
        if mel is None:
            raise ValueError("this generator uses audio (config.use_audio=True): pass mel, the "
                             f"(B, 1, {cfg.n_mels}, {cfg.mel_frames}) log-mel window of each centre frame "
                             "(vfhgan_core.audio.mel_windows_for_clip; silent_mel_windows for clips without speech)")
        if not isinstance(mel, torch.Tensor):
            raise ValueError(f"mel must be a tensor, got {type(mel).__name__}")
        if mel.ndim == 3:
            mel = mel.unsqueeze(1)
        if mel.ndim != 4 or mel.shape[1] != 1 or mel.shape[2] != cfg.n_mels or mel.shape[3] != cfg.mel_frames \
                or mel.shape[0] != lr_frames.shape[0]:
            raise ValueError(f"mel must have shape (B, 1, {cfg.n_mels}, {cfg.mel_frames}) with the batch size "
                             f"of lr_frames ({lr_frames.shape[0]}), got {tuple(mel.shape)}")
        if not mel.is_floating_point():
            raise ValueError(f"mel must be floating point (normalised log-mel in [-4, 4]), got {mel.dtype}")
        return mel.to(lr_frames.dtype)

    def forward(self, lr_frames: torch.Tensor, mel: torch.Tensor | None = None) -> GeneratorOutput:
        """Restore the centre frame of each window.

        Args:
            lr_frames: float ``(B, num_frames, 3, H, W)`` RGB in [0, 1], the
                window of LR face frames centred on frame t (32×32 in training;
                any size works).
            mel: float ``(B, 1, n_mels, mel_frames)`` (or ``(B, n_mels, mel_frames)``)
                normalised log-mel window of frame t, values in [−4, 4].
                Required when ``config.use_audio``; ignored otherwise.

        Returns:
            :class:`GeneratorOutput` ``(sr (B, 3, 4H, 4W), sr_x2 (B, 3, 2H, 2W))``;
            clamped to [0, 1] in eval mode only.

        Raises:
            ValueError: wrong shapes or dtypes, or ``mel`` missing for an audio model.
        """
        mel = self._check_inputs(lr_frames, mel)
        chunk = self.inference_chunk
        if chunk and lr_frames.shape[0] > chunk and lr_frames.device.type == "cpu" \
                and not torch.is_grad_enabled():
            parts = [self._forward(lr_frames[i:i + chunk], None if mel is None else mel[i:i + chunk])
                     for i in range(0, lr_frames.shape[0], chunk)]
            return GeneratorOutput(sr=torch.cat([p.sr for p in parts]),
                                   sr_x2=torch.cat([p.sr_x2 for p in parts]))
        return self._forward(lr_frames, mel)

    def degraded_expert(self) -> VFHGANGenerator:
        """A plain generator with this one's own layers (itself when there is no router)."""
        if self.router is None:
            return self
        plain = VFHGANGenerator(replace(self.config, router=None))
        skip = ("clean_expert.", "router.")
        plain.load_state_dict({k: v for k, v in self.state_dict().items() if not k.startswith(skip)})
        return plain.train(self.training)

    @classmethod
    def routed(cls, degraded: VFHGANGenerator, clean: VFHGANGenerator,
               router: DegradationRouter) -> VFHGANGenerator:
        """A routed generator from two plain experts of one architecture and a router (copies their weights)."""
        if degraded.config != clean.config or degraded.config.router is not None:
            raise ValueError("routing needs two plain generators of the same architecture; got "
                             f"{to_dict(degraded.config)} and {to_dict(clean.config)}")
        model = cls(replace(degraded.config, router=router.config))
        state = dict(degraded.state_dict())
        state.update({f"clean_expert.{k}": v for k, v in clean.state_dict().items()})
        state.update({f"router.{k}": v for k, v in router.state_dict().items()})
        model.load_state_dict(state)
        return model.eval()

    def route_weights(self, lr_frames: torch.Tensor) -> torch.Tensor | None:
        """``(B,)`` weight in [0, 1] of the degraded-input expert per window; ``None`` without a router."""
        if self.router is None:
            return None
        return torch.sigmoid(self.router(lr_frames))

    def _forward(self, lr_frames: torch.Tensor, mel: torch.Tensor | None) -> GeneratorOutput:
        if self.router is None:
            return self._restore(lr_frames, mel)
        p = self.route_weights(lr_frames)
        if self.training:
            own, clean = self._restore(lr_frames, mel), self.clean_expert._restore(lr_frames, mel)
            return GeneratorOutput(*(_blend(p, a, c) for a, c in zip(own, clean)))
        # inference: round clear decisions and run each expert only on the windows that need it
        skip = self.router.config.skip_below
        p = torch.where(p < skip, torch.zeros_like(p), torch.where(p > 1 - skip, torch.ones_like(p), p))
        parts = []
        for expert, need in ((self, p > 0), (self.clean_expert, p < 1)):
            idx = need.nonzero().squeeze(1)
            if len(idx) == 0:
                parts.append(None)
                continue
            out = expert._restore(lr_frames[idx], None if mel is None else mel[idx])
            parts.append((idx, out))
        fields = []
        for k in range(2):
            ref = next(part[1][k] for part in parts if part is not None)
            own = torch.zeros((len(p),) + ref.shape[1:], dtype=ref.dtype, device=ref.device)
            clean = torch.zeros_like(own)
            if parts[0] is not None:
                own[parts[0][0]] = parts[0][1][k]
            if parts[1] is not None:
                clean[parts[1][0]] = parts[1][1][k]
            fields.append(_blend(p, own, clean))
        return GeneratorOutput(*fields)

    def _restore(self, lr_frames: torch.Tensor, mel: torch.Tensor | None) -> GeneratorOutput:
        """This network's own restoration (the whole generator when there is no router)."""
        b, t, _, h, w = lr_frames.shape
        centre = lr_frames[:, self.config.centre_index]
        base_x2 = F.interpolate(centre, size=(2 * h, 2 * w), mode="bicubic", align_corners=False)
        base_x4 = F.interpolate(centre, size=(4 * h, 4 * w), mode="bicubic", align_corners=False)

        x = lr_frames.reshape(b, t * 3, h, w)
        if self.cpu_channels_last and x.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.primary(x)                                          # f_t^lr', primary features
        if self.cross_modal is not None:
            x = x + self.cross_modal(x, mel)                            # + f^a
        x = self.stage1(x)
        x = self.stage2(self.up2(x))
        sr_x2 = base_x2 + self.head_x2(x)
        sr = base_x4 + self.head_x4(self.stage4(self.up4(x)))
        if not self.training:
            sr, sr_x2 = sr.clamp(0.0, 1.0), sr_x2.clamp(0.0, 1.0)
        return GeneratorOutput(sr=sr.contiguous(), sr_x2=sr_x2.contiguous())

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return json.dumps(to_dict(self.config))


def _blend(p: torch.Tensor, own: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """``p · own + (1 − p) · clean`` with one weight per window."""
    w = p.to(own.dtype).view(-1, *([1] * (own.ndim - 1)))
    return (w * own + (1 - w) * clean).contiguous()
