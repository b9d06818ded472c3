"""Lip-reading loss (the paper's §3.2.1, eq. 4-5).

The mouth region is cut out of the super-resolved and the ground-truth frames with
a differentiable crop, turned to grayscale, normalised, and both sequences go
through a frozen lip reader (:class:`vfhgan_core.models.lipreading.LipReader`). The
loss is the L1 distance between their intermediate feature maps, averaged over the
positions of each map (eq. 5) and then over the chosen layers (weighted).

:func:`crop_mouths` is the single mouth-crop routine of the project: the loss, the
lip-reader training data and the UI's mouth zooms all use it, so they see exactly
the same pixels.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vfhgan_core.models.lipreading import MOUTH_CROP, MOUTH_ROI, LipReader, normalise_mouths

__all__ = ["BT601_LUMA", "DEFAULT_FEATURES", "LipReadingLoss", "crop_mouths", "rgb_to_gray"]

#: ITU-R BT.601 luma weights for R, G, B
BT601_LUMA = (0.299, 0.587, 0.114)

#: layers compared by default: the 3D front-end (eq. 4) and the four ResNet stages, all
#: spatial maps, as in eq. 5 (a mean over the x, y positions of each map)
DEFAULT_FEATURES: tuple[str, ...] = ("frontend", "trunk.layer1", "trunk.layer2", "trunk.layer3", "trunk.layer4")


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


class LipReadingLoss(nn.Module):
    """L1 distance between frozen lip-reader features of SR and ground-truth mouths (eq. 5).

    Args:
        lip_reader: a trained :class:`LipReader`; it is frozen here (no gradients to its
            parameters) and kept in eval mode, also when the parent module is trained.
        feature_names: layers to compare (names from :attr:`LipReader.FEATURE_NAMES`).
        feature_weights: one weight per layer (default: all 1); the loss is
            ``sum(w_l * L1_l) / sum(w_l)``.
        roi_size: side of the mouth crop, in pixels, before the centre crop (96 as in LRW).
        crop_size: side of the centre crop fed to the lip reader (88).
    """

    def __init__(self, lip_reader: LipReader, feature_names: Sequence[str] = DEFAULT_FEATURES,
                 feature_weights: Sequence[float] | None = None, roi_size: int = MOUTH_ROI,
                 crop_size: int = MOUTH_CROP) -> None:
        super().__init__()
        names = tuple(feature_names)
        if not names:
            raise ValueError("feature_names must name at least one layer")
        unknown = [n for n in names if n not in LipReader.FEATURE_NAMES]
        if unknown:
            raise ValueError(f"unknown feature name(s) {unknown}; choose from {LipReader.FEATURE_NAMES}")
        weights = tuple(float(w) for w in feature_weights) if feature_weights is not None else (1.0,) * len(names)
        if len(weights) != len(names):
            raise ValueError(f"got {len(weights)} feature_weights for {len(names)} feature_names")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"feature_weights must be >= 0 with a positive sum, got {weights}")
        if not 1 <= crop_size <= roi_size:
            raise ValueError(f"crop_size ({crop_size}) must be in [1, roi_size={roi_size}]")
        self.feature_names = names
        self.feature_weights = weights
        self.roi_size = roi_size
        self.crop_size = crop_size
        self.lip_reader = lip_reader
        self.lip_reader.requires_grad_(False)
        self.lip_reader.eval()

    def train(self, mode: bool = True) -> "LipReadingLoss":
        """Set train mode on this module but keep the frozen lip reader in eval mode."""
        super().train(mode)
        self.lip_reader.eval()
        return self

    def mouth_inputs(self, frames: Tensor, mouth_boxes: Tensor) -> Tensor:
        """Lip-reader input from RGB frames: ``(B, T, 3, H, W)`` in [0, 1] -> ``(B, 1, T, crop, crop)``.

        Mouth crop to ``roi_size``, centre crop to ``crop_size``, grayscale, normalised.
        """
        crops = crop_mouths(frames, mouth_boxes, self.roi_size)
        start = (self.roi_size - self.crop_size) // 2
        crops = crops[..., start:start + self.crop_size, start:start + self.crop_size]
        return normalise_mouths(crops).unsqueeze(1)

    def forward(self, sr: Tensor, gt: Tensor, mouth_boxes: Tensor) -> Tensor:
        """Lip-reading loss of a batch of frame sequences.

        Args:
            sr: float ``(B, T, 3, H, W)`` generated frames in [0, 1] (T consecutive frames).
            gt: float ``(B, T, 3, H, W)`` ground-truth frames in [0, 1]; receives no gradient.
            mouth_boxes: float ``(B, T, 4)`` mouth boxes ``x1, y1, x2, y2`` in pixels of the
                frames (the same box is used for ``sr`` and ``gt``).

        Returns:
            scalar: weighted mean over layers of the mean absolute feature difference.
        """
        if sr.shape != gt.shape:
            raise ValueError(f"sr and gt must have the same shape, got {tuple(sr.shape)} and {tuple(gt.shape)}")
        with torch.no_grad():
            target = self.lip_reader.extract_features(self.mouth_inputs(gt, mouth_boxes), self.feature_names)
        output = self.lip_reader.extract_features(self.mouth_inputs(sr, mouth_boxes), self.feature_names)
        total = sr.new_zeros(())
        for name, weight in zip(self.feature_names, self.feature_weights):
            if weight:
                total = total + weight * F.l1_loss(output[name], target[name])
        return total / sum(self.feature_weights)
