"""Sample grids of validation frames for TensorBoard: LR | bicubic | SR | GT, then the mouths zoomed."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vfhgan_core.metrics import to_uint8_rgb

__all__ = ["sample_grid", "validation_grid"]


def sample_grid(lr: torch.Tensor, bicubic: torch.Tensor, sr: torch.Tensor, gt: torch.Tensor,
                boxes: torch.Tensor, scale: int) -> np.ndarray:
    """uint8 (rows·H, 7·W, 3) grid: per row LR (nearest ×scale) | bicubic | SR | GT | mouth bicubic |
    mouth SR | mouth GT (the mouth box zoomed to the tile size)."""
    import cv2

    rows = []
    for i in range(len(sr)):
        tiles = [F.interpolate(lr[i:i + 1], scale_factor=scale, mode="nearest")[0], bicubic[i], sr[i], gt[i]]
        tiles = [to_uint8_rgb(t)[0] for t in tiles]
        size = tiles[0].shape[0]
        x1, y1, x2, y2 = (int(round(v)) for v in boxes[i].tolist())
        x1, y1 = max(0, x1), max(0, y1)
        x2, y2 = min(size, max(x2, x1 + 1)), min(size, max(y2, y1 + 1))
        for img in tiles[1:4]:
            tiles.append(cv2.resize(img[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_NEAREST))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def validation_grid(dataset, frames: dict[str, torch.Tensor], seq_len: int, num_frames: int, scale: int,
                    rows: int = 6) -> np.ndarray:
    """The :func:`sample_grid` of up to ``rows`` validation samples spread over ``dataset`` (the first
    frame of each), from the frames of :func:`vfhgan_core.training.validation.run_validation`."""
    pick = np.linspace(0, len(dataset) - 1, min(rows, len(dataset))).round().astype(int) * seq_len
    lr_frames = torch.stack([dataset[int(i) // seq_len]["lr"][0] for i in pick])
    return sample_grid(lr_frames[:, num_frames // 2], frames["bicubic"][pick], frames["sr"][pick],
                       frames["gt"][pick], frames["boxes"][pick], scale)
