"""The mouth region the lip reader sees: its geometry, the crop, the normalisation.

One routine cuts mouths out of face frames for every consumer: the lip-reading loss
(:mod:`vfhgan_core.losses.lipreading`), the lip reader's word clips
(:mod:`vfhgan_core.data.words`) and the app's mouth zooms, so all of them see the same
pixels. :func:`crop_mouths` is differentiable (an affine ``grid_sample``), so the loss's
gradients reach the generator through it; :func:`normalise_mouths` is the official LRW
normalisation of :class:`vfhgan_core.models.lipreading.LipReader`'s input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["BT601_LUMA", "MOUTH_CROP", "MOUTH_MEAN", "MOUTH_ROI", "MOUTH_STD", "crop_mouths", "normalise_mouths",
           "rgb_to_gray"]

#: mean and standard deviation of LRW mouth pixels in [0, 1] (the official normalisation)
MOUTH_MEAN = 0.421
MOUTH_STD = 0.165
#: side of the square mouth region of interest, in pixels, before the centre crop
MOUTH_ROI = 96
#: side of the centre crop the network sees, in pixels
MOUTH_CROP = 88


def normalise_mouths(gray01: Tensor) -> Tensor:
    """Normalise grayscale mouth pixels in [0, 1] the way the lip reader was trained.

    Args:
        gray01: any shape, float, values in [0, 1] (e.g. ``(B, 1, T, 88, 88)``).

    Returns:
        ``(gray01 - 0.421) / 0.165``, same shape and dtype (roughly zero mean, unit std).
    """
    return (gray01 - MOUTH_MEAN) / MOUTH_STD


#: ITU-R BT.601 luma weights for R, G, B
BT601_LUMA = (0.299, 0.587, 0.114)


def rgb_to_gray(frames: Tensor) -> Tensor:
    """BT.601 luma of RGB frames: ``(..., 3, H, W)`` -> ``(..., H, W)``, same range and dtype."""
    if frames.dim() < 3 or frames.shape[-3] != 3:
        raise ValueError(f"expected RGB frames (..., 3, H, W), got shape {tuple(frames.shape)}")
    r, g, b = frames.unbind(dim=-3)
    return BT601_LUMA[0] * r + BT601_LUMA[1] * g + BT601_LUMA[2] * b


def crop_mouths(frames: Tensor, boxes: Tensor, size: int = MOUTH_ROI) -> Tensor:
    """Differentiable grayscale mouth crops, resized to ``size`` x ``size`` (bilinear).

    Pixel ``(i, j)`` of the crop samples the frame at
    ``(x1 + (j + 0.5) * (x2 - x1) / size, y1 + (i + 0.5) * (y2 - y1) / size)`` in
    continuous pixel coordinates (pixel ``k`` covers ``[k, k+1)``), i.e. the same as
    ``cv2.resize(frame[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_LINEAR)``
    for integer boxes. Samples outside the frame repeat the border pixels.

    Args:
        frames: float ``(B, T, 3, H, W)`` RGB (any range; [0, 1] for the lip reader).
        boxes: float ``(B, T, 4)`` mouth boxes ``x1, y1, x2, y2`` in pixels of ``frames``.
        size: side of the output crops in pixels.

    Returns:
        float ``(B, T, size, size)`` grayscale (BT.601 luma), same range as ``frames``;
        gradients flow to ``frames`` (and to ``boxes``).
    """
    if frames.dim() != 5 or frames.shape[2] != 3:
        raise ValueError(f"frames must be (B, T, 3, H, W), got shape {tuple(frames.shape)}")
    batch, steps, _, height, width = frames.shape
    if boxes.shape != (batch, steps, 4):
        raise ValueError(f"boxes must be (B, T, 4) = {(batch, steps, 4)}, got shape {tuple(boxes.shape)}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    boxes = boxes.to(frames.dtype)
    x1, y1, x2, y2 = boxes.reshape(-1, 4).unbind(dim=1)
    if bool(((x2 - x1) <= 0).any()) or bool(((y2 - y1) <= 0).any()):
        raise ValueError("mouth boxes must have x2 > x1 and y2 > y1")
    gray = rgb_to_gray(frames).reshape(batch * steps, 1, height, width)
    # affine map from the output's normalised coordinates [-1, 1] to the frame's
    # (align_corners=False: -1 and 1 are the outer edges of the border pixels)
    theta = torch.zeros(batch * steps, 2, 3, dtype=frames.dtype, device=frames.device)
    theta[:, 0, 0] = (x2 - x1) / width
    theta[:, 0, 2] = (x1 + x2) / width - 1.0
    theta[:, 1, 1] = (y2 - y1) / height
    theta[:, 1, 2] = (y1 + y2) / height - 1.0
    grid = F.affine_grid(theta, [batch * steps, 1, size, size], align_corners=False)
    crops = F.grid_sample(gray, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return crops.reshape(batch, steps, size, size)
