"""A degradation router: which of two experts should restore this LR window.

A generator trained on degraded video (blur, noise, JPEG/H.264, ``data.degradations``) restores
poor inputs far better than one trained on clean bicubic ×4, but it smooths clean inputs it
takes for noisy ones. Rather than one network that must learn both at once, a routed generator
(``GeneratorConfig.router``) keeps both experts and lets a small network look at the LR window
and weigh them: ``sr = p · degraded_expert + (1 − p) · clean_expert``. This is ClassSR's idea
(Kong et al., CVPR 2021: a classifier sends each input to the restorer that suits it), here
with a soft weight and with the two experts of this project.

The router is trained with both experts frozen (``train/train_router.py``). For a window with
expert outputs ``A`` (degraded-input) and ``B`` (clean-input) and target ``H``, the blend's
squared error is a quadratic in ``p``: ``p²·|A − B|² + 2p·⟨A − B, B − H⟩ + |B − H|²``.
:func:`blend_error_terms` computes the three coefficients once per training window, so the
router trains on cached scalars instead of running the experts at every step, and
:func:`blend_log_mse` is its loss: the log of the blend's MSE, so that every window counts as
it does in mean PSNR, clean ones (small errors) as much as degraded ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DegradationRouter", "RouterConfig", "best_blend_weight", "blend_error_terms", "blend_log_mse"]


@dataclass(frozen=True)
class RouterConfig:
    """Settings of :class:`DegradationRouter`.

    Attributes:
        channels: widths of its three 3×3 convolutions (the last two stride 2: 32 → 8 px).
        negative_slope: LeakyReLU slope.
        skip_below: at inference, an expert whose weight for a window is below this is not run
            for it (the weight is rounded to 0 or 1): a clear decision costs one expert, not two.
    """

    channels: tuple[int, int, int] = (16, 32, 32)
    negative_slope: float = 0.2
    skip_below: float = 0.02

    def __post_init__(self) -> None:
        if isinstance(self.channels, list):
            object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 3 or any(c < 1 for c in self.channels):
            raise ValueError(f"invalid RouterConfig: channels needs 3 positive widths, got {self.channels}")
        if not 0.0 <= self.skip_below < 0.5:
            raise ValueError(f"invalid RouterConfig: skip_below must be in [0, 0.5), got {self.skip_below}")


class DegradationRouter(nn.Module):
    """LR window ``(B, T, 3, H, W)`` in [0, 1] → logit ``(B,)`` of the degraded-input expert's weight.

    It sees only each frame's high-pass residual (the frame minus its 3×3 box blur), where
    noise, compression blocks and the lack of fine detail show, and not the colours and shapes
    of the face: a router that also saw the frames learnt the training speakers' look and sent
    clean faces of other sources to the degraded-input expert (train/README.md, "The real-world
    variant"). The residual goes through three convolutions; the feature maps are pooled to
    their spatial mean and standard deviation, averaged over the window's frames and mapped to
    one logit. The weight is ``sigmoid(logit)``; at initialisation it is 0.5 everywhere.
    """

    def __init__(self, config: RouterConfig | None = None) -> None:
        super().__init__()
        self.config = config or RouterConfig()
        c0, c1, c2 = self.config.channels
        slope = self.config.negative_slope
        self.features = nn.Sequential(
            nn.Conv2d(3, c0, 3, padding=1), nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(c0, c1, 3, stride=2, padding=1), nn.LeakyReLU(slope, inplace=True),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.LeakyReLU(slope, inplace=True),
        )
        self.head = nn.Linear(2 * c2, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, lr_frames: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = lr_frames.shape
        x = lr_frames.reshape(b * t, c, h, w)
        high = x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        f = self.features(8.0 * high)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.std(dim=(2, 3))], dim=1)     # (B·T, 2·c2)
        return self.head(pooled.reshape(b, t, -1).mean(dim=1)).squeeze(1)


def blend_error_terms(degraded_out: torch.Tensor, clean_out: torch.Tensor,
                      target: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` coefficients ``(|A − B|², 2⟨A − B, B − H⟩, |B − H|²)`` per window, each divided by the pixel count.

    ``A = degraded_out``, ``B = clean_out``, ``H = target``, all ``(N, C, H, W)``; the blend's
    MSE at weight ``p`` is then ``a·p² + b·p + c``.
    """
    diff = (degraded_out - clean_out).flatten(1).double()
    miss = (clean_out - target).flatten(1).double()
    n = diff.shape[1]
    return torch.stack([(diff * diff).sum(1) / n, 2 * (diff * miss).sum(1) / n, (miss * miss).sum(1) / n],
                       dim=1).float()


def blend_log_mse(weight: torch.Tensor, terms: torch.Tensor, floor: float = 1e-6) -> torch.Tensor:
    """Mean over windows of ``log(MSE of the blend at weight p)`` (``terms`` from :func:`blend_error_terms`)."""
    a, b, c = terms.unbind(1)
    mse = a * weight * weight + b * weight + c
    return torch.log(mse.clamp_min(floor)).mean()


def best_blend_weight(terms: torch.Tensor) -> torch.Tensor:
    """The weight in [0, 1] with the lowest blend error, per window (the oracle a router aims at)."""
    a, b, _ = terms.unbind(1)
    return (-b / (2 * a.clamp_min(1e-12))).clamp(0.0, 1.0)
