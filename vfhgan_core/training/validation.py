"""Validation during training: the generator's frames, the bicubic baseline and their metrics.

:func:`run_validation` restores every validation frame (in eval mode, without gradients),
:func:`frame_metrics` scores frames with the metrics of :mod:`vfhgan_core.metrics` (PSNR-Y,
SSIM-Y, ERQA, mouth PSNR-Y, flicker: the keys of ``metrics.json``) and :func:`bicubic_up` is
the baseline they are shown beside.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from vfhgan_core.metrics import erqa, mouth_psnr, psnr_y, ssim_y, temporal_flicker, to_uint8_rgb
from vfhgan_core.training.gan_step import flatten_batch

__all__ = ["bicubic_up", "frame_metrics", "run_validation"]


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
        "erqa": erqa(sr8, gt8, version="1.0"),
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
