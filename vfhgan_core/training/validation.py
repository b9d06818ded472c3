"""Validation during training: the generator's frames, the bicubic baseline and their metrics.

:func:`run_validation` restores every validation frame (in eval mode, without gradients),
:func:`frame_metrics` scores frames with the metrics of :mod:`vfhgan_core.metrics` (PSNR-Y,
SSIM-Y, ERQA, mouth PSNR-Y, flicker: the keys of ``metrics.json``) and :func:`bicubic_up` is
the baseline they are shown beside. :class:`Validator` puts them together for a training loop:
metrics beside bicubic, the spectral curves, a sample grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from vfhgan_core.metrics import ERQA_VERSION, erqa, mouth_psnr, psnr_y, ssim_y, temporal_flicker, to_uint8_rgb
from vfhgan_core.training.gan_step import flatten_batch
from vfhgan_core.training.samples import validation_grid

__all__ = ["GRID_TAG", "Validation", "Validator", "bicubic_up", "frame_metrics", "run_validation"]


def bicubic_up(lr_windows: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic ×scale of the centre LR frame of each window (N, T, 3, h, w), clamped to [0, 1]."""
    centre = lr_windows[:, lr_windows.shape[1] // 2]
    return F.interpolate(centre, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


def frame_metrics(sr: torch.Tensor, gt: torch.Tensor, boxes: torch.Tensor, seq_len: int) -> dict[str, float]:
    """Validation metrics of frames (N, 3, H, W) in [0, 1]; N = sequences × seq_len, flicker per sequence."""
    sr8, gt8 = to_uint8_rgb(sr), to_uint8_rgb(gt)
    flicker = [temporal_flicker(sr8[i:i + seq_len], gt8[i:i + seq_len]) for i in range(0, len(sr8), seq_len)]
    return {
        "psnr_y": psnr_y(sr8, gt8),
        "ssim_y": ssim_y(sr8, gt8),
        "erqa": erqa(sr8, gt8, version=ERQA_VERSION),
        "mouth_psnr_y": mouth_psnr(sr8, gt8, boxes.cpu().numpy()),
        "flicker": float(np.mean(flicker)),
    }


@torch.no_grad()
def run_validation(generator: torch.nn.Module, dataset: Dataset, device: torch.device,
                   use_audio: bool, batch_size: int = 8) -> dict[str, torch.Tensor]:
    """SR, bicubic and GT of every validation frame (CPU float tensors) with mouth boxes:
    ``{"sr", "bicubic", "gt", "boxes"}``. The generator's train/eval mode is restored afterwards."""
    was_training = generator.training
    generator.eval()
    srs, bics, gts, boxes = [], [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        lr, hr, mel, box = flatten_batch(batch)
        out = generator(lr.to(device), mel.to(device) if use_audio else None)
        srs.append(out.sr.float().clamp(0, 1).cpu())
        bics.append(bicubic_up(lr, generator.config.scale))
        gts.append(hr)
        boxes.append(box)
    generator.train(was_training)
    return {"sr": torch.cat(srs), "bicubic": torch.cat(bics), "gt": torch.cat(gts), "boxes": torch.cat(boxes)}


#: the TensorBoard tag of the validation sample grids
GRID_TAG = "val/samples (LR | bicubic | SR | GT | mouth: bicubic, SR, GT)"


@dataclass
class Validation:
    """One validation: ``metrics`` (the generator's and ``bicubic/...``, as in ``metrics.json``),
    ``scalars`` (those and the spectral bands, ``val/...``, for the trackers), the sample ``grid`` and
    a one-line ``summary``."""

    metrics: dict[str, float]
    scalars: dict[str, float]
    grid: np.ndarray
    summary: str


@dataclass
class Validator:
    """Validates a generator on a fixed dataset: its frames, metrics beside bicubic (measured once),
    the per-band spectral error recorded into ``curves`` (a
    :class:`vfhgan_core.evaluation.spectral_curves.SpectralCurves`), and a sample grid."""

    dataset: Dataset
    device: torch.device
    use_audio: bool
    seq_len: int
    num_frames: int
    scale: int
    curves: Any
    baseline: dict[str, float] = field(default_factory=dict)

    def __call__(self, generator: torch.nn.Module, step: int) -> Validation:
        res = run_validation(generator, self.dataset, self.device, self.use_audio,
                             batch_size=max(1, 64 // self.seq_len))
        found = frame_metrics(res["sr"], res["gt"], res["boxes"], self.seq_len)
        if not self.baseline:
            self.baseline = frame_metrics(res["bicubic"], res["gt"], res["boxes"], self.seq_len)
        values = {**found, **{f"bicubic/{k}": v for k, v in self.baseline.items()}}
        bands = self.curves.record(step, res["sr"], res["gt"], res["bicubic"])
        edges = self.curves.band_edges
        spectrum = {f"spectrum/band_{edges[k]:.4f}-{edges[k + 1]:.4f}_db": v for k, v in enumerate(bands)}
        spectrum["spectrum/above_nyquist_db"] = self.curves.above_nyquist_db()[-1]
        return Validation(
            metrics=values, scalars={f"val/{k}": v for k, v in {**values, **spectrum}.items()},
            grid=validation_grid(self.dataset, res, self.seq_len, self.num_frames, self.scale),
            summary=", ".join(f"{k} {v:.4f} (bicubic {self.baseline[k]:.4f})" for k, v in found.items()))
